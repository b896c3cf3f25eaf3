"""The official DOCX: read back with python-docx (header, numbers, tables, signature, page setup),
untrusted text shown as typed, no lineage in the document that is signed, the officer's text and
its hints, the layout rules (rows, tables, the closing with the signature), and LibreOffice's PDF.

LibreOffice is required: the PDF test fails, never skips, without it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Twips
from docx.table import Table, _Cell
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pipeline import Period, run
from pipeline.config import Settings
from pipeline.figures import Figures
from pipeline.form import Form
from pipeline.numbers import number, percent
from pipeline.report import docx as report_docx
from pipeline.report.docx import ConversionError, docx_to_pdf, write_report_docx
from pipeline.report.model import Cell, Column, Row, build_report, point_text
from pipeline.report.model import Table as ModelTable
from pipeline.report.officer import parse_text
from pipeline.results import RunResult
from pipeline.roster import Roster
from tests.conftest import figures_of, soffice

CODES = ("VT005", "VT021", "VT044", "VT052")
UNTRUSTED = "<script>alert(1)</script> =cmd|' /C calc'!A0 A & B"
FORMULA = "=cmd|' /C calc'!A0"
# VT021: the form's worked example, proposed as outstanding, with an untrusted title; and a second one.
A1 = {"ten_sang_kien": UNTRUSTED}
A2 = {
    "ten_sang_kien": "Vườn rau sạch cho bữa ăn bán trú",
    "tac_gia": "Võ Thị Hạnh",
    "dong_tac_gia": "",
    "loai_giai_phap": "Giải pháp tác nghiệp",
    "linh_vuc": "Chăm lo đời sống đoàn viên, người lao động",
    "gia_tri_lam_loi": 2_000_000,
    "ngay_dang_ky": dt.date(2022, 5, 10),
    "da_len_cong": "Chưa",
    "tinh_trang_cong": "",
    "khen_thuong": "Chưa",
    "de_nghi_tieu_bieu": "Không",
}
# VT052: an outstanding initiative whose co-author looks like a formula.
B1 = {
    "ten_sang_kien": "Cải tiến băng chuyền phân loại tôm nguyên liệu",
    "tac_gia": "Trần Văn Hùng",
    "dong_tac_gia": FORMULA,
    "loai_giai_phap": "Giải pháp kỹ thuật",
    "linh_vuc": "Sản xuất, kinh doanh",
    "gia_tri_lam_loi": 1_234_567_000,
    "ngay_ap_dung": dt.date(2022, 2, 15),
    "ngay_dang_ky": dt.date(2022, 3, 1),
    "cap_cong_nhan": "Huyện",
    "da_len_cong": "Có",
    "tinh_trang_cong": "Hợp lệ",
    "khen_thuong": "Bằng khen LĐLĐ tỉnh",
    "de_nghi_tieu_bieu": "Có",
}


def run_small_period(
    tmp_path: Path,
    filled: Callable[..., Path],
    settings: Settings,
    form: Form,
    roster: Roster,
    *,
    pdf: bool = False,
) -> tuple[RunResult, Settings, Roster]:
    """A small period run through the pipeline: VT005 no initiative, VT021 two, VT052 one, VT044
    missing. Returns the run's result, its settings and its roster."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    files = {
        "VT005": filled(rows=[], name="a.xlsx", code="VT005"),
        "VT021": filled(rows=[A1, A2], name="b.xlsx", code="VT021"),
        "VT052": filled(rows=[B1], name="c.xlsx", code="VT052"),
    }
    received = dt.datetime(2022, 6, 1, 9, 0).timestamp()
    for code, path in files.items():
        target = inbox / f"{code}.xlsx"
        target.write_bytes(path.read_bytes())
        os.utime(target, (received, received))
    return run(Period(s, form, few), pdf=pdf), s, few


@pytest.fixture
def period(tmp_path, filled, settings, form, roster) -> tuple[Figures, Any]:
    result, s, few = run_small_period(tmp_path, filled, settings, form, roster)
    figures, _ = figures_of(result, s, form, few)
    return figures, s


def write(path: Path, figures: Figures, s: Any, text: str = "") -> Path:
    """The DOCX of `figures`, with the officer's text `text` (the hints when empty)."""
    return write_report_docx(path, build_report(figures, s, parse_text(text, s)))


@pytest.fixture
def report(period, tmp_path) -> tuple[DocumentObject, Path, Figures, Any]:
    figures, s = period
    path = write(tmp_path / "out" / "bao-cao.docx", figures, s)
    return Document(str(path)), path, figures, s


def texts(doc: DocumentObject) -> list[str]:
    """Every paragraph of the body, tables included, in document order."""
    out = []
    for block in doc.element.body.iter(qn("w:p")):
        out.append("".join(t.text or "" for t in block.iter(qn("w:t"))))
    return out


def cell_text(tc: Any) -> str:
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in tc.iter(qn("w:p")))


def grid(table: Table) -> list[list[str]]:
    return [[cell_text(tc) for tc in tr.tc_lst] for tr in table._tbl.tr_lst]


def table_after(doc: DocumentObject, caption: str) -> Table:
    """The first table after the paragraph that starts with `caption`."""
    seen = False
    for block in doc.element.body.iterchildren():
        if block.tag == qn("w:p") and "".join(t.text or "" for t in block.iter(qn("w:t"))).startswith(caption):
            seen = True
        elif seen and block.tag == qn("w:tbl"):
            return Table(block, doc._body)
    raise AssertionError(f"no table after {caption!r}")


# --- the header block, title, sections, signature ---------------------------------------------------------


def test_header_block_title_and_sections(report):
    doc, _, figures, s = report
    org = s.organisation
    header = grid(doc.tables[0])
    assert header == [
        [
            "LĐLĐ TỈNH KIÊN GIANG\nLĐLĐ HUYỆN VĨNH THUẬN\n",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc",
        ],
        ["Số: ..../BC-LĐLĐ", "Vĩnh Thuận, ngày 05 tháng 6 năm 2022"],
    ]
    assert header[0][0].split("\n")[:2] == [org.parent_name, org.name] and figures.as_of == dt.date(2022, 6, 5)
    # No borders; the issuer's name, the national title and motto bold; the motto underlined; dateline italic.
    borders = doc.tables[0]._tbl.tblPr.find(qn("w:tblBorders"))
    assert {b.get(qn("w:val")) for b in borders} == {"nil"}
    left, right = doc.tables[0].rows[0].cells
    assert [r.bold for r in left.paragraphs[1].runs] == [True] and not left.paragraphs[0].runs[0].bold
    assert right.paragraphs[0].runs[0].bold and right.paragraphs[1].runs[0].bold
    assert right.paragraphs[1].runs[0].underline
    assert doc.tables[0].rows[1].cells[1].paragraphs[0].runs[0].italic

    body = texts(doc)
    title = body.index("BÁO CÁO")
    assert body[title + 1] == f"Kết quả thực hiện {s.programme.name}"
    assert body[title + 2] == "(Số liệu tính đến ngày 05/06/2022)"
    opening = next(t for t in body if t.startswith("Thực hiện "))
    assert opening.startswith(f"Thực hiện {s.programme.plan_reference} ")
    assert opening.endswith(", Ban Thường vụ LĐLĐ huyện báo cáo kết quả như sau:")
    paragraphs = {p.text: p for p in doc.paragraphs}
    assert paragraphs["BÁO CÁO"].runs[0].bold and paragraphs["BÁO CÁO"].alignment == WD_ALIGN_PARAGRAPH.CENTER

    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI",
        "II. KẾT QUẢ THỰC HIỆN",
        "III. ĐÁNH GIÁ CHUNG",
        "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI",
        "V. ĐỀ XUẤT, KIẾN NGHỊ",
    ]
    assert body.index("I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI") > title
    # Section I: the units' activities (VT005, VT021, VT052 each 2 meetings, 3 news items, 0, 1).
    assert [t for t in body if t.startswith("- Số ")] == [
        "- Số hội nghị, cuộc họp triển khai Chương trình: 6;",
        "- Số tin, bài tuyên truyền về Chương trình: 9;",
        "- Số tập thể được khen thưởng: 0;",
        "- Số cá nhân được khen thưởng: 3.",
    ]
    # Section III: the figures' points, formatted by pipeline.numbers.
    for point in (*figures.assessment.strengths, *figures.assessment.shortcomings):
        assert f"- {point_text(point)}" in body
    assert "- Còn 1 CĐCS chưa gửi báo cáo: CĐCS cơ quan UBND thị trấn Vĩnh Thuận." in body
    # IV and V: a placeholder for the officer.
    assert "(Đơn vị bổ sung phương hướng, nhiệm vụ thời gian tới.)" in body
    assert "(Đơn vị bổ sung đề xuất, kiến nghị với LĐLĐ tỉnh.)" in body
    assert "(Đơn vị bổ sung nội dung công tác chỉ đạo, triển khai" in " ".join(body)


def test_signature_block_and_recipients(report):
    doc, *_ = report
    signature = next(t for t in doc.tables if "Nơi nhận:" in t.rows[0].cells[0].text)
    left, right = signature.rows[0].cells
    assert [p.text for p in left.paragraphs] == ["Nơi nhận:", "- LĐLĐ tỉnh (b/c);", "- Lưu: VT."]
    assert left.paragraphs[0].runs[0].bold and left.paragraphs[0].runs[0].italic
    lines = [p.text for p in right.paragraphs]
    assert [t for t in lines if t] == ["TM. BAN THƯỜNG VỤ", "CHỦ TỊCH", "Nguyễn Văn Mẫu"]
    assert lines.index("Nguyễn Văn Mẫu") - lines.index("CHỦ TỊCH") >= 4  # room to sign and stamp
    assert all(p.alignment == WD_ALIGN_PARAGRAPH.CENTER for p in right.paragraphs)
    assert {b.get(qn("w:val")) for b in signature._tbl.tblPr.find(qn("w:tblBorders"))} == {"nil"}


# --- the tables -----------------------------------------------------------------------------------------------


def test_bang_1_equals_the_figures(report):
    doc, _, figures, _ = report
    table = table_after(doc, "Bảng 1.")
    rows = grid(table)
    assert rows[0] == ["TT", "Chỉ tiêu", "Kết quả", "Chỉ tiêu kế hoạch", "Tỷ lệ đạt", "Đánh giá"]
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None  # repeats on every page
    t = figures.target
    # By hand: phase 1 has A1 (02/04), A2 (10/05), B1 (01/03) = 3 of 50, over on 05/06/2022;
    # benefit 15.000.000 (A1) + 2.000.000 (A2) + 1.234.567.000 (B1).
    assert (t["phase-1"].actual, t["phase-2"].actual, t["benefit"].actual) == (3, 0, 1_251_567_000)
    members = t["rate-members"]
    expected = {
        "phase-1": ["Số sáng kiến đăng ký trong Giai đoạn 1", "3", "50", "6,0%", "Chưa đạt"],
        "phase-2": ["Số sáng kiến đăng ký trong Giai đoạn 2", "0", "60", "0,0%", "Đang thực hiện"],
        "initiatives": ["Tổng số sáng kiến đăng ký", "3", "", "", ""],
        "rate-members": [
            f"{members.label} (chỉ tiêu chính thức)",
            f"{percent(members.actual)} ({members.numerator}/{number(members.denominator)})",
            "5,0%",
            percent(members.ratio),
            "Đang thực hiện",
        ],
        "units-with-initiatives": ["Số CĐCS có sáng kiến / tổng số CĐCS", "2/4", "", "50,0%", ""],
        "uploaded": [t["uploaded"].label, "2/3", "", "66,7%", ""],
        "benefit": ["Tổng giá trị làm lợi ước tính (đồng)", "1.251.567.000", "", "", ""],
    }
    body = {row[1]: row[2:] for row in rows[1:]}
    for key, (label, *values) in expected.items():
        assert body[label] == values, key
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(1, len(figures.targets) + 1)]
    official = " (chỉ tiêu chính thức)"
    assert [row[1] for row in rows[1:]] == [r.label + (official if r.official else "") for r in figures.targets]
    for row, target in zip(rows[1:], figures.targets, strict=True):
        if target.kind == "count":
            assert row[2].split("/")[0] == number(target.actual)


def test_tables_2_to_4_and_the_appendices(report):
    doc, _, figures, s = report
    by_sector = grid(table_after(doc, "Bảng 2."))
    assert by_sector[0] == ["Khối", "Số CĐCS", "CĐCS có sáng kiến", "Đoàn viên", "Sáng kiến", "Tỷ lệ ĐV tham gia",
                            "Đã lên Cổng", "Giá trị làm lợi (đồng)"]  # fmt: skip
    assert [r[0] for r in by_sector[1:]] == [r.sector for r in figures.by_sector.rows] + ["Tổng cộng"]
    total = figures.by_sector.total
    assert by_sector[-1][1:] == [
        number(total.units), number(total.units_with_initiatives), number(total.members), "3",
        percent(total.rate), "2", "1.251.567.000",
    ]  # fmt: skip
    by_field = grid(table_after(doc, "Bảng 3."))
    assert by_field[0] == ["TT", "Lĩnh vực", "Số sáng kiến", "Tỷ lệ"]
    assert by_field[-1] == ["", "Tổng cộng", "3", "100,0%"]
    # Three initiatives in three fields: 33,4% + 33,3% + 33,3%, so that the shares add up to the total.
    shares = [r[3] for r in by_field[1:-1] if r[2] != "0"]
    assert shares == ["33,4%", "33,3%", "33,3%"]
    by_kind = grid(table_after(doc, "Bảng 4."))
    assert by_kind[0][1] == "Loại giải pháp" and len(by_kind) == len(figures.by_kind.rows) + 2

    units = grid(table_after(doc, "(Kèm theo Báo cáo số ..../BC-LĐLĐ ngày 05/06/2022 của"))
    assert units[0][:4] == ["TT", "Mã", "Tên CĐCS", "Tình trạng báo cáo"]
    codes = [r[1] for r in units if re.fullmatch(r"VT\d{3}", r[1] if len(r) > 1 else "")]
    assert codes == [r.code for r in figures.units.rows]
    vt052 = next(r for r in units if len(r) > 1 and r[1] == "VT052")
    assert vt052[2:] == [
        "CĐCS Công ty TNHH Thủy sản Kênh Xáng Mẫu", "Đã nộp đúng hạn", "46", "2", "1", "4,3%", "2,2%", "1",
        "1.234.567.000", "Dưới chỉ tiêu",
    ]  # fmt: skip
    grand = units[-1]
    assert grand[0] == "Tổng cộng (4 CĐCS)" and grand[1] == "Đã nộp: 3/4" and grand[4] == "3"
    subtotals = [r for r in units if r[0].startswith("Cộng khối")]
    assert len(subtotals) == len(figures.units.groups)
    assert sum(int(r[4]) for r in subtotals) == figures.units.total.initiatives

    # A union that has not reported has no figures: "–", not "0".
    vt044 = next(r for r in units if len(r) > 1 and r[1] == "VT044")
    assert vt044[3] == "Chưa nộp" and vt044[4:11] == ["–"] * 7

    gaps = grid(table_after(doc, "CÔNG ĐOÀN CƠ SỞ CHƯA BÁO CÁO"))
    assert [r[1:5] for r in gaps[1:]] == [[g.code, g.name, g.sector, g.kind.label] for g in figures.gaps]
    assert gaps[1][5] == figures.gaps[0].reason

    body = texts(doc)
    assert [t for t in body if t.startswith("Phụ lục ")] == ["Phụ lục I", "Phụ lục II", "Phụ lục III"]
    attached = f"(Kèm theo Báo cáo số ..../BC-LĐLĐ ngày 05/06/2022 của {s.organisation.full_name})"
    assert body.count(attached) == 3


def test_no_file_name_hash_or_cell_reference_in_the_document(report):
    """The province reads initiatives and units; where each figure comes from is in the workbook
    and the audit file (tests/test_report_consistency.py)."""
    doc, path, figures, _ = report
    xml = zipfile.ZipFile(path).read("word/document.xml").decode()
    text = " ".join(texts(doc))
    assert figures.sources  # there are files to leak
    for f in figures.sources:
        assert f.sha256 not in xml and f.file not in text
    assert not re.search(r"\.xlsx|\.xls\b|\.ods|SHA-256|[0-9a-f]{40}|Sáng kiến!|Thông tin đơn vị!|Nguồn:", text)


def test_untrusted_text_appears_as_typed(report):
    doc, path, figures, _ = report
    assert [o.title for o in figures.outstanding] == [UNTRUSTED, B1["ten_sang_kien"]]
    body = texts(doc)
    assert (
        f"- {UNTRUSTED} (tác giả: Nguyễn Văn An; Trần Thị Bình; Lê Văn Cường; CĐCS Trường Mầm non Vĩnh Bình Bắc);"
        in body
    )
    outstanding = grid(table_after(doc, "SÁNG KIẾN TIÊU BIỂU ĐỀ NGHỊ KHEN THƯỞNG"))
    # By union: a row with the union's name, then its initiatives.
    assert outstanding[1] == ["CĐCS Trường Mầm non Vĩnh Bình Bắc (VT021)"]
    assert outstanding[2][1] == UNTRUSTED
    assert outstanding[4][2] == f"Trần Văn Hùng; {FORMULA}"
    xml = zipfile.ZipFile(path).read("word/document.xml").decode()
    assert "<script>" not in xml and "&lt;script&gt;alert(1)&lt;/script&gt;" in xml and "A &amp; B" in xml


def test_page_setup_fonts_and_page_numbers(report):
    doc, *_ = report
    body, appendices = doc.sections
    for section in doc.sections:
        top, bottom, left, right = (round(m.mm, 1) for m in (section.top_margin, section.bottom_margin,
                                                              section.left_margin, section.right_margin))  # fmt: skip
        assert 20 <= top <= 25 and 20 <= bottom <= 25 and 30 <= left <= 35 and 15 <= right <= 20
    assert (body.orientation, round(body.page_width.mm), round(body.page_height.mm)) == (WD_ORIENT.PORTRAIT, 210, 297)
    assert (appendices.orientation, round(appendices.page_width.mm), round(appendices.page_height.mm)) == (
        WD_ORIENT.LANDSCAPE, 297, 210,
    )  # fmt: skip
    # Times New Roman everywhere; the body 13–14 pt, justified.
    normal = doc.styles["Normal"]
    assert normal.font.name == "Times New Roman" and normal.font.size.pt == 14
    fonts = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr")).find(qn("w:rFonts"))
    assert {fonts.get(qn(f"w:{k}")) for k in ("ascii", "hAnsi", "cs", "eastAsia")} == {"Times New Roman"}
    assert not [k for k in fonts.keys() if k.lower().endswith("theme")]  # noqa: SIM118 (attributes)
    opening = next(p for p in doc.paragraphs if p.text.startswith("Thực hiện "))
    assert opening.style.paragraph_format.alignment == WD_ALIGN_PARAGRAPH.JUSTIFY
    assert 13 <= (opening.style.font.size or normal.font.size).pt <= 14
    assert {p.style.font.name for p in doc.paragraphs} == {"Times New Roman"}
    # Page numbers: a PAGE field centred in the header, not on the first page.
    assert body.different_first_page_header_footer
    assert body.first_page_header.paragraphs[0].text == ""
    header = body.header._element
    assert " PAGE " in [t.text for t in header.iter(qn("w:instrText"))]
    assert appendices.header.is_linked_to_previous and not appendices.different_first_page_header_footer


# --- the officer's text, the layout ------------------------------------------------------------------------------


@pytest.mark.slow
def test_hints_are_highlighted_and_the_officers_text_takes_their_place(period, tmp_path):
    figures, s = period
    hinted = Document(str(write(tmp_path / "a.docx", figures, s)))
    marked = [p for p in hinted.paragraphs if any(r.font.highlight_color for r in p.runs)]
    assert [p.text[:30] for p in marked] == [
        "(Đơn vị bổ sung nội dung công ",
        "(Đơn vị bổ sung phương hướng, ",
        "(Đơn vị bổ sung đề xuất, kiến ",
    ]
    assert all(r.italic for p in marked for r in p.runs)
    text = """## I. Công tác chỉ đạo, triển khai

Ban Thường vụ đã ban hành Kế hoạch và tổ chức hội nghị triển khai.

## IV. Phương hướng, nhiệm vụ thời gian tới

- Tiếp tục vận động đoàn viên đăng ký sáng kiến.
- Đôn đốc các CĐCS cập nhật lên Cổng.

## V. Đề xuất, kiến nghị

Đề nghị LĐLĐ tỉnh khen thưởng các sáng kiến tiêu biểu.
"""
    filled = Document(str(write(tmp_path / "b.docx", figures, s, text)))
    body = texts(filled)
    assert not [p for p in filled.paragraphs if any(r.font.highlight_color for r in p.runs)]
    assert "(Đơn vị bổ sung" not in " ".join(body)
    i, iv, v = (body.index(h) for h in ("I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI", "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI",
                                         "V. ĐỀ XUẤT, KIẾN NGHỊ"))  # fmt: skip
    assert body[i + 1] == "Ban Thường vụ đã ban hành Kế hoạch và tổ chức hội nghị triển khai."
    assert body[iv + 1 : iv + 3] == [
        "- Tiếp tục vận động đoàn viên đăng ký sáng kiến.",
        "- Đôn đốc các CĐCS cập nhật lên Cổng.",
    ]
    assert body[v + 1] == "Đề nghị LĐLĐ tỉnh khen thưởng các sáng kiến tiêu biểu."


def test_rows_never_split_tables_keep_their_ends_and_the_closing_keeps_with_the_signature(report):
    doc, *_ = report

    def kept(row: Any) -> bool:
        return all(p.paragraph_format.keep_with_next for cell in row.cells for p in cell.paragraphs)

    tables = [t for t in doc.tables[1:] if "Nơi nhận:" not in t.rows[0].cells[0].text]
    assert len(tables) == 7  # Bảng 1–4 and Phụ lục I–III
    for table in tables:
        rows = table.rows
        assert all(r._tr.trPr.find(qn("w:cantSplit")) is not None for r in rows)
        assert kept(rows[0]) and kept(rows[1])  # the header never ends a page alone
        assert all(kept(r) for r in rows[-3:-1]) and not kept(rows[-1])  # the last rows never start one alone
    paragraphs = doc.paragraphs
    at = next(i for i, p in enumerate(paragraphs) if p.text.startswith("Trên đây là báo cáo"))
    assert paragraphs[at].paragraph_format.keep_with_next
    after = paragraphs[at + 1]
    assert after.text == "" and after.paragraph_format.keep_with_next  # and the space before the signature


def test_a_long_table_is_the_models_row_by_row_and_cell_by_cell(period, tmp_path):
    """The rows of a table are written as XML, not through python-docx's API: they must still read
    back as python-docx reads a table: every cell's text as the model has it (odd text kept), the
    grid columns it spans and their width, its style by the column's kind, bold in a group,
    subtotal or total row, the header repeated on every page, no row split, the ends kept."""
    figures, s = period
    model = build_report(figures, s, parse_text("", s))
    columns = (Column("TT", "no"), Column("Tên", "text"), Column("Số", "count"), Column("Tỷ lệ", "percent"))
    odd = ("  lề trái và phải  ", "A & B <b>", "Dòng\nhai\x07", "", "=1+1")
    rows: list[Row] = [Row((Cell("I. Nhóm một"),), "group", (4,))]
    for i in range(1, 151):
        name = odd[i % len(odd)] if i <= len(odd) else f"Sáng kiến {i}"
        rows.append(Row((Cell(str(i)), Cell(name), Cell(number(i * 7)), Cell("1,0%"))))
        if i % 50 == 0:
            rows.append(Row((Cell("Cộng nhóm"), Cell(number(i)), Cell("")), "subtotal", (2, 1, 1)))
    rows.append(Row((Cell("Tổng cộng"), Cell("1.050"), Cell("100,0%")), "total", (2, 1, 1)))
    long = ModelTable("phu-luc-1", "", columns, tuple(rows))
    appendix = replace(model.appendices[0], blocks=(long,))
    path = write_report_docx(tmp_path / "r.docx", replace(model, appendices=(appendix, *model.appendices[1:])))
    doc = Document(str(path))
    table = table_after(doc, model.appendices[0].attached)
    grid_widths = [int(c.get(qn("w:w"))) for c in table._tbl.tblGrid.iterchildren()]
    trs = table._tbl.tr_lst
    assert len(trs) == len(rows) + 1
    heads = [table.cell(0, c) for c in range(len(columns))]
    assert [c.text for c in heads] == [c.header for c in columns]
    assert {p.style.name for c in heads for p in c.paragraphs} == {"Appendix Table Heading"}
    kept_rows = {0, 1, len(trs) - 3, len(trs) - 2}  # the header and the first row; the two before the last
    for i, tr in enumerate(trs):
        assert tr.trPr.find(qn("w:cantSplit")) is not None
        assert (tr.trPr.find(qn("w:tblHeader")) is not None) == (i == 0)
        cells = [_Cell(tc, table) for tc in tr.tc_lst]
        model_row = rows[i - 1] if i else Row(tuple(Cell(c.header) for c in columns))
        spans = model_row.span or (1,) * len(columns)
        assert [tc.grid_span for tc in tr.tc_lst] == list(spans)
        assert [c.text for c in cells] == [report_docx._clean(c.text) for c in model_row.cells]
        col = 0
        for cell, span in zip(cells, spans, strict=True):
            assert cell.width == Twips(sum(grid_widths[col : col + span]))
            assert cell.vertical_alignment == WD_CELL_VERTICAL_ALIGNMENT.CENTER
            (p,) = cell.paragraphs
            assert bool(p.paragraph_format.keep_with_next) == (i in kept_rows)
            if i:
                number_column = span == 1 and columns[col].kind != "text"
                assert p.style.name == ("Appendix Table Number" if number_column else "Appendix Table Text")
                assert all(r.bold == (model_row.kind != "body" or None) for r in p.runs)
            col += span
    assert [r[1] for r in grid(table)[2:7]] == ["A & B <b>", "Dòng hai", "", "=1+1", "  lề trái và phải  "]
    (spaced,) = trs[6].tc_lst[1].iter(qn("w:t"))
    assert spaced.get(qn("xml:space")) == "preserve"  # or Word drops the spaces at its ends


def test_column_widths_fit_their_content(report):
    doc, *_ = report
    units = table_after(doc, "(Kèm theo Báo cáo số ..../BC-LĐLĐ ngày 05/06/2022 của")
    # Every status on one line: its column is as wide as the longest, "Đã nộp đúng hạn" at 11 pt.
    widths = [Twips(int(c.get(qn("w:w")))).mm for c in units._tbl.tblGrid.iterchildren()]
    assert widths[3] >= 30 and sum(widths) == pytest.approx(252, abs=1)
    assert widths[2] == max(widths)  # the names take the room


def test_control_characters_never_break_the_document(tmp_path, period):
    figures, s = period
    odd = replace(figures.outstanding[0], title="Dòng một\nDòng hai\x07\x0c{{ x }}{% if %}")
    doc = Document(str(write(tmp_path / "r.docx", replace(figures, outstanding=(odd,)), s)))
    assert "- Dòng một Dòng hai{{ x }}{% if %} (tác giả: Nguyễn Văn An; Trần Thị Bình; Lê Văn Cường; " in " ".join(
        texts(doc)
    )


def test_empty_lists_say_so(tmp_path, period):
    figures, s = period
    empty = replace(figures, outstanding=(), gaps=(), sources=())
    doc = Document(str(write(tmp_path / "r.docx", empty, s)))
    body = texts(doc)
    assert "Chưa có sáng kiến nào được các CĐCS đề nghị công nhận tiêu biểu." in body
    assert "Tất cả CĐCS đã gửi báo cáo hợp lệ và có sáng kiến." in body


# --- PDF through LibreOffice -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_libreoffice_converts_the_report_to_pdf(report, tmp_path):
    soffice()  # required: fails, never skips
    _, path, *_ = report
    pdf = docx_to_pdf(path, tmp_path / "pdf")
    assert pdf == tmp_path / "pdf" / "bao-cao.pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert not [p for p in pdf.parent.iterdir() if p != pdf]  # no working files left behind

    def page(n: int) -> list[str]:
        command = ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(pdf), "-"]
        text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return [re.sub(r"\s{2,}", " | ", line.strip()) for line in text.splitlines() if line.strip()]

    # Page 1 as LibreOffice lays it out: the two columns of the header side by side, then the title.
    first = page(1)
    assert first[:4] == [
        "LĐLĐ TỈNH KIÊN GIANG | CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "LĐLĐ HUYỆN VĨNH THUẬN | Độc lập - Tự do - Hạnh phúc",
        "Số: ..../BC-LĐLĐ | Vĩnh Thuận, ngày 05 tháng 6 năm 2022",
        "BÁO CÁO",
    ]
    assert first[4].startswith("Kết quả thực hiện Chương trình")
    # The page number: not on page 1, at the top of the next pages, also in the landscape appendices.
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 5 and first[0] != "1"
    assert [page(n)[0] for n in range(2, pages + 1)] == [str(n) for n in range(2, pages + 1)]
    everything = " ".join(line for n in range(1, pages + 1) for line in page(n))
    for expected in ("<script>alert(1)</script>", "TM. BAN THƯỜNG VỤ", "Phụ lục I", "Phụ lục III", "Nơi nhận:"):
        assert expected in everything, expected
    # The signature is never alone on its page: the closing paragraph comes with it.
    signed = next(n for n in range(1, pages + 1) if "Nơi nhận:" in " ".join(page(n)))
    assert "Trên đây là báo cáo" in " ".join(page(signed))
    # The first page as a picture, as the officer would see it (looked at by eye while building the template).
    subprocess.run(["pdftoppm", "-r", "70", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")], check=True)
    assert (tmp_path / "page-1.png").stat().st_size > 10_000


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie waiting for its parent to collect it does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and re.search(r"^State:\s*Z", status.read_text(), re.MULTILINE))


def test_a_conversion_that_hangs_is_stopped(report, tmp_path, monkeypatch):
    """A LibreOffice that hangs (here a stand-in that starts a child, as soffice starts soffice.bin,
    and waits for it) is killed with its child at the deadline, and leaves nothing behind."""
    _, path, *_ = report
    pids = tmp_path / "pids"
    hanging = tmp_path / "bin" / "soffice"
    hanging.parent.mkdir()
    hanging.write_text(f'#!/bin/sh\nsleep 30 >/dev/null 2>&1 &\necho $$ $! > "{pids}"\nwait\n', encoding="utf-8")
    hanging.chmod(0o755)
    monkeypatch.setattr(report_docx.shutil, "which", lambda name: str(hanging) if name == "soffice" else None)
    with pytest.raises(ConversionError, match=r"sau 1 giây"):
        docx_to_pdf(path, tmp_path / "pdf", timeout=1)
    assert list((tmp_path / "pdf").iterdir()) == []
    started = [int(pid) for pid in pids.read_text(encoding="utf-8").split()]
    assert len(started) == 2 and not any(_alive(pid) for pid in started), started


def test_no_libreoffice_gives_none(report, tmp_path, monkeypatch):
    _, path, *_ = report
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert docx_to_pdf(path, tmp_path / "pdf") is None
    assert "LibreOffice" in report_docx.NO_LIBREOFFICE


@pytest.mark.parametrize("hint", [False, True], ids=["text", "hint"])
def test_a_list_in_one_parse_is_the_paragraphs_python_docx_writes(hint):
    """A list's paragraphs (a province's thousand initiatives) are written as XML in one parse, not
    through python-docx's API: each must be the paragraph `_text` gives, in the same place (before
    the section's properties), odd text and all."""
    from lxml import etree

    items = ["Một", "  lề hai bên  ", "A & B <b>", "Dòng\nhai\x07\ttab", "", "=1+1", "\u3000rộng", "😀 \ufffe"]

    def body(write: Callable[[DocumentObject], None]) -> list[bytes]:
        doc = Document()
        report_docx._styles(doc)
        doc.add_paragraph("trước")
        write(doc)
        return [etree.tostring(child) for child in doc.element.body]

    one_by_one = body(lambda doc: [report_docx._text(doc, item, report_docx.BODY, hint=hint) for item in items])
    at_once = body(lambda doc: report_docx._paragraphs(doc, items, report_docx.BODY, hint=hint))
    assert at_once == one_by_one
    assert at_once[-1].startswith(b"<w:sectPr")


@hsettings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=20))
def test_text_that_needs_no_cleaning_is_taken_as_it_is(text):
    """`_clean` leaves printable text as it is, without its searches: the same as after them."""
    assert report_docx._clean(text) == report_docx._NOT_XML.sub("", report_docx._BREAKS.sub(" ", text))
