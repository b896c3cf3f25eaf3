"""The long sheets' rows written a column at a time (pipeline.report.rows): the same cells as
xlsxwriter writes, and the same sheet as the report's own cell-by-cell writer (`Book.row`) gives:
values, types, styles, the quote prefix, empty cells with their borders, rows as tall as their
wrapped text."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pipeline.report import rows
from pipeline.report.model import Cell, Report, Row, Table, build_report
from pipeline.report.model import Column as ModelColumn
from pipeline.report.officer import parse_text
from pipeline.report.rows import RowsColumn, SheetRows, cell_xml, insert_rows
from pipeline.report.xlsx import FIRST_ROW, HEADER_ROW, WORKBOOK_OPTIONS, Book, Column, table_columns
from pipeline.sheets import cell_text
from tests.conftest import figures_of
from tests.test_report_docx import run_small_period

# What a union's text can hold: Vietnamese, XML's specials, Excel's escapes, every kind of space and
# control character, characters above U+FFFF and the two that XML cannot hold.
PIECES = st.sampled_from(
    [*"aĐđệ ữ&<>_x0041F=+-@'\"", "_x00", "x005F_", *map(chr, range(0x20)), "\x7f", "\x85", "\xa0", "\u2028",
     "\u3000", "\ufeff", "\ufffe", "\uffff", "😀", "\U00020000", "<r>", "</r>"]
)  # fmt: skip
TEXTS = st.lists(st.lists(PIECES, min_size=1, max_size=12).map("".join), min_size=1, max_size=25)


def _xlsxwriter_cells(tmp_path: Path, texts: list[str]) -> tuple[list[str], int]:
    """The cells of column A as xlsxwriter writes `texts` in constant memory, and their style."""
    path = tmp_path / "ref.xlsx"
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        ws = wb.add_worksheet()
        fmt = wb.add_format({"border": 1})
        for i, text in enumerate(texts):
            ws.write_string(i, 0, text, fmt)
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode("utf-8")
    return re.findall(r'<c r="A\d+".*?</c>', xml, re.S), fmt.xf_index


def _ours(texts: list[Any], column: RowsColumn, dtype: str | None = None) -> list[str]:
    sheet = SheetRows("p", pd.DataFrame({"a": pd.Series(texts, dtype=dtype)}), (column,), 0)
    xml = b"".join(bytes(chunk) for chunk in sheet.chunks()).decode("utf-8")
    return re.findall(r'<c r="A\d+".*?(?:</c>|/>)', xml, re.S)


def _rich_markup(text: str) -> bool:
    """Text that xlsxwriter writes into the sheet unescaped, as rich-text markup (we do not)."""
    escaped = rows._ESCAPE_LIKE_RE.sub(r"_x005F\1", text)
    escaped = rows._CONTROL_RE.sub(lambda m: f"_x{ord(m.group()):04X}_", escaped)
    return escaped.startswith("<r>") and escaped.endswith("</r>")


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS)
@example(texts=["  a  ", "\ta", "a\n", "\ra", "a\x0b", "\x1c", "\u3000x", "_x0041_", "_x005F_x0041_", "&amp;"])
@example(texts=["=1+1", "+1", "-1", "@SUM(1)", "\t=", "\r=", "'=1"])
def test_text_cells_are_those_xlsxwriter_writes(tmp_path_factory, texts):
    texts = [t for t in texts if not _rich_markup(t)] or ["a"]
    expected, style = _xlsxwriter_cells(tmp_path_factory.mktemp("x"), texts)
    column = RowsColumn("text", style, style, style)
    assert _ours(texts, column, "str") == expected  # a column of text, a column at a time
    assert _ours(texts, column, "object") == expected
    by_cell = [cell_xml(f"A{i}", t, column)[0] for i, t in enumerate(texts, start=1)]
    assert by_cell == expected  # a column that goes cell by cell


def test_text_that_looks_like_rich_text_markup_is_escaped():
    """xlsxwriter writes `<r>...</r>` into the sheet as it is, in constant memory: a union's text
    could put a formula into the workbook that way. Ours is text."""
    evil = '<r><t>a</t></r></is></c><c r="B1"><f>1+1</f></c><c r="C1" t="inlineStr"><is><r><t>b</t></r>'
    (cell,) = _ours([evil], RowsColumn("text", 1, 2, 3))
    assert "<f>" not in cell and cell.startswith('<c r="A1" s="1" t="inlineStr"><is><t>&lt;r&gt;')


def test_text_that_starts_like_a_formula_takes_the_quoted_style():
    column = RowsColumn("text", 1, 2, 3)
    cells = _ours(["=1+1", "+1", "-1", "@A", "\t=", "\r=", "a=1", " =1", "'=1"], column, "str")
    assert [re.search(r' s="(\d)"', c).group(1) for c in cells] == list("222222111")


def test_a_text_longer_than_a_cell_is_cut_as_xlsxwriter_cuts_what_it_is_given(tmp_path):
    texts = ["ạ" * 40_000, "😀" * 20_000, "a" * 32_767, "😀" * 16_383 + "ab"]
    expected, style = _xlsxwriter_cells(tmp_path, [cell_text(t) for t in texts])
    column = RowsColumn("text", style, style, style)
    assert _ours(texts, column, "str") == expected
    assert [cell_xml(f"A{i}", t, column)[0] for i, t in enumerate(texts, start=1)] == expected


def test_numbers_dates_and_empty_cells(tmp_path):
    path = tmp_path / "ref.xlsx"
    numbers = [0, 7, -3, 1_234_567_000, 2**53, 2**53 + 1, None]
    dates = [dt.date(2022, 6, 5), dt.date(1900, 3, 1), dt.date(2099, 12, 31), None]
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        ws = wb.add_worksheet()
        number, date = wb.add_format({"num_format": "#,##0"}), wb.add_format({"num_format": "dd/mm/yyyy"})
        for i, (n, d) in enumerate(zip(numbers, [*dates, *[None] * (len(numbers) - len(dates))], strict=True)):
            if n is None:  # row by row: the workbook is written in constant memory
                ws.write_blank(i, 0, None, number)
            else:
                ws.write_number(i, 0, float(n), number)
            if i >= len(dates):
                continue
            if d is None:
                ws.write_blank(i, 1, None, date)
            else:
                ws.write_datetime(i, 1, d, date)
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode("utf-8")
    column_a = re.findall(r'<c r="A\d+".*?(?:</c>|/>)', xml)
    column_b = [c.replace('r="B', 'r="A') for c in re.findall(r'<c r="B\d+".*?(?:</c>|/>)', xml)]
    as_int = RowsColumn("int", 1, 2, number.xf_index, number.xf_index)
    assert _ours(numbers, as_int, "Int64") == column_a  # 2**53 + 1 is written as the float it becomes
    assert _ours([float("nan") if n is None else n for n in numbers], as_int, "float64") == column_a
    as_date = RowsColumn("date", 1, 2, date.xf_index, date.xf_index)
    assert _ours(dates, as_date) == column_b
    # Text in a number or date column stays text, in the text styles; no blank cell without a style.
    assert _ours(["12a", 5, None], RowsColumn("int", 1, 2, 3)) == [
        '<c r="A1" s="1" t="inlineStr"><is><t>12a</t></is></c>',
        '<c r="A2" s="3"><v>5</v></c>',
    ]
    assert _ours([dt.date(2022, 1, 2), "=x", dt.datetime(2022, 1, 2, 12)], RowsColumn("date", 1, 2, 3)) == [
        '<c r="A1" s="3"><v>44563</v></c>',
        '<c r="A2" s="2" t="inlineStr"><is><t>=x</t></is></c>',
        '<c r="A3" s="3"><v>44563.5</v></c>',
    ]


# The sheet as a whole: the same as Book.row writes it, cell by cell through xlsxwriter.

COLUMNS = (Column("Mã", 9), Column("Tên sáng kiến", 20), Column("Dòng", 7, "int"), Column("Ngày", 11, "date"))
ODD = ["", "  hai đầu  ", "=1+1", "dòng một\ndòng hai", "a\x01b", "_x0041_", "<b>&</b>", "😀" * 3, "x" * 70,
       "một hai ba bốn năm sáu bảy tám chín mười một hai ba bốn năm sáu", None]  # fmt: skip


def _frame() -> pd.DataFrame:
    n = 3 * len(ODD)
    return pd.DataFrame(
        {
            "ma": pd.Series([f"VT{i:03d}" for i in range(n)], dtype="str"),
            "ten": pd.Series([ODD[i % len(ODD)] for i in range(n)], dtype="object"),
            "dong": pd.Series([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
            "ngay": [None if i % 4 == 0 else dt.date(2022, 1, 1) + dt.timedelta(days=i) for i in range(n)],
        }
    )


def _workbook(path: Path, report: Report, frame: pd.DataFrame, fast: bool) -> Path:
    """A workbook of a sheet before and a sheet of `frame`'s rows, written by `Book.rows` (`fast`)
    or `Book.row`."""
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        book = Book(wb, report)
        wb.add_worksheet("Trước")
        ws = wb.add_worksheet("Các dòng")
        r = book.sheet(ws, "Tiêu đề", COLUMNS)
        if fast:
            sheet = book.rows(ws, frame, COLUMNS)
        else:
            for values in frame.itertuples(index=False):
                book.row(ws, r, list(values), COLUMNS)
                r += 1
    if fast:
        insert_rows(path, [sheet])
    return path


def _sheet(path: Path) -> tuple[list[tuple[Any, ...]], dict[int, Any]]:
    ws = openpyxl.load_workbook(path)["Các dòng"]
    cells = [
        (c.coordinate, c.value, c.number_format, c.font.b, c.font.name, c.border.left.style, c.alignment.wrap_text,
         c.alignment.vertical, c.quotePrefix)
        for row in ws.iter_rows() for c in row
    ]  # fmt: skip
    heights = {k: (d.height, d.customHeight) for k, d in ws.row_dimensions.items() if d.height is not None}
    return cells, heights


@pytest.fixture
def report_model(tmp_path, filled, settings, form, roster) -> Report:
    result, s, few = run_small_period(tmp_path, filled, settings, form, roster)
    figures, _ = figures_of(result, s, form, few)
    return build_report(figures, s, parse_text("", s))


def test_the_rows_are_the_sheet_that_book_row_writes(tmp_path, report_model):
    frame = _frame()
    slow = _sheet(_workbook(tmp_path / "slow.xlsx", report_model, frame, fast=False))
    fast = _sheet(_workbook(tmp_path / "fast.xlsx", report_model, frame, fast=True))
    assert fast == slow
    cells, heights = fast
    assert heights[FIRST_ROW + 1 + ODD.index("x" * 70)] == (56.25, True)  # four lines of 21 characters
    assert sum(1 for c in cells if c[0].startswith("B") and c[1] is None and c[5] == "thin") >= 2  # bordered blanks


def test_rows_in_small_chunks_are_the_same_rows(tmp_path, report_model, monkeypatch):
    frame = _frame()
    whole = _sheet(_workbook(tmp_path / "whole.xlsx", report_model, frame, fast=True))
    monkeypatch.setattr(SheetRows, "CHUNK_ROWS", 4)
    assert _sheet(_workbook(tmp_path / "chunks.xlsx", report_model, frame, fast=True)) == whole


def test_the_dimension_covers_the_rows(tmp_path, report_model):
    path = _workbook(tmp_path / "fast.xlsx", report_model, _frame(), fast=True)
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet2.xml").decode("utf-8")
    assert f'<dimension ref="A1:D{FIRST_ROW + len(_frame())}"/>' in xml
    assert xml.index("</sheetData>") > xml.rindex(f'<row r="{FIRST_ROW + len(_frame())}"')


def test_text_shaped_like_rich_text_markup_stays_text_in_every_cell_book_writes(tmp_path, report_model):
    """xlsxwriter, in constant memory, writes a string that starts with "<r>" and ends with "</r>"
    into the sheet unescaped: `Book` writes such a text as rich text that reads back as the text."""
    evil = '<r><t>a</t></r></is></c><c r="B5"><f>1+1</f></c><c r="C5" t="inlineStr"><is><r><t>b</t></r>'
    path = tmp_path / "evil.xlsx"
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        book = Book(wb, report_model)
        ws = wb.add_worksheet("Các dòng")
        r = book.sheet(ws, "Tiêu đề", COLUMNS)
        book.row(ws, r, [evil, evil, evil, None], COLUMNS)
        book.row(ws, r + 1, [evil, "=1", 2, None], COLUMNS, "total")
        book.merged(ws, r + 2, 0, 3, evil, "subtotal")
        book.line(ws, r + 3, evil, "heading")
    assert "<f>" not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode("utf-8")
    ws = openpyxl.load_workbook(path)["Các dòng"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST_ROW + 1)]
    assert rows == [[evil, evil, evil, None], [evil, "=1", 2, None], [evil, None, None, None], [evil, None, None, None]]
    assert ws.cell(FIRST_ROW + 1, 1).font.name == "Times New Roman"


def test_the_package_with_the_rows_is_deflated_at_its_level(tmp_path, report_model):
    """Every part of the package `insert_rows` writes, the rows' part as well as the others, is
    deflated at `COMPRESS_LEVEL` (the workbook is a large period's last output to end)."""
    import struct
    import zlib

    path = _workbook(tmp_path / "fast.xlsx", report_model, _frame(), fast=True)
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as package:
        for info in package.infolist():
            assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename
            name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
            start = info.header_offset + 30 + name_len + extra_len
            deflater = zlib.compressobj(rows.COMPRESS_LEVEL, zlib.DEFLATED, -15)
            expected = deflater.compress(package.read(info)) + deflater.flush()
            assert raw[start : start + info.compress_size] == expected, info.filename


# --- a table's rows ------------------------------------------------------------------------------------


def _cell_by_cell_table(book: Book, ws: Any, table: Table, title: str) -> None:
    """A table as the report's cell-by-cell writer writes it (`Book.put` and `Book.merged`): what
    `Book.table_rows` must give."""
    columns = table_columns(table)
    r = book.sheet(ws, title, columns)
    for row in table.rows:
        style = "body" if row.kind in ("body", "group") else row.kind
        if row.kind == "group":
            book.merged(ws, r, 0, len(columns) - 1, row.cells[0].text, "subtotal")
            r += 1
            continue
        col = 0
        for cell, span in zip(row.cells, row.span or (1,) * len(row.cells), strict=True):
            kind = columns[col].kind if span == 1 else "text"
            value = cell.value if cell.value is not None and kind != "text" else cell.text
            if span > 1:
                book.merged(ws, r, col, col + span - 1, cell.text, style)
            else:
                book.put(ws, r, col, value, kind, style)
            col += span
        r += 1


def _tables_workbook(path: Path, report: Report, tables: list[Table], fast: bool) -> Path:
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        book = Book(wb, report)
        written = []
        for i, table in enumerate(tables):
            ws = wb.add_worksheet(f"Bảng {i + 1}")
            if fast:
                columns = table_columns(table)
                book.sheet(ws, table.title, columns)
                written.append(book.table_rows(ws, table.rows, columns))
            else:
                _cell_by_cell_table(book, ws, table, table.title)
    if fast:
        insert_rows(path, written)
    return path


def _table_sheets(path: Path) -> list[Any]:
    book = openpyxl.load_workbook(path)
    out = []
    for ws in book.worksheets:
        cells = [
            (c.coordinate, c.value, c.number_format, c.font.b, c.font.name, c.fill.fgColor.rgb, c.border.left.style,
             c.alignment.wrap_text, c.alignment.horizontal, c.alignment.vertical, c.quotePrefix)
            for row in ws.iter_rows() for c in row
        ]  # fmt: skip
        heights = {k: (d.height, d.customHeight) for k, d in ws.row_dimensions.items() if d.height is not None}
        out.append((ws.title, cells, heights, sorted(str(m) for m in ws.merged_cells.ranges), ws.max_row))
    return out


def _odd_table() -> Table:
    """Every kind of row a table has, with the texts and numbers that make a cell hard to write."""
    kinds = ("no", "code", "text", "count", "percent", "money", "text")
    columns = tuple(ModelColumn(f"Cột {i}", kind) for i, kind in enumerate(kinds))

    def body(i: int) -> Row:
        text = ODD[i % len(ODD)] or ""
        count = None if i % 4 == 0 else i * 1000
        share = None if i % 5 == 0 else i / 7
        counted = Cell("–" if count is None else str(count), count)
        shared = Cell("" if share is None else f"{share:.1%}", share)
        return Row((Cell(str(i), i), Cell(f"VT{i:03d}"), Cell(text), counted, shared, Cell(str(i), 10**9 * i),
                    Cell(text[::-1])))  # fmt: skip

    rows = [Row((Cell("=Nhóm một, tên rất dài để xuống dòng trong ô gộp của cả bảng này"),), "group", (7,))]
    rows += [body(i) for i in range(1, 12)]
    rows.append(Row((Cell("Cộng nhóm"), Cell("3"), Cell("–"), Cell("10,0%", 0.1), Cell("5", 5), Cell("")), "subtotal",
                    (2, 1, 1, 1, 1, 1)))  # fmt: skip
    rows.append(Row((Cell(""),), "group", (7,)))
    rows += [body(i) for i in range(12, 30)]
    rows.append(Row((Cell("+ gộp ở thân bảng"), Cell("x"), Cell("y")), "body", (5, 1, 1)))
    rows.append(Row((Cell("Tổng cộng (29 CĐCS) và một nhãn dài cần hai dòng"), Cell("1.234", 1234), Cell("–"),
                     Cell(""), Cell("", None)), "total", (3, 1, 1, 1, 1)))  # fmt: skip
    return Table("phu-luc-9", "Bảng thử", columns, tuple(rows))


def test_a_tables_rows_are_the_sheet_that_put_and_merged_write(tmp_path, report_model):
    """Each table of the report, and one with every kind of row and cell, written by
    `Book.table_rows` (the body a column at a time) is the sheet the cell-by-cell writer gives:
    the same cells, styles, merged ranges and row heights."""
    tables = [*report_model.tables(), _odd_table()]
    assert any(r.kind == "group" for t in tables for r in t.rows) and any(r.span for t in tables for r in t.rows)
    slow = _table_sheets(_tables_workbook(tmp_path / "slow.xlsx", report_model, tables, fast=False))
    fast = _table_sheets(_tables_workbook(tmp_path / "fast.xlsx", report_model, tables, fast=True))
    for got, expected in zip(fast, slow, strict=True):
        assert got == expected
    odd = fast[-1]
    assert len(odd[3]) == 5 and any(h[1] for h in odd[2].values())  # merged ranges; tall rows


def test_merged_ranges_join_those_the_sheet_has(tmp_path, report_model):
    """A sheet whose cells xlsxwriter merged too keeps its ranges beside the rows' (one `<mergeCells>`)."""
    table = _odd_table()
    path = tmp_path / "both.xlsx"
    with xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS) as wb:
        book = Book(wb, report_model)
        ws = wb.add_worksheet("Bảng")
        columns = table_columns(table)
        book.merged(ws, 0, 0, 3, "tiêu đề gộp", "body")
        book.headers(ws, HEADER_ROW, columns)
        sheet = book.table_rows(ws, table.rows, columns)
    insert_rows(path, [sheet])
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert xml.count("<mergeCells") == 1
    ranges = sorted(str(m) for m in openpyxl.load_workbook(path)["Bảng"].merged_cells.ranges)
    assert ranges == sorted(["A1:D1", *sheet.merges])
