"""The report's Excel workbook: its sheets and numbers read back with openpyxl, native charts, untrusted
text kept as text, and LibreOffice printing it to PDF (required: fails, never skips, without it)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
import pandas as pd
import pytest

from pipeline import Period, numbers, run
from pipeline.figures import Figures, compute
from pipeline.merge import dataset, unit_states
from pipeline.report.model import Report, build_report
from pipeline.report.officer import parse_text
from pipeline.report.rows import SheetRows
from pipeline.report.xlsx import FIRST_ROW, HEADER_ROW, NOTE_ROW, SHEETS, TABLE_SHEETS
from pipeline.report.xlsx import write_report_xlsx as write_workbook
from pipeline.results import RunResult
from pipeline.roster import Roster
from tests.conftest import figures_of, soffice
from tests.test_figures import A2, B1, B2, CODES, RECEIVED

UNTRUSTED = ("=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "<script>alert(1)</script>")
HOSTILE = {  # an initiative of VT021, proposed as outstanding so that it is on "Tiêu biểu" too
    "ten_sang_kien": "=cmd|' /C calc'!A0",
    "tac_gia": "<script>alert(1)</script> Nguyễn",
    "dong_tac_gia": "@SUM(1)",
    "hieu_qua": "<script>alert(1)</script>",
    "ghi_chu": "+1+1",
    "ngay_dang_ky": dt.date(2022, 5, 25),
    "de_nghi_tieu_bieu": "Có",
}
SHEET_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def model(figures: Figures, s: Any) -> Report:
    return build_report(figures, s, parse_text("", s))


def write_report_xlsx(path: Path, figures: Figures, frame: Any, result: RunResult, s: Any, form: Any) -> Path:
    return write_workbook(path, model(figures, s), frame, result, s, form)


@pytest.fixture
def report(tmp_path, filled, settings, form, roster):
    """A small period (as in test_figures, with hostile text) and its workbook."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    later = {"tinh_den_ngay": dt.date(2022, 6, 3), "ngay_lap": dt.date(2022, 6, 3)}
    files = {
        "VT005": filled(rows=[], name="a.xlsx", code="VT005"),
        "VT021": filled(unit=later, rows=[{}, A2, HOSTILE], name="b.xlsx", code="VT021"),
        "VT030": filled(rows=[{"tac_gia": "@SUM(1)"}], name="c.xlsx", code="VT030"),  # rejected: one word
        "VT052": filled(rows=[B1, B2], name="d.xlsx", code="VT052"),
    }
    for code, path in files.items():
        target = inbox / f"{code}.xlsx"
        target.write_bytes(path.read_bytes())
        os.utime(target, (RECEIVED[code].timestamp(), RECEIVED[code].timestamp()))
    result = run(Period(s, form, few))
    figures, frame = figures_of(result, s, form, few)
    path = tmp_path / "outbox" / "bao-cao.xlsx"
    assert write_report_xlsx(path, figures, frame, result, s, form) == path
    return path, figures, frame, result, s, few


def _table(ws: Any, first: int = FIRST_ROW + 1) -> list[tuple[Any, ...]]:
    """The rows of the sheet's first table (Excel rows from `first`) up to the first empty row."""
    rows = []
    for values in ws.iter_rows(min_row=first, values_only=True):
        if all(v is None for v in values):
            break
        rows.append(values)
    return rows


def _by_header(ws: Any) -> dict[str, int]:
    return {c.value: c.column - 1 for c in ws[HEADER_ROW + 1] if c.value is not None}


def test_sheets_titles_and_print_setup(report):
    path, figures, *_ = report
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS.values())
    assert wb.sheetnames[:6] == ["Báo cáo", "Bảng 1", "Bảng 2", "Bảng 3", "Bảng 4", "Biểu đồ"]
    assert all(len(name) <= 31 for name in wb.sheetnames)
    assert wb.active.title == "Báo cáo"
    as_of = f"Số liệu tính đến ngày {numbers.date(figures.as_of)}"
    for ws in wb.worksheets:
        assert ws.page_setup.paperSize == (8 if ws.title == "Sáng kiến" else 9), ws.title  # A3 for the dataset
        # Printed to the page's width: a wide sheet never runs across pages sideways.
        assert ws.sheet_properties.pageSetUpPr.fitToPage and (ws.page_setup.fitToWidth or 1) == 1, ws.title
        assert ws.page_setup.fitToHeight == 0, ws.title
        if ws.title == "Báo cáo":
            assert ws.page_setup.orientation == "portrait"
            continue
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws["A1"].value and ws["A1"].font.b and ws["A1"].font.name == "Times New Roman", ws.title
        assert as_of in ws["A2"].value, ws.title
        if ws.title not in (SHEETS["charts"], SHEETS["chart_data"]):
            assert ws.print_title_rows == f"${HEADER_ROW + 1}:${HEADER_ROW + 1}", ws.title
            header = [c for c in ws[HEADER_ROW + 1] if c.value is not None]
            assert header and all(c.font.b and c.font.name == "Times New Roman" for c in header), ws.title
            assert all(ws.column_dimensions[c.column_letter].width >= 5 for c in header), ws.title
    assert wb["Bảng 1"]["A1"].value == "Bảng 1. Kết quả thực hiện các chỉ tiêu (tính đến ngày 05/06/2022)"
    assert wb["Phụ lục I"]["A1"].value == "Phụ lục I. KẾT QUẢ THỰC HIỆN CỦA CÁC CÔNG ĐOÀN CƠ SỞ"


def _cells(ws: Any) -> list[list[str]]:
    """A table sheet's rows as their cells' values, merged cells once."""
    merged = {r.coord.split(":")[0]: r for r in ws.merged_cells.ranges}
    out = []
    for row in ws.iter_rows(min_row=FIRST_ROW + 1):
        if all(c.value is None for c in row):
            break
        values, skip = [], 0
        for cell in row:
            if skip:
                skip -= 1
                continue
            values.append(cell.value)
            if cell.coordinate in merged:
                skip = merged[cell.coordinate].max_col - merged[cell.coordinate].min_col
        out.append(values)
    return out


def _printed(value: Any, kind: str) -> Any:
    return value


def test_every_table_of_the_report_is_a_sheet_with_the_same_rows(report):
    """The workbook's tables are the document's: the same headers, rows, totals and numbers (a
    percentage as the fraction it prints; "–" where a figure does not exist)."""
    path, figures, _, _, s, _ = report
    wb = openpyxl.load_workbook(path)
    tables = model(figures, s).tables()
    assert [TABLE_SHEETS[t.key] for t in tables] == list(TABLE_SHEETS.values())
    for table in tables:
        ws = wb[TABLE_SHEETS[table.key]]
        assert [c.value for c in ws[HEADER_ROW + 1]][: len(table.columns)] == [c.header for c in table.columns]
        rows = _cells(ws)
        assert len(rows) == len(table.rows), table.key
        for got, row in zip(rows, table.rows, strict=True):
            expected = []
            spans = row.span or (1,) * len(row.cells)
            col = 0
            for cell, span in zip(row.cells, spans, strict=True):
                kind = table.columns[col].kind if span == 1 else "text"
                number = kind not in ("text", "code") and cell.value is not None
                expected.append(pytest.approx(cell.value) if number else (cell.text or None))
                col += span
            if row.kind == "group":
                expected = [row.cells[0].text]
            assert got[: len(expected)] == expected, (table.key, got)
    # The shares of Bảng 3 add up to their total as printed.
    shares = [r[3] for r in _cells(wb["Bảng 3"])[:-1] if isinstance(r[3], float)]
    assert sum(shares) == pytest.approx(1.0) and _cells(wb["Bảng 3"])[-1][3] == 1.0
    assert wb["Bảng 3"].cell(FIRST_ROW + 1, 4).number_format == "0.0%"
    # Appendix I: the unions' own figures only (no "number of unions" of 1 per union); "–" for none.
    ws = wb["Phụ lục I"]
    header = [c.value for c in ws[HEADER_ROW + 1] if c.value]
    assert "Số CĐCS" not in header and "Số CĐCS đã báo cáo" not in header
    missing = next(r for r in _cells(ws) if len(r) > 1 and r[1] == "VT044")
    assert missing[4:11] == ["–"] * 7


def test_totals_are_the_sums_of_their_rows(report):
    path, figures, *_ = report
    wb = openpyxl.load_workbook(path)
    *sectors, total = _cells(wb["Bảng 2"])
    assert [r[0] for r in sectors] == [r.sector for r in figures.by_sector.rows] and total[0] == "Tổng cộng"
    for col, attr in ((1, "units"), (3, "members"), (4, "initiatives"), (6, "uploaded"), (7, "benefit")):
        assert total[col] == sum(r[col] for r in sectors) == getattr(figures.totals, attr), attr
    # Appendix I: a subtotal after each sector, and the grand total.
    rows = _cells(wb["Phụ lục I"])
    subtotals = [r for r in rows if isinstance(r[0], str) and r[0].startswith("Cộng khối")]
    assert len(subtotals) == len(figures.units.groups)
    grand = rows[-1]
    assert grand[0] == f"Tổng cộng ({figures.totals.units} CĐCS)"
    for col, attr in ((2, "members"), (4, "initiatives"), (8, "benefit")):
        assert grand[col] == sum(r[col] for r in subtotals) == getattr(figures.totals, attr), attr


def test_the_report_sheet_reads_as_the_document(report):
    path, figures, _, _, s, _ = report
    ws = openpyxl.load_workbook(path)["Báo cáo"]
    lines = [c.value for c in ws["A"] if c.value]
    m = model(figures, s)
    for heading in ("I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI", "II. KẾT QUẢ THỰC HIỆN", "III. ĐÁNH GIÁ CHUNG",
                    "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI", "V. ĐỀ XUẤT, KIẾN NGHỊ"):  # fmt: skip
        assert heading in lines
    assert [line for line in lines if line.startswith("Bảng ")] == [
        f"{t.title} (xem trang “{TABLE_SHEETS[t.key]}”)" for t in m.tables() if t.title
    ]
    hint = next(c for c in ws["A"] if c.value and c.value.startswith("(Đơn vị bổ sung"))
    assert hint.fill.fgColor.rgb.endswith("FFF3A3") and hint.font.i  # still to write: yellow
    assert m.closing[0].text in lines and s.organisation.signatory in lines


def test_wrapped_rows_are_as_tall_as_their_text_and_long_tables_keep_their_header(report):
    path, *_ = report
    wb = openpyxl.load_workbook(path)
    ws = wb["Báo cáo"]
    long = next(c for c in ws["A"] if c.value and len(c.value) > 200)  # the opening, a few lines
    assert ws.row_dimensions[long.row].height and ws.row_dimensions[long.row].height >= 2 * 13.5
    ws = wb["Bảng 1"]
    wrapped = [r for r in range(FIRST_ROW + 1, ws.max_row + 1) if ws.cell(r, 2).value and len(ws.cell(r, 2).value) > 60]
    assert wrapped and all(ws.row_dimensions[r].height and ws.row_dimensions[r].height > 15 for r in wrapped)
    assert wb["Sáng kiến"].freeze_panes and wb["Lỗi"].freeze_panes


def test_findings_and_sources(report):
    path, figures, _, result, *_ = report
    wb = openpyxl.load_workbook(path)
    ws = wb["Lỗi"]
    findings = [f for r in result.files for f in r.findings]
    rows = _table(ws)
    assert len(rows) == len(findings) > 0
    assert [c.value for c in ws[HEADER_ROW + 1]] == ["Tệp", "Trang", "Ô", "Mục", "Giá trị", "Mức độ", "Mã quy tắc",
                                                     "Nội dung"]  # fmt: skip
    error = next(r for r in rows if r[6] == "too-few-words")
    assert error[:6] == ("VT030.xlsx", "Sáng kiến", "C4", "Tác giả (họ và tên)", "@SUM(1)", "Lỗi")
    assert ws.auto_filter.ref == f"A{HEADER_ROW + 1}:H{HEADER_ROW + 1 + len(rows)}"
    # The files the figures come from, traceable by SHA-256.
    rows = _table(wb["Nguồn"])
    assert [(r[1], r[4], r[5], r[9]) for r in rows] == [
        (f.code, f.file, f.received_at, f.sha256) for f in figures.sources
    ]


def test_the_dataset_sheet_has_every_row(report, form):
    path, _, frame, *_ = report
    ws = openpyxl.load_workbook(path)["Sáng kiến"]
    header = [c.value for c in ws[HEADER_ROW + 1]]
    labels = {f.key: f.label for f in form.initiative}
    others = {
        "ma_cdcs": "Mã CĐCS", "ten_cdcs": "Tên công đoàn cơ sở", "khoi": "Khối", "xa_thi_tran": "Xã, thị trấn",
        "giai_doan": "Giai đoạn", "so_nguoi_tham_gia": "Số người tham gia", "tep_nguon": "Tệp nguồn",
        "sha256_nguon": "SHA-256 của tệp nguồn", "trang_nguon": "Trang trong tệp nguồn",
        "dong_nguon": "Dòng trong tệp nguồn",
    }  # fmt: skip
    assert header == [labels.get(k) or others[k] for k in frame.columns]  # the form's labels for its columns
    assert header[0] == "Mã CĐCS" and header[-1] == "Dòng trong tệp nguồn"
    rows = _table(ws)
    assert len(rows) == len(frame) == 5 and ws.max_row == HEADER_ROW + 1 + len(frame)
    assert ws.auto_filter.ref == f"A{HEADER_ROW + 1}:{ws.cell(1, len(header)).column_letter}{ws.max_row}"
    assert ws.freeze_panes == f"C{FIRST_ROW + 1}"
    columns = list(frame.columns)
    for row, record in zip(rows, frame.to_dict("records"), strict=True):
        for key in ("ma_cdcs", "ten_sang_kien", "tac_gia", "stt", "gia_tri_lam_loi", "dong_nguon", "sha256_nguon"):
            expected = record[key]
            assert row[columns.index(key)] == (None if pd.isna(expected) else expected), key
        registered = row[columns.index("ngay_dang_ky")]
        assert isinstance(registered, dt.datetime) and registered.date() == record["ngay_dang_ky"]
    date_cell = ws.cell(FIRST_ROW + 1, columns.index("ngay_dang_ky") + 1)
    number_cell = ws.cell(FIRST_ROW + 1, columns.index("gia_tri_lam_loi") + 1)
    assert date_cell.number_format == "dd/mm/yyyy" and date_cell.is_date
    assert number_cell.number_format == "#,##0" and isinstance(number_cell.value, int)


def test_native_charts(report):
    path, figures, *_ = report
    wb = openpyxl.load_workbook(path)
    assert len(wb["Biểu đồ"]._charts) == len(figures.charts.progress) + 3 >= 4
    with zipfile.ZipFile(path) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        xml = [z.read(n).decode("utf-8") for n in charts]
    assert len(charts) >= 4
    kinds = [
        ("line" if "<c:lineChart>" in x else "") + ("col" if '<c:barDir val="col"/>' in x else "")
        + ("bar" if '<c:barDir val="bar"/>' in x else "")
        for x in xml
    ]  # fmt: skip
    assert kinds == ["line"] * len(figures.charts.progress) + ["col", "bar", "linecol"]
    assert all("<c:dateAx>" in x for x in xml[: len(figures.charts.progress)])  # progress over dates
    data = wb["Số liệu biểu đồ"]
    values = [r for r in data.iter_rows(values_only=True)]
    assert ("Tiến độ Giai đoạn 1", None, None, None) in values
    # The last point of phase 1 is its total; the target line is the phase's target.
    phase1 = figures.charts.progress[0]
    block = [r for r in values if isinstance(r[0], dt.datetime) and r[2] == phase1.target]
    assert max(r[1] for r in block if r[1] is not None) == phase1.total
    rates = [r for r in values if r[0] in {b.key for b in figures.charts.rate_by_unit}]
    assert [(r[0], r[2]) for r in rates] == [(b.key, pytest.approx(b.value)) for b in figures.charts.rate_by_unit]
    assert all(r[3] == figures.rate_target for r in rates)


def test_untrusted_text_stays_text(report):
    path, _, frame, *_ = report
    assert set(UNTRUSTED) <= {v for v in frame[["ten_sang_kien", "dong_tac_gia", "hieu_qua", "ghi_chu"]].stack()}
    strings: set[str] = set()  # the workbook is written in constant memory: strings are inline
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        for name in sheets:
            root = ElementTree.fromstring(z.read(name))
            assert root.findall(".//m:f", SHEET_NS) == [], f"a formula in {name}"
            assert not root.findall(".//m:c[@t='str']", SHEET_NS), f"a formula result in {name}"
            strings |= {"".join(si.itertext()) for si in root.findall(".//m:is", SHEET_NS)}
        if "xl/sharedStrings.xml" in z.namelist():
            shared = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
            strings |= {"".join(si.itertext()) for si in shared.findall("m:si", SHEET_NS)}
        assert not [n for n in z.namelist() if "externalLink" in n or "connections" in n]
    assert set(UNTRUSTED) <= strings
    wb = openpyxl.load_workbook(path)
    seen: dict[str, set[str]] = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and any(u in cell.value for u in UNTRUSTED):
                    assert cell.data_type == "s", (ws.title, cell.coordinate)
                    if cell.value.startswith(("=", "+", "-", "@")):
                        assert cell.quotePrefix, (ws.title, cell.coordinate)  # editing it keeps it text
                    seen.setdefault(ws.title, set()).add(cell.value)
    assert {"=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "<script>alert(1)</script>"} <= seen["Sáng kiến"]
    assert {"=cmd|' /C calc'!A0", "<script>alert(1)</script> Nguyễn; @SUM(1)"} <= seen["Phụ lục II"]
    assert "@SUM(1)" in seen["Lỗi"]


def _pdf(path: Path, outdir: Path) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    command = [
        soffice(),
        "--headless",
        "--norestore",
        f"-env:UserInstallation={(outdir / 'profile').as_uri()}",
        "--convert-to",
        "pdf",
        "--outdir",
        str(outdir),
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    pdf = outdir / f"{path.stem}.pdf"
    assert result.returncode == 0 and pdf.is_file(), f"soffice failed: {result.stdout}\n{result.stderr}"
    return pdf


@pytest.mark.slow
def test_libreoffice_prints_the_workbook(report, tmp_path):
    path, figures, *_ = report
    pdf = _pdf(path, tmp_path / "pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages >= len(SHEETS)
    assert re.search(r"^Page size:\s+595\.\d+ x 841\.\d+", info, re.M), info  # A4, "Báo cáo" upright
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Bảng 1. Kết quả thực hiện các chỉ tiêu" in text
    assert f"Số liệu tính đến ngày {numbers.date(figures.as_of)}" in text
    # The hostile text is printed as typed: LibreOffice did not evaluate it.
    assert "=cmd|' /C calc'!A0" in text and "<script>alert(1)</script>" in text and "+1+1" in text
    assert "Phụ lục I. KẾT QUẢ THỰC HIỆN CỦA CÁC CÔNG ĐOÀN CƠ SỞ" in text and "Cộng khối (" in text


def test_an_empty_period_writes_a_workbook(tmp_path, form, settings, roster):
    states = unit_states([], roster, settings)
    frame = dataset(states, [], form, settings)
    figures: Figures = compute(states, frame, roster, settings, form)
    path = write_report_xlsx(tmp_path / "empty.xlsx", figures, frame, RunResult([], settings.as_of, units=states),
                             settings, form)  # fmt: skip
    wb = openpyxl.load_workbook(path)
    assert _table(wb["Sáng kiến"]) == [] and _table(wb["Lỗi"]) == []
    assert _cells(wb["Phụ lục I"])[-1][0] == f"Tổng cộng ({len(roster.active)} CĐCS)"
    assert [p.name for p in tmp_path.iterdir()] == ["empty.xlsx"]  # no temporary file left


@pytest.mark.slow
def test_a_large_dataset_is_written_whole(report, tmp_path, form):
    # How fast is the benchmark's business (`make bench`); here, that nothing is lost.
    _, figures, frame, result, s, _ = report
    big = pd.concat([frame] * 3_400, ignore_index=True)  # about 20 000 initiatives
    path = write_report_xlsx(tmp_path / "big.xlsx", figures, big, result, s, form)
    ws = openpyxl.load_workbook(path, read_only=True)["Sáng kiến"]
    assert ws.max_row == HEADER_ROW + 1 + len(big)


def test_a_dataset_longer_than_a_sheet_is_cut_with_a_note(report, tmp_path, form, monkeypatch):
    from pipeline.report import xlsx

    _, figures, frame, result, s, _ = report
    monkeypatch.setattr(xlsx, "DATASET_MAX_ROWS", 3)  # as if a sheet could hold three rows
    big = pd.concat([frame] * 3, ignore_index=True)
    path = write_report_xlsx(tmp_path / "cut.xlsx", figures, big, result, s, form)
    ws = openpyxl.load_workbook(path)["Sáng kiến"]
    assert ws.max_row == HEADER_ROW + 1 + 3
    assert f"3 sáng kiến đầu tiên trong tổng số {len(big)}" in ws.cell(NOTE_ROW + 1, 1).value
    assert "du-lieu-tong-hop.csv" in ws.cell(NOTE_ROW + 1, 1).value


def test_the_audit_file_has_every_initiatives_source_value_by_value(report, tmp_path, form, monkeypatch):
    """The audit file's "Từng sáng kiến" (written a column at a time): each initiative's code, union,
    title, author, file, sheet and row (a number) and hash, as the dataset has them; bordered,
    wrapped, filtered, its header frozen; past a sheet's rows, cut with a note."""
    from pipeline.report import xlsx
    from pipeline.report.audit import write_audit

    _, figures, frame, _, s, _ = report
    big = pd.concat([frame] * 40, ignore_index=True)
    path = write_audit(tmp_path / "audit.xlsx", model(figures, s), big, form)
    ws = openpyxl.load_workbook(path)["Từng sáng kiến"]
    keys = [*map(form.key, ("unit_code", "unit_name", "title", "author")), "tep_nguon", "trang_nguon", "dong_nguon",
            "sha256_nguon"]  # fmt: skip
    got = [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST_ROW + 1)]
    expected = [[None if pd.isna(v) else v for v in values] for values in big[keys].itertuples(index=False)]
    assert got == expected and all(isinstance(r[6], int) for r in got)
    assert ws.auto_filter.ref == f"A{HEADER_ROW + 1}:H{FIRST_ROW + len(big)}" and ws.freeze_panes == "A5"
    first = ws.cell(FIRST_ROW + 1, 3)
    assert first.border.left.style == "thin" and first.alignment.wrap_text
    assert ws.cell(FIRST_ROW + 1, 7).number_format == "#,##0"
    # The initiatives proposed for commendation (Phụ lục II), each with its source, also a column at a time.
    ws = openpyxl.load_workbook(path)["Sáng kiến tiêu biểu"]
    listed = [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST_ROW + 1)]
    assert figures.outstanding and listed == [
        [i, o.code, o.title, o.source.file, o.source.sheet, o.source.row, o.source.sha256]
        for i, o in enumerate(figures.outstanding, start=1)
    ]
    assert ws.cell(FIRST_ROW + 1, 3).border.left.style == "thin" and ws.cell(FIRST_ROW + 1, 1).number_format == "#,##0"

    monkeypatch.setattr(xlsx, "DATASET_MAX_ROWS", 3)  # as if a sheet could hold three rows
    ws = openpyxl.load_workbook(write_audit(tmp_path / "cut.xlsx", model(figures, s), big, form))["Từng sáng kiến"]
    assert [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST_ROW + 1)] == expected[:3]
    assert f"3 sáng kiến đầu tiên trong tổng số {len(big)}" in ws.cell(NOTE_ROW + 1, 1).value


def test_a_failed_write_leaves_nothing(tmp_path, form, settings, roster, monkeypatch):
    import pipeline.report.xlsx as xlsx

    states = unit_states([], roster, settings)
    frame = dataset(states, [], form, settings)
    figures = compute(states, frame, roster, settings, form)

    def broken(*_: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(xlsx, "_charts", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report_xlsx(
            tmp_path / "r.xlsx", figures, frame, RunResult([], settings.as_of, units=states), settings, form
        )
    assert list(tmp_path.iterdir()) == []


def test_the_dataset_rows_keep_odd_text_exactly(report, tmp_path, form):
    _, figures, frame, result, s, _ = report
    odd = frame.copy()
    texts = [
        "a\x01b\x1fc",
        "a\rb\uffff",
        "_x0041_ stays",
        "  spaces around  ",
        "<b>&amp;</b>",
        "Đ\u0300 tổ hợp",
        "=1+1",
    ]
    odd = pd.concat([odd.iloc[:1]] * len(texts), ignore_index=True)
    odd["ghi_chu"] = texts
    path = write_report_xlsx(tmp_path / "odd.xlsx", figures, odd, result, s, form)
    ws = openpyxl.load_workbook(path)["Sáng kiến"]
    column = list(odd.columns).index("ghi_chu") + 1
    got = [ws.cell(FIRST_ROW + 1 + i, column).value for i in range(len(texts))]
    # The same cells as xlsxwriter itself writes them (control characters as _xHHHH_ escapes, which
    # Excel turns back into the characters and openpyxl leaves as they are).
    import xlsxwriter

    with xlsxwriter.Workbook(str(tmp_path / "ref.xlsx"), {"constant_memory": True}) as wb:
        sheet = wb.add_worksheet()
        for i, text in enumerate(texts):
            sheet.write_string(i, 0, text)
    ref = openpyxl.load_workbook(tmp_path / "ref.xlsx").active
    assert got == [ref.cell(1 + i, 1).value for i in range(len(texts))]
    assert got[3:] == texts[3:]
    assert ws.cell(FIRST_ROW + len(texts), column).quotePrefix  # "=1+1" stays text when edited


def test_the_dataset_in_small_chunks_is_the_same_dataset(report, tmp_path, form, monkeypatch):
    """The dataset is built, and its sheet written, a few thousand rows at a time (so that a large
    period never has all its rows as Python objects at once): chunks change nothing."""
    from pipeline import merge

    _, figures, frame, result, s, few = report
    monkeypatch.setattr(merge, "DATASET_CHUNK_ROWS", 2)
    monkeypatch.setattr(SheetRows, "CHUNK_ROWS", 2)
    chunked = figures_of(result, s, form, few)[1]
    assert len(frame) == 5
    pd.testing.assert_frame_equal(chunked, frame)
    whole = openpyxl.load_workbook(report[0])["Sáng kiến"]
    path = write_report_xlsx(tmp_path / "chunks.xlsx", figures, chunked, result, s, form)
    parts = openpyxl.load_workbook(path)["Sáng kiến"]
    cells = [[c.value for c in row] for row in whole.iter_rows()]
    assert [[c.value for c in row] for row in parts.iter_rows()] == cells


def test_the_xlsxwriter_internals_the_dataset_sheet_relies_on_are_there(tmp_path):
    """The dataset sheet's rows are written into the saved package by `pipeline.report.rows`, not
    by xlsxwriter: each cell's style index comes from xlsxwriter's private `Format._get_xf_index()`
    (and `Format.xf_index`), the rows go between the `<sheetData>` tags of the part
    `xl/worksheets/sheet<N>.xml` of the N-th sheet, and `<dimension>` is widened. pyproject.toml
    keeps xlsxwriter below its next major version for this; a version that changes any of it fails
    here, by name, instead of writing a report whose dates show as numbers."""
    import xlsxwriter
    from xlsxwriter.format import Format

    from pipeline.report.xlsx import WORKBOOK_OPTIONS

    assert callable(getattr(Format, "_get_xf_index", None)), "xlsxwriter's Format._get_xf_index() is gone"
    path = tmp_path / "internals.xlsx"
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        first, second = wb.add_worksheet("Một"), wb.add_worksheet("Hai")
        first.write_string(0, 0, "ô", wb.add_format({"bold": True}))
        second.write_string(0, 0, "tiêu đề")
        ours = wb.add_format({"num_format": "dd/mm/yyyy", "italic": True})  # used by no cell of xlsxwriter's
        index = ours._get_xf_index()
        assert isinstance(index, int) and index > 0 and ours.xf_index == index, "Format.xf_index is not the index"
    part = "xl/worksheets/sheet2.xml"  # the second sheet's, as _dataset names it
    with zipfile.ZipFile(path) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    assert part in parts, sorted(parts)
    sheet = parts[part].decode("utf-8")
    assert "<t>tiêu đề</t>" in sheet  # the part is the second sheet's (text inline, in constant memory)
    assert re.search(r'<dimension ref="[^"]*"/>', sheet) and sheet.count("</sheetData>") == 1, sheet[:500]
    # A cell written into the part as pipeline.report.rows writes it shows as a date in the format asked for.
    parts[part] = sheet.replace(
        "</sheetData>", f'<row r="2"><c r="A2" s="{index}"><v>44713</v></c></row></sheetData>'
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    cell = openpyxl.load_workbook(path)["Hai"]["A2"]
    assert cell.number_format == "dd/mm/yyyy" and cell.font.i and cell.value == dt.datetime(2022, 6, 1)


def test_the_dataset_rows_made_ahead_make_the_same_workbook(report, tmp_path, form, monkeypatch):
    """The report workbook's process makes the dataset sheet's rows while the run makes the
    figures (`make_dataset_rows`); the workbook it then writes from the same Parquet file uses them
    and is the workbook written without them, part for part. Rows made for other styles, or for
    another file, are not used."""
    from pipeline import report as report_package
    from pipeline.render.outputs import write_dataset_parquet
    from pipeline.report import xlsx

    _, figures, frame, result, s, _ = report
    big = pd.concat([frame] * 30, ignore_index=True)
    parquet = write_dataset_parquet(big, tmp_path / "du-lieu.parquet")
    used: list[bool] = []
    dataset = xlsx._dataset

    def noted(*args: Any) -> SheetRows:
        rows = dataset(*args)
        used.append(rows.made is not None)
        return rows

    monkeypatch.setattr(xlsx, "_dataset", noted)

    def parts(path: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(path) as package:  # the creation time aside
            return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}

    def written(name: str) -> dict[str, bytes]:
        path = report_package.write_report_xlsx(tmp_path / name, model(figures, s), parquet, result, s, form)
        return parts(path)

    plain = written("plain.xlsx")
    assert xlsx.make_dataset_rows(parquet, form) == len(big)
    assert written("ahead.xlsx") == plain and used == [False, True]
    assert xlsx.made_rows(parquet) is None, "taken once"

    xlsx.make_dataset_rows(parquet, form)
    made = xlsx._MADE[xlsx._made_key(parquet)]
    xlsx._MADE[xlsx._made_key(parquet)] = replace(made, specs=made.specs[::-1])  # as if for other styles
    assert written("other-styles.xlsx") == plain and used[-1] is False
    xlsx.make_dataset_rows(parquet, form)
    write_dataset_parquet(big.iloc[1:], parquet)  # the file changed since
    assert xlsx.made_rows(parquet) is None
