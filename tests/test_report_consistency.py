"""One report model, every format: the DOCX, the HTML page and the workbook carry the same headings,
table titles, column headers and numbers in the same order; the document that is signed carries no
file name, hash or cell; the officer's text reaches every format, and the run says what is still
to write; the audit file traces every figure to its file and row; printed shares add up."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from docx import Document
from docx.oxml.ns import qn
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import Period, run
from pipeline.cli import main
from pipeline.figures import ShareRow, ShareTable
from pipeline.report.model import Chart, _shares, build_report
from pipeline.report.officer import load_text, parse_text
from pipeline.report.xlsx import TABLE_SHEETS
from pipeline.roster import Roster
from tests.conftest import figures_of, soffice

CODES = ("VT005", "VT021", "VT030", "VT044", "VT052")
FILLED = """## I. Công tác chỉ đạo, triển khai

Ban Thường vụ LĐLĐ huyện đã ban hành Kế hoạch số 135/KH-LĐLĐ và tổ chức hội nghị triển khai đến 67 CĐCS.

## IV. Phương hướng, nhiệm vụ thời gian tới

- Tiếp tục vận động đoàn viên đăng ký sáng kiến.
- Đôn đốc các CĐCS cập nhật sáng kiến lên Cổng.

## V. Đề xuất, kiến nghị

Đề nghị LĐLĐ tỉnh khen thưởng các sáng kiến tiêu biểu.

## Kết thúc báo cáo

Trên đây là báo cáo kết quả của LĐLĐ huyện Vĩnh Thuận, kính gửi LĐLĐ tỉnh xem xét.
"""


@pytest.fixture
def period(tmp_path, filled, settings, form, roster):
    """A small period run through the pipeline with the PDF, in a folder of its own (its own
    configuration, so that its own bao-cao.md)."""
    folder = tmp_path / "kỳ báo cáo"
    (folder / "inbox").mkdir(parents=True)
    s = settings.with_paths(inbox=folder / "inbox", outbox=folder / "outbox", report_text=folder / "bao-cao.md")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    files = {
        "VT005": filled(rows=[], name="a.xlsx", code="VT005"),
        "VT021": filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng", "de_nghi_tieu_bieu": "Có"}], name="b.xlsx"),
        "VT030": filled(rows=[{"tac_gia": "An"}], name="c.xlsx", code="VT030"),
        "VT052": filled(rows=[{"ten_sang_kien": "Cải tiến băng chuyền phân loại tôm", "tac_gia": "Trần Văn Hùng"}],
                        name="d.xlsx", code="VT052"),
    }  # fmt: skip
    for code, path in files.items():
        (folder / "inbox" / f"Báo cáo {code}.xlsx").write_bytes(path.read_bytes())
    return s, few, folder


def docx_text(path: Path) -> list[str]:
    body = Document(str(path)).element.body
    return [t for t in ("".join(r.text or "" for r in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))) if t]


class _Text(HTMLParser):
    """The page's text, one string per block element, charts left out (the DOCX draws none)."""

    BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "caption", "th", "td", "figcaption"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.current: list[str] | None = None
        self.svg = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.svg += tag == "svg"
        if tag in self.BLOCKS and not self.svg:
            self.current = []

    def handle_endtag(self, tag: str) -> None:
        self.svg -= tag == "svg"
        if tag in self.BLOCKS and self.current is not None:
            text = " ".join("".join(self.current).split())
            if text:
                self.out.append(text)
            self.current = None

    def handle_data(self, data: str) -> None:
        if self.current is not None and not self.svg:
            self.current.append(data)


def html_text(path: Path) -> list[str]:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.out


def _tokens(lines: list[str]) -> list[str]:
    """What both documents must say in the same order: headings, table titles, column headers, and
    every number (counts, percentages, dates)."""
    out = []
    for line in lines:
        if re.match(r"^(I|II|III|IV|V|\d)\. |^Bảng \d\. |^Phụ lục ", line):
            out.append(line)
        out += re.findall(r"\d[\d.,]*%?", line)
    return out


def test_docx_html_and_workbook_carry_the_same_report(period, form):
    s, few, _ = period
    result = run(Period(s, form, few))
    model = build_report(figures_of(result, s, form, few)[0], s, load_text(s))
    docx, html = docx_text(result.outputs["report_docx"]), html_text(result.outputs["report_html"])
    charts = {b.title for b in model.blocks() if isinstance(b, Chart)}  # drawn by the page only
    html = [line for line in html if line not in charts and not line.startswith("Báo cáo chưa hoàn chỉnh")]
    # The page prints the list items without their "- ", the DOCX with it.
    docx = [line.removeprefix("- ") for line in docx]
    assert _tokens(docx) == _tokens(html)
    headings = [t for t in _tokens(docx) if not re.fullmatch(r"\d[\d.,]*%?", t)]
    assert headings[:3] == [
        "I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI",
        "II. KẾT QUẢ THỰC HIỆN",
        "1. Kết quả thực hiện các chỉ tiêu",
    ]
    assert [h for h in headings if h.startswith("Phụ lục")] == ["Phụ lục I", "Phụ lục II", "Phụ lục III"]
    # The column headers of every table, in both, in order.
    headers = [c.header for t in model.tables() for c in t.columns]
    assert [h for h in docx if h in headers] == [h for h in html if h in headers]
    # The workbook: a sheet per table with the same headers and the same row count.
    wb = openpyxl.load_workbook(result.outputs["report_xlsx"])
    for table in model.tables():
        ws = wb[TABLE_SHEETS[table.key]]
        assert [c.value for c in ws[4]][: len(table.columns)] == [c.header for c in table.columns]
        assert (table.title or "") in ws["A1"].value or table.title == ""


@pytest.mark.slow
def test_no_file_name_hash_or_cell_in_the_signed_document(period, form):
    soffice()  # the PDF is part of it: fails, never skips, without LibreOffice
    s, few, _ = period
    result = run(Period(s, form, few), pdf=True)
    pdf = subprocess.run(["pdftotext", str(result.outputs["report_pdf"]), "-"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    xml = zipfile.ZipFile(result.outputs["report_docx"]).read("word/document.xml").decode()
    for r in result.files:
        assert r.sha256 and r.sha256 not in xml and r.sha256 not in pdf
        assert r.name not in pdf and r.name not in xml
    for text in (pdf, xml):
        assert not re.search(r"\.xlsx|[0-9a-f]{40}|Sáng kiến!|Thông tin đơn vị!|SHA-256", text)
    # ... which the report workbook and the audit file keep, so that every figure still traces.
    audit = openpyxl.load_workbook(result.outputs["audit"])
    assert audit.sheetnames == ["Tệp nguồn", "Từng sáng kiến", "Sáng kiến tiêu biểu", "Tệp bị trả lại"]
    sources = [[c.value for c in row] for row in audit["Tệp nguồn"].iter_rows(min_row=5) if row[0].value]
    current = {u.current.sha256: u.current.name for u in result.units.values() if u.current}
    assert {row[9]: row[4] for row in sources} == current
    rows = [[c.value for c in row] for row in audit["Từng sáng kiến"].iter_rows(min_row=5) if row[0].value]
    assert len(rows) == result.totals["initiatives"] == 3
    assert {(r[4], r[5], r[6]) for r in rows} == {
        ("Báo cáo VT021.xlsx", "Sáng kiến", 4),
        ("Báo cáo VT021.xlsx", "Sáng kiến", 5),
        ("Báo cáo VT052.xlsx", "Sáng kiến", 4),
    }
    assert all(r[7] in current for r in rows)
    rejected = [[c.value for c in row] for row in audit["Tệp bị trả lại"].iter_rows(min_row=5) if row[0].value]
    assert rejected == [["VT030", rejected[0][1], "Báo cáo VT030.xlsx", rejected[0][3]]]
    assert "Sáng kiến!C4" in rejected[0][3]  # the error at its cell
    nguon = openpyxl.load_workbook(result.outputs["report_xlsx"])["Nguồn"]
    assert {row[9].value for row in nguon.iter_rows(min_row=5) if row[0].value} == set(current)


@pytest.mark.slow
def test_the_officers_text_reaches_every_format_and_no_hint_remains(period, form, capsys):
    s, few, folder = period
    # Without it: created with its hints, and the run says which sections are still to write.
    config = folder / "pipeline.toml"
    text = s.source.read_text(encoding="utf-8")
    text = re.sub(r'roster = "[^"]*"', f'roster = "{few.source.as_posix()}"', text)
    config.write_text(text, encoding="utf-8")
    soffice()  # the PDF's warning is part of it: fails, never skips, without LibreOffice
    assert main(["run", "--config", str(config), "--pdf"]) == 0
    out = capsys.readouterr().out
    assert "Báo cáo còn 3 mục chưa viết" in " ".join(out.split())
    assert "I. Công tác chỉ đạo, triển khai; IV. Phương hướng, nhiệm vụ thời gian tới; V. Đề xuất, kiến nghị" in out
    assert "Bản PDF chưa sẵn sàng để gửi" in out
    summary = json.loads((folder / "outbox" / "run.json").read_text(encoding="utf-8"))
    assert summary["report"]["unfilled"] == [
        "I. Công tác chỉ đạo, triển khai",
        "IV. Phương hướng, nhiệm vụ thời gian tới",
        "V. Đề xuất, kiến nghị",
    ]
    assert (folder / "bao-cao.md").read_text(encoding="utf-8").count("(Đơn vị bổ sung") == 3

    # Written: every format says it, and no hint is left anywhere.
    (folder / "bao-cao.md").write_text(FILLED, encoding="utf-8")
    assert main(["run", "--config", str(config), "--pdf"]) == 0
    out = capsys.readouterr().out
    assert "chưa viết" not in out and "chưa sẵn sàng" not in out
    outbox = folder / "outbox"
    pdf = subprocess.run(["pdftotext", str(outbox / "bao-cao-tong-hop.pdf"), "-"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    texts = {
        "docx": " ".join(docx_text(outbox / "bao-cao-tong-hop.docx")),
        "html": " ".join(html_text(outbox / "bao-cao-tong-hop.html")),
        "xlsx": " ".join(str(c.value) for c in openpyxl.load_workbook(outbox / "bao-cao-tong-hop.xlsx")["Báo cáo"]["A"]),  # noqa: E501
        "pdf": " ".join(pdf.split()),
    }  # fmt: skip
    for name, body in texts.items():
        assert "Đơn vị bổ sung" not in body and "chưa hoàn chỉnh" not in body, name
        for written in ("tổ chức hội nghị triển khai đến 67 CĐCS", "Đôn đốc các CĐCS cập nhật sáng kiến lên Cổng",
                        "khen thưởng các sáng kiến tiêu biểu", "kính gửi LĐLĐ tỉnh xem xét"):  # fmt: skip
            assert written in body, (name, written)
    assert json.loads((outbox / "run.json").read_text(encoding="utf-8"))["report"]["unfilled"] == []


def test_the_officers_file_is_read_leniently():
    from pipeline.config import load_settings
    from tests.conftest import ROOT

    s = load_settings(ROOT / "pipeline.toml")
    text = parse_text("# iv. phuong huong, nhiem vu\n\nMột đoạn\nhai dòng.\n\n- ý một\n  tiếp theo\n- ý hai\n", s)
    iv = text.sections["IV"]
    assert not iv.hint and iv.parts == ("Một đoạn hai dòng.", ("- ý một tiếp theo", "- ý hai"))
    assert text.sections["I"].hint and text.sections["V"].hint and not text.closing.hint
    assert [p.heading for p in text.unfilled()] == ["I. Công tác chỉ đạo, triển khai", "V. Đề xuất, kiến nghị"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=12))
def test_every_printed_share_column_adds_up_to_its_printed_total(counts):
    """Bảng 3 and 4 of any period: the shares as printed add up to the total as printed."""
    table = ShareTable(
        "Lĩnh vực",
        tuple(ShareRow(f"Mục {i}", n, None) for i, n in enumerate(counts)),
        ShareRow("Tổng cộng", sum(counts), 1.0 if sum(counts) else None),
    )
    rows = _shares("bang-3", "Bảng 3", table).rows
    *body, total = rows
    if not sum(counts):
        assert all(r.cells[3].text == "" for r in rows)
        return
    printed = sum(float(r.cells[3].text.rstrip("%").replace(",", ".")) for r in body)
    assert round(printed, 1) == 100.0 and total.cells[3].text == "100,0%"
    assert sum(r.cells[3].value for r in body) == pytest.approx(1.0)


def test_a_union_that_has_not_reported_shows_a_dash(period, form):
    s, few, _ = period
    result = run(Period(s, form, few))
    model = build_report(figures_of(result, s, form, few)[0], s, load_text(s))
    (units,) = [t for t in model.tables() if t.key == "phu-luc-1"]
    missing = next(r for r in units.rows if len(r.cells) > 1 and r.cells[1].text == "VT044")
    assert [c.text for c in missing.cells[4:11]] == ["–"] * 7
    assert dt.date(2022, 6, 5) == model.as_of
