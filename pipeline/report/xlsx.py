"""The report model as an Excel workbook: the report's text and tables, native charts, the data behind them.

`write_report_xlsx` writes one workbook (atomically) with xlsxwriter:

- "Báo cáo": the report as it reads (`pipeline.report.model`), each table by its title with a link
  to its sheet; the officer's text still showing its hint filled yellow;
- one sheet per table of the model, in the document's order: "Bảng 1" to "Bảng 4" and "Phụ lục I"
  to "Phụ lục III", with the same columns, rows and totals as the DOCX;
- "Biểu đồ" (the charts) and "Số liệu biểu đồ" (their series);
- "Sáng kiến" (every row of the consolidated dataset, with its source file, sheet and row, filters
  and frozen headers), "Lỗi" (every finding) and "Nguồn" (the files the figures come from, with
  their SHA-256): where every figure comes from.

Numbers are real numbers with number formats ('#,##0', '0.0%', 'dd/mm/yyyy'), so that they can be
summed and sorted; a percentage is the fraction it prints (the shares of a table add up as
printed); totals are the figures' own totals written as values (the workbook holds no formula at
all). Every piece of text, all of it untrusted, is written with `write_string` (`Book.string`: text
shaped like rich-text markup, which xlsxwriter would put into the sheet unescaped, as rich text; the
long sheets' rows by `pipeline.report.rows`), and the workbook is opened with the options that stop
xlsxwriter turning strings into formulas, links or numbers. Text
that starts like a formula ("=", "+", "-", "@") also gets Excel's quote prefix, so that editing the
cell in Excel later cannot turn it into one; the text itself is kept as typed. Each sheet has a
title with the as-of date, prints on A4 landscape fitted to the page's width with its header row
repeated, in Times New Roman; rows of wrapped text are as tall as their text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import numbers
from pipeline.config import Settings
from pipeline.figures import Figures, PhaseProgress
from pipeline.files import atomic_path
from pipeline.form import Form
from pipeline.render.fit import wrapped_lines
from pipeline.render.outputs import FINDINGS_COLUMNS, FINDINGS_HEADERS
from pipeline.report.model import Block, Bullets, Cell, Chart, Paragraph, Report, Row, Section, Table, fit_widths
from pipeline.report.rows import RowsColumn, SheetRows, cell_xml, insert_rows, is_blank
from pipeline.results import RunResult
from pipeline.sheets import cell_text, column_letter
from pipeline.text import FORMULA_START

FONT = "Times New Roman"
TITLE_ROW, SUBTITLE_ROW, NOTE_ROW, HEADER_ROW = 0, 1, 2, 3  # 0-based; the first table's header is Excel row 4
FIRST_ROW = HEADER_ROW + 1
DATASET_MAX_ROWS = 1_048_576 - FIRST_ROW  # the rows of a sheet below the dataset's header
LINE_HEIGHT, MAX_LINES = 13.5, 30  # points per line of 11 pt text; Excel's row height limit is 409 points
WORKBOOK_OPTIONS = {
    # Each row goes to a temporary file as soon as the next one starts: memory stays flat however
    # long the dataset (every sheet is written top to bottom, which this mode requires).
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "default_format_properties": {"font_name": FONT, "font_size": 11},
}

# The sheets, in order; the model's tables by their key.
TABLE_SHEETS = {
    "bang-1": "Bảng 1",
    "bang-2": "Bảng 2",
    "bang-3": "Bảng 3",
    "bang-4": "Bảng 4",
    "phu-luc-1": "Phụ lục I",
    "phu-luc-2": "Phụ lục II",
    "phu-luc-3": "Phụ lục III",
}
SHEETS = {
    "report": "Báo cáo",
    **{key: name for key, name in TABLE_SHEETS.items() if key.startswith("bang")},
    "charts": "Biểu đồ",
    **{key: name for key, name in TABLE_SHEETS.items() if key.startswith("phu-luc")},
    "dataset": "Sáng kiến",
    "findings": "Lỗi",
    "sources": "Nguồn",
    "chart_data": "Số liệu biểu đồ",
}

# The dataset's own columns (the form's fields take the form's labels).
DATASET_LABELS = {
    "giai_doan": "Giai đoạn",
    "so_nguoi_tham_gia": "Số người tham gia",
    "tep_nguon": "Tệp nguồn",
    "sha256_nguon": "SHA-256 của tệp nguồn",
    "trang_nguon": "Trang trong tệp nguồn",
    "dong_nguon": "Dòng trong tệp nguồn",
}
DATASET_KINDS = {"so_nguoi_tham_gia": "int", "dong_nguon": "int"}
DATASET_WIDTHS = {
    "giai_doan": 12, "so_nguoi_tham_gia": 10, "tep_nguon": 22, "sha256_nguon": 20, "trang_nguon": 12, "dong_nguon": 9,
}  # fmt: skip
DATASET_UNIT_WIDTHS = {"unit_code": 9, "unit_name": 32, "sector": 18, "commune": 16}  # by role

_NUM_FORMATS = {
    "text": None,
    "int": "#,##0",
    "money": "#,##0",
    "pct": "0.0%",
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}
_ROW_STYLES: dict[str, dict[str, Any]] = {
    "body": {},
    "subtotal": {"bold": True, "bg_color": "#F2F2F2"},
    "total": {"bold": True, "bg_color": "#DDEBF7"},
}
_CHART_FONT = {"name": FONT, "size": 10}
# The report's text on its sheet: a format per kind of line.
LINE_STYLES: dict[str, dict[str, Any]] = {
    "title": {"font_size": 14, "bold": True},
    "heading": {"font_size": 12, "bold": True},
    "italic": {"font_size": 11, "italic": True},
    "body": {"font_size": 11},
    "hint": {"font_size": 11, "italic": True, "bg_color": "#FFF3A3"},
}
NUMBERS = (int, float, np.integer, np.floating)


def per_line(width: float, bold: bool = False) -> float:
    """Characters a line of wrapped text in a column `width` wide (erring on the tall side)."""
    return width * (0.92 if bold else 1.05)


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    kind: str = "text"  # text | int | money | pct | date | datetime


def write_report_xlsx(
    path: Path,
    report: Report,
    frame: pd.DataFrame,
    result: RunResult,
    settings: Settings,
    form: Form,
    made: DatasetRows | None = None,
) -> Path:
    """The report's workbook at `path`, written to a temporary file and renamed; returns `path`.
    `made`: the dataset sheet's rows, made ahead (`make_dataset_rows`)."""
    return write_workbook(path, lambda wb: _write_sheets(wb, report, frame, result, settings, form, made))


def write_workbook(path: Path, sheets: Callable[[Any], Sequence[SheetRows]]) -> Path:
    """A workbook at `path`, written to a temporary file and renamed: `sheets` writes its sheets with
    xlsxwriter and gives back the long sheets' rows, which go into the saved package after
    (`pipeline.report.rows`). Returns `path`."""
    import xlsxwriter

    with atomic_path(path) as tmp:
        with xlsxwriter.Workbook(str(tmp), WORKBOOK_OPTIONS) as wb:  # closed even on error
            rows = sheets(wb)
        insert_rows(tmp, rows)
    return path


def _write_sheets(
    wb: Any,
    report: Report,
    frame: pd.DataFrame,
    result: RunResult,
    settings: Settings,
    form: Form,
    made: DatasetRows | None = None,
) -> list[SheetRows]:
    """Every sheet; the rows of the tables, the dataset and the sources come back to be put into
    the saved package (`pipeline.report.rows`)."""
    figures = report.figures
    wb.set_properties(
        {
            "title": report.document_title,
            "subject": report.period,
            "author": report.author,
            "company": report.author,
        }
    )
    book = Book(wb, report)
    # The dataset's styles first, as `make_dataset_rows` takes them: rows made ahead have their indexes.
    book.row_specs(dataset_columns(frame, form), wrap=False, border=False)
    sheets = {key: wb.add_worksheet(name) for key, name in SHEETS.items()}
    _report_text(book, sheets["report"], report)
    appendices = {t.key: a for a in report.appendices for t in a.blocks if isinstance(t, Table)}
    long_sheets: list[SheetRows] = []
    for table in report.tables():
        appendix = appendices.get(table.key)
        title = f"{appendix.heading}. {appendix.title}" if appendix else table.title
        long_sheets += filter(None, [_table_sheet(book, sheets[table.key], table, title)])
    long_sheets.append(_dataset(book, sheets["dataset"], frame, form, made))
    _findings(book, sheets["findings"], result)
    long_sheets.append(write_sources(book, sheets["sources"], figures))
    _charts(book, sheets["charts"], sheets["chart_data"], figures)
    sheets["report"].activate()
    return long_sheets


# --- cells and sheets --------------------------------------------------------------------------------


class Book:
    """The workbook, its formats (made once each) and the sheet furniture."""

    def __init__(self, wb: Any, report: Report | None) -> None:
        self.wb = wb
        self.subtitle = f"{report.author} – Số liệu tính đến ngày {numbers.date(report.as_of)}" if report else ""
        self._formats: dict[tuple[Any, ...], Any] = {}
        self._widths: dict[str, dict[int, float]] = {}  # sheet -> column -> width
        self._lines: dict[str, dict[int, int]] = {}  # sheet -> row -> lines of its tallest wrapped cell
        self._line_formats: dict[tuple[str, bool], Any] = {}
        self._run_formats: dict[tuple[Any, ...], Any] = {}
        self.title = wb.add_format({"font_name": FONT, "font_size": 14, "bold": True})
        self.body = wb.add_format({"font_name": FONT, "font_size": 11, "text_wrap": True, "valign": "top"})
        self.hint = wb.add_format(
            {
                "font_name": FONT,
                "font_size": 11,
                "text_wrap": True,
                "valign": "top",
                "italic": True,
                "bg_color": "#FFF3A3",
            }
        )
        self.link = wb.add_format({"font_name": FONT, "font_size": 11, "font_color": "#0563C1", "underline": 1})
        self.heading = wb.add_format({"font_name": FONT, "font_size": 12, "bold": True})
        self.italic = wb.add_format({"font_name": FONT, "font_size": 11, "italic": True})
        self.header = wb.add_format(
            {
                "font_name": FONT,
                "font_size": 11,
                "bold": True,
                "text_wrap": True,
                "align": "center",
                "valign": "vcenter",
                "border": 1,
                "bg_color": "#DDEBF7",
            }
        )

    def fmt(self, kind: str, style: str = "body", wrap: bool = True, quote: bool = False, border: bool = True) -> Any:
        key = (kind, style, wrap, quote, border)
        if key not in self._formats:
            props: dict[str, Any] = {"font_name": FONT, "font_size": 11, "valign": "top", "border": int(border)}
            props.update(_ROW_STYLES[style])
            if _NUM_FORMATS[kind]:
                props["num_format"] = _NUM_FORMATS[kind]
            if kind == "text":
                props["text_wrap"] = wrap
                props["quote_prefix"] = quote
            elif kind in ("date", "datetime"):
                props["align"] = "center"
            self._formats[key] = self.wb.add_format(props)
        return self._formats[key]

    def put(self, ws: Any, row: int, col: int, value: Any, kind: str = "text", style: str = "body") -> None:
        """One cell as data: text is always a string, numbers numbers, dates dates; never a formula."""
        if is_blank(value):
            ws.write_blank(row, col, None, self.fmt(kind, style))
        elif kind == "text" or isinstance(value, str):
            self.text(ws, row, col, str(value), style)
        elif kind in ("date", "datetime"):
            ws.write_datetime(row, col, value, self.fmt(kind, style))
        else:
            ws.write_number(row, col, float(value), self.fmt(kind, style))

    def text(self, ws: Any, row: int, col: int, value: str, style: str = "body", wrap: bool = True) -> None:
        value = cell_text(value)
        fmt = self.fmt("text", style, wrap, value.startswith(FORMULA_START))
        self.string(ws, row, col, value, fmt, {"bold": bool(_ROW_STYLES[style].get("bold"))})
        if wrap:
            self._wrapped(ws, row, col, value, bold=style != "body")

    def string(self, ws: Any, row: int, col: int, text: str, fmt: Any, font: dict[str, Any]) -> None:
        """`text` in a cell as text. In constant memory, xlsxwriter writes a string that starts with
        "<r>" and ends with "</r>" into the sheet as it is, taking it for rich-text markup: a union's
        text could put a formula into the workbook that way. Such a text goes in as rich text of two
        runs in the cell's font (`font`: its size, bold, italic), which reads back as the same text."""
        if not (text.startswith("<r>") and text.endswith("</r>")):
            ws.write_string(row, col, text, fmt)
            return
        look: dict[str, Any] = {k: font[k] for k in ("font_size", "bold", "italic") if k in font}
        props = {"font_name": FONT, "font_size": 11, **look}
        key = tuple(sorted(props.items()))
        if key not in self._run_formats:
            self._run_formats[key] = self.wb.add_format(props)
        run = self._run_formats[key]
        ws.write_rich_string(row, col, run, text[:1], run, text[1:], fmt)

    def width(self, ws: Any, col: int, width: float) -> None:
        ws.set_column(col, col, width)
        self._widths.setdefault(ws.name, {})[col] = width

    def _wrapped(self, ws: Any, row: int, col: int, value: str, bold: bool, width: float | None = None) -> None:
        """Make the row as tall as this wrapped cell needs: Excel works row heights out, LibreOffice
        does not. Set while the row is being written (the workbook is written in constant memory:
        a row is final once the next one starts)."""
        width = width or self._widths.get(ws.name, {}).get(col)
        if width is None:
            return
        lines = min(wrapped_lines(value, per_line(width, bold)), MAX_LINES)
        rows = self._lines.setdefault(ws.name, {})
        if lines > rows.get(row, 1):
            rows[row] = lines
            ws.set_row(row, LINE_HEIGHT * lines + 2)

    def row(self, ws: Any, row: int, values: Sequence[Any], columns: Sequence[Column], style: str = "body") -> None:
        for col, (value, column) in enumerate(zip(values, columns, strict=True)):
            self.put(ws, row, col, value, column.kind, style)

    def rows(
        self, ws: Any, frame: pd.DataFrame, columns: Sequence[Column], *, wrap: bool = True, border: bool = True
    ) -> SheetRows:
        """The rows of `frame` (its columns those of `columns`) below the header that `sheet` wrote,
        the cells as `row` writes them (wrapped and with borders, or not), each row as tall as its
        wrapped text: `insert_rows` puts them into the saved package (`pipeline.report.rows`), so
        nothing else is written below the header of `ws`."""
        specs = self.row_specs(columns, wrap=wrap, border=border)
        index = [s for s in self.wb.worksheets() if not s.is_chartsheet].index(ws)
        height = (lambda lines: LINE_HEIGHT * lines + 2) if wrap else None
        return SheetRows(f"xl/worksheets/sheet{index + 1}.xml", frame, specs, FIRST_ROW, height, MAX_LINES)

    def row_specs(
        self, columns: Sequence[Column], *, wrap: bool, border: bool, style: str = "body"
    ) -> tuple[RowsColumn, ...]:
        """The styles of `rows`' cells, column by column, in rows of `style` (their formats made,
        and their indexes taken, now)."""
        specs = []
        for c in columns:
            text, quoted = (self.fmt("text", style, wrap=wrap, quote=q, border=border) for q in (False, True))
            typed = self.fmt(c.kind, style, border=border)
            # Used by no cell of xlsxwriter's: ask for their indexes now (see test_report_xlsx).
            text_i, quoted_i, typed_i = (f._get_xf_index() for f in (text, quoted, typed))
            blank = (text_i if c.kind == "text" else typed_i) if border else None  # a border shows empty cells too
            specs.append(RowsColumn(c.kind, text_i, quoted_i, typed_i, blank, per_line(c.width) if wrap else 0.0))
        return tuple(specs)

    def table_rows(self, ws: Any, rows: Sequence[Row], columns: Sequence[Column]) -> SheetRows:
        """A table's rows below the header that `sheet` wrote, as `rows` writes them: the body's a
        column at a time, each group (one text across the table), subtotal and total (its first
        cells merged, `Row.span`) as `merged` and `put` write them, in bold."""
        body: list[list[Any]] = []
        special: dict[int, str] = {}
        merges: list[str] = []
        sheet = self.rows(ws, pd.DataFrame(), columns)  # the body's styles; the frame comes below
        for i, row in enumerate(rows):
            if row.kind == "body" and row.span is None:
                body.append([_table_value(cell, column.kind) for cell, column in zip(row.cells, columns, strict=True)])
            else:
                body.append([None] * len(columns))
                special[i] = self._table_row(sheet, FIRST_ROW + i + 1, row, columns, merges)
        return replace(sheet, frame=values_frame(body, len(columns)), special=special, merges=tuple(merges))

    def _table_row(self, sheet: SheetRows, number: int, row: Row, columns: Sequence[Column], merges: list[str]) -> str:
        """A group, subtotal or total row (Excel row `number`): its `<row>` element, its merged
        ranges added to `merges`."""
        style = "subtotal" if row.kind == "group" else row.kind
        bold = style != "body"
        cells = [row.cells[0]] if row.kind == "group" else list(row.cells)
        spans = (len(columns),) if row.kind == "group" else row.span or (1,) * len(cells)
        xml: list[str] = []
        lines = 1
        col = 0
        for cell, span in zip(cells, spans, strict=True):
            kind = columns[col].kind if span == 1 else "text"
            (spec,) = self.row_specs([Column("", 0.0, kind)], wrap=True, border=True, style=style)  # as `put` styles it
            value = _table_value(cell, kind)
            ref = f"{column_letter(col)}{number}"
            if span > 1:  # as `merged`: the text in the first cell, the range's other cells blank in its style
                merges.append(f"{ref}:{column_letter(col + span - 1)}{number}")
                first, text = cell_xml(ref, cell.text, spec)
                blank = spec.quoted if cell.text.startswith(FORMULA_START) else spec.text
                if not cell.text:  # `merged` writes an empty text, not an empty cell
                    first = f'<c r="{ref}" s="{blank}" t="inlineStr"><is><t></t></is></c>'
                xml.append(first)
                xml += [f'<c r="{column_letter(c)}{number}" s="{blank}"/>' for c in range(col + 1, col + span)]
                width = sum(c.width for c in columns[col : col + span])
            else:
                one, text = cell_xml(ref, value, spec)
                xml.append(one)
                width = columns[col].width
            if text is not None:
                lines = max(lines, min(wrapped_lines(text, per_line(width, bold)), MAX_LINES))
            col += span
        return f'<row r="{number}"{sheet.row_height(lines)}>{"".join(xml)}</row>'

    def sheet(self, ws: Any, title: str, columns: Sequence[Column], note: str = "", fit: bool = True) -> int:
        """Title, subtitle with the as-of date, header row, widths and the page setup; the first data row."""
        ws.write_string(TITLE_ROW, 0, title, self.title)
        ws.write_string(SUBTITLE_ROW, 0, self.subtitle, self.italic)
        if note:
            ws.write_string(NOTE_ROW, 0, note, self.italic)
        for col, column in enumerate(columns):
            self.width(ws, col, column.width)
        self.headers(ws, HEADER_ROW, columns)
        self.page(ws, fit)
        ws.repeat_rows(HEADER_ROW)
        return FIRST_ROW

    def headers(self, ws: Any, row: int, columns: Sequence[Column]) -> None:
        for col, column in enumerate(columns):
            ws.write_string(row, col, column.header, self.header)
            self._wrapped(ws, row, col, column.header, bold=True)

    def line(self, ws: Any, row: int, text: str, style: str = "body") -> None:
        """A line of the report's text in the first column, wrapped, its row as tall as it needs."""
        quote = text.startswith(FORMULA_START)  # a list's "- ": text, also once edited
        key = (style, quote)
        if key not in self._line_formats:
            props = {"font_name": FONT, "text_wrap": True, "valign": "top", **LINE_STYLES[style], "quote_prefix": quote}
            self._line_formats[key] = self.wb.add_format(props)
        self.string(ws, row, 0, cell_text(text), self._line_formats[key], LINE_STYLES[style])
        self._wrapped(ws, row, 0, text, bold=style in ("title", "heading"))

    def merged(self, ws: Any, row: int, first: int, last: int, text: str, style: str) -> None:
        """Text across columns `first` to `last` (a group's name, a subtotal's label)."""
        fmt = self.fmt("text", style, True, text.startswith(FORMULA_START))
        ws.merge_range(row, first, row, last, "", fmt)
        self.string(ws, row, first, cell_text(text), fmt, {"bold": bool(_ROW_STYLES[style].get("bold"))})
        width = sum(self._widths.get(ws.name, {}).get(c, 8.43) for c in range(first, last + 1))
        self._wrapped(ws, row, first, text, bold=style != "body", width=width)

    def page(self, ws: Any, fit: bool = True, landscape: bool = True) -> None:
        ws.set_paper(9)  # A4
        if landscape:
            ws.set_landscape()
        else:
            ws.set_portrait()
        ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
        ws.set_footer(f'&L&"{FONT},Italic"&9&A&R&"{FONT},Regular"&9Trang &P/&N')
        if fit:
            ws.fit_to_pages(1, 0)


# --- the report's text and tables, from the model ------------------------------------------------------

_KINDS = {"no": "int", "count": "int", "money": "money", "percent": "pct", "date": "date", "text": "text",
          "code": "text"}  # fmt: skip
MM_PER_CHAR = 1.9  # a character of the 11-point text, in millimetres of the DOCX page
LONG_TABLE = 20  # rows: a longer table keeps its header in view (frozen)


def _report_text(book: Book, ws: Any, report: Report) -> None:
    """The report as it reads, top to bottom: title, sections with their paragraphs and lists, each
    table by its title with a link to its sheet, the closing and the signature. The officer's text
    still showing its hint is filled yellow."""
    book.width(ws, 0, 110)
    book.page(ws, fit=True, landscape=False)
    r = 0
    for text, style in (
        (report.header.org_name, "heading"),
        (report.header.dateline, "italic"),
        (report.title, "title"),
        (report.subtitle, "heading"),
        (report.period, "italic"),
    ):
        book.line(ws, r, text, style)
        r += 1
    r += 1
    book.line(ws, r, report.opening.text)
    r += 1

    def blocks(items: Sequence[Block]) -> None:
        nonlocal r
        for b in items:
            if isinstance(b, Paragraph):
                book.line(ws, r, b.text, "hint" if b.hint else "body")
                r += 1
            elif isinstance(b, Bullets):
                for item in b.items:
                    book.line(ws, r, item, "hint" if b.hint else "body")
                    r += 1
            elif isinstance(b, Table):
                sheet = TABLE_SHEETS[b.key]
                label = b.title or sheet
                ws.write_url(r, 0, f"internal:'{sheet}'!A1", book.link, f"{label} (xem trang “{sheet}”)")
                r += 1
            elif isinstance(b, Chart):
                ws.write_url(r, 0, f"internal:'{SHEETS['charts']}'!A1", book.link, f"{b.title} (xem trang “Biểu đồ”)")
                r += 1

    def section(s: Section, level: int) -> None:
        nonlocal r
        r += level == 1
        book.line(ws, r, s.heading, "heading")
        r += 1
        blocks(s.blocks)
        for sub in s.subsections:
            section(sub, level + 1)

    for s in report.sections:
        section(s, 1)
    r += 1
    for p in report.closing:
        book.line(ws, r, p.text, "hint" if p.hint else "body")
        r += 1
    r += 1
    for text in (report.recipients_title, *report.recipients, "", report.signature.on_behalf,
                 report.signature.title, "", report.signature.name):  # fmt: skip
        if text:
            book.line(ws, r, text)
        r += 1
    for a in report.appendices:
        r += 1
        book.line(ws, r, f"{a.heading}. {a.title}", "heading")
        r += 1
        blocks(a.blocks)


def _table_sheet(book: Book, ws: Any, table: Table, title: str) -> SheetRows | None:
    """A table of the model on its own sheet: numbers as numbers (a percentage as the fraction it
    prints), text as text, "–" where a figure does not exist; groups, subtotals and the total as in
    the document. A long table keeps its header in view. Its rows come back to be put into the
    saved package (`Book.table_rows`)."""
    columns = table_columns(table)
    r = book.sheet(ws, title, columns, " ".join(table.notes))
    if len(table.rows) > LONG_TABLE:
        ws.freeze_panes(FIRST_ROW, 0)
    if not table.rows:
        book.text(ws, r, 0, table.empty, wrap=False)
        return None
    return book.table_rows(ws, table.rows, columns)


def table_columns(table: Table) -> list[Column]:
    """A table's columns on its sheet: as wide as on the document's page (an appendix's landscape
    page, or a portrait one), each of the kind its cells are written as."""
    widths = fit_widths(table.columns, table.rows, 252 if table.key.startswith("phu-luc") else 165, 11)
    return [
        Column(c.header, max(6.0, round(w / MM_PER_CHAR, 1)), _KINDS[c.kind])
        for c, w in zip(table.columns, widths, strict=True)
    ]


def values_frame(rows: Sequence[Sequence[Any]], width: int) -> pd.DataFrame:
    """Rows of `width` values each (numbers, text, dates, None as they come) as the frame `Book.rows` takes."""
    return pd.DataFrame(list(rows), columns=range(width), dtype=object)


def _table_value(cell: Cell, kind: str) -> Any:
    """What a table's cell holds in the workbook: its number, or else its text."""
    return cell.value if cell.value is not None and kind != "text" else cell.text


def cut_to_sheet(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The initiatives of `frame` that a sheet holds below its header (1,048,576 rows at most: a
    whole country), with the note that says so when some are left out; "" when none is."""
    if len(frame) <= DATASET_MAX_ROWS:
        return frame, ""
    note = (
        f"Trang này có {numbers.number(DATASET_MAX_ROWS)} sáng kiến đầu tiên trong tổng số "
        f"{numbers.number(len(frame))}; danh sách đầy đủ ở tệp du-lieu-tong-hop.csv và du-lieu-tong-hop.parquet."
    )
    return frame.iloc[:DATASET_MAX_ROWS], note


def dataset_columns(frame: pd.DataFrame, form: Form) -> list[Column]:
    """The dataset sheet's columns: the form's fields by their labels, the dataset's own after."""
    fields = {f.key: f for f in (*form.unit, *form.initiative)}
    columns = []
    for key in frame.columns:
        f = fields.get(key)
        if f is not None:
            kind = {"integer": "int", "date": "date"}.get(f.type, "text")
            columns.append(Column(f.label, DATASET_UNIT_WIDTHS.get(f.role, max(f.width, 9)), kind))
        else:
            columns.append(Column(DATASET_LABELS.get(key, str(key)), DATASET_WIDTHS.get(key, 14),
                                  DATASET_KINDS.get(key, "text")))  # fmt: skip
    return columns


@dataclass(frozen=True)
class DatasetRows:
    """The dataset sheet's rows made ahead (`make_dataset_rows`), for the workbook written next in
    the same process: their XML in chunks, for these styles and this many rows."""

    specs: tuple[RowsColumn, ...]
    count: int
    chunks: list[bytes]


# Up to this many rows (about 190 MB of XML), the report workbook's process makes the dataset
# sheet's rows while the run makes the figures (`make_dataset_rows`); a longer dataset's are made
# with the workbook, a chunk at a time.
MADE_AHEAD_MAX_ROWS = 100_000
_MADE: dict[tuple[str, int, int], DatasetRows] = {}  # by the Parquet file's path, size and time


def make_dataset_rows(parquet: Path, form: Form) -> int:
    """Make the dataset sheet's rows from the dataset's Parquet file, for the report workbook that
    this process writes next (`write_report_xlsx` with that file, `made_rows`). A job for the
    workbook's own process, given while the run makes the figures: the rows are about half of the
    workbook's work. Their styles take the workbook's first style indexes (`_write_sheets` asks for
    them first too). Returns the rows made (0: none, the dataset is too long to keep)."""
    import io

    import xlsxwriter

    frame, _ = cut_to_sheet(pd.read_parquet(parquet))
    if len(frame) > MADE_AHEAD_MAX_ROWS:
        return 0
    columns = dataset_columns(frame, form)
    wb = xlsxwriter.Workbook(io.BytesIO(), {**WORKBOOK_OPTIONS, "in_memory": True})
    specs = Book(wb, None).row_specs(columns, wrap=False, border=False)
    wb.close()
    rows = SheetRows("", frame, specs, FIRST_ROW)
    _MADE.clear()
    _MADE[_made_key(parquet)] = DatasetRows(specs, len(frame), [bytes(chunk) for chunk in rows.chunks()])
    return len(frame)


def made_rows(parquet: Path) -> DatasetRows | None:
    """The rows `make_dataset_rows` made in this process from `parquet` as it is now (taken: once)."""
    return _MADE.pop(_made_key(parquet), None)


def _made_key(parquet: Path) -> tuple[str, int, int]:
    found = parquet.stat()
    return str(parquet.resolve()), found.st_size, found.st_mtime_ns


def _dataset(book: Book, ws: Any, frame: pd.DataFrame, form: Form, made: DatasetRows | None = None) -> SheetRows:
    """Every row of the consolidated dataset, one line each, with a filter on every column (the
    rows as `made` ahead, when they are these rows in these styles)."""
    columns = dataset_columns(frame, form)
    frame, note = cut_to_sheet(frame)
    book.sheet(ws, "Danh sách sáng kiến tổng hợp", columns, note=note)
    ws.set_paper(8)  # A3: its many columns fitted to the width of a larger page stay readable
    ws.repeat_columns(0, 1)
    ws.hide_gridlines(0)  # printed too: the dataset has no borders
    last = FIRST_ROW + len(frame) - 1
    ws.autofilter(HEADER_ROW, 0, max(last, HEADER_ROW), len(columns) - 1)
    ws.freeze_panes(FIRST_ROW, 2)
    rows = book.rows(ws, frame, columns, wrap=False, border=False)
    if made is not None and made.specs == rows.columns and made.count == len(frame):
        return replace(rows, made=made.chunks)
    return rows


FINDING_COLUMNS = tuple(Column(h, w) for h, w in zip(FINDINGS_HEADERS, (30, 12, 6, 22, 20, 10, 16, 70), strict=True))


def _findings(book: Book, ws: Any, result: RunResult) -> None:
    r = book.sheet(ws, "Kết quả kiểm tra các tệp (lỗi, cảnh báo, ghi nhận)", FINDING_COLUMNS)
    for file in result.files:
        for f in file.findings:
            d = f.to_dict()
            d["severity"] = f.severity.label
            book.row(ws, r, [d[c] for c in FINDINGS_COLUMNS], FINDING_COLUMNS)
            r += 1
    ws.autofilter(HEADER_ROW, 0, max(r - 1, HEADER_ROW), len(FINDING_COLUMNS) - 1)
    ws.freeze_panes(FIRST_ROW, 0)


SOURCE_COLUMNS = (
    Column("STT", 5, "int"),
    Column("Mã CĐCS", 9),
    Column("Công đoàn cơ sở", 28),
    Column("Khối", 23),
    Column("Tệp", 32),
    Column("Ngày nhận", 15, "datetime"),
    Column("Số liệu tính đến ngày", 11, "date"),
    Column("Tình trạng", 15),
    Column("Số sáng kiến", 9, "int"),
    Column("SHA-256", 68),
)


def write_sources(book: Book, ws: Any, figures: Figures) -> SheetRows:
    """The files the figures come from, a row each (a province's thousands: the rows come back to be
    put into the saved package, `Book.rows`)."""
    from pipeline.results import Status

    labels = {s.value: s.label for s in Status}
    book.sheet(ws, "Các tệp số liệu được dùng để tổng hợp", SOURCE_COLUMNS)
    rows = [
        (i, f.code, f.unit, f.sector, f.file, f.received_at, f.as_of_date, labels.get(f.status, f.status),
         f.initiatives, f.sha256)
        for i, f in enumerate(figures.sources, start=1)
    ]  # fmt: skip
    return book.rows(ws, values_frame(rows, len(SOURCE_COLUMNS)), SOURCE_COLUMNS)


# --- charts ------------------------------------------------------------------------------------------


CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 560, 320, 10  # pixels
CHART_ROWS = 17  # rows of 20 pixels a chart takes, with a gap


def _progress_series(p: PhaseProgress, as_of: dt.date) -> list[tuple[dt.date, int | None]]:
    """(date, cumulative initiatives) from the phase's start to its end; blank after the as-of date."""
    dates = sorted({p.start, p.end, *(d for d, _ in p.points), *([as_of] if p.start <= as_of <= p.end else [])})
    out: list[tuple[dt.date, int | None]] = []
    count = 0
    points = iter(p.points)
    nxt = next(points, None)
    for d in dates:
        while nxt is not None and nxt[0] <= d:
            count = nxt[1]
            nxt = next(points, None)
        out.append((d, count if d <= as_of else None))
    return out


def _count_chart(wb: Any, kind: str, title: str, color: str, block: list[Any]) -> Any:
    """A one-series chart of counts ("Số sáng kiến") from a two-column block of the data sheet
    (sheet name, first and last row), labelled, without a legend; the caller sets the axes."""
    name, first, last = block
    chart = wb.add_chart({"type": kind})
    chart.add_series(
        {
            "name": "Số sáng kiến",
            "categories": [name, first, 0, last, 0],
            "values": [name, first, 1, last, 1],
            "fill": {"color": color},
            "data_labels": {"value": True, "font": _CHART_FONT},
        }
    )
    chart.set_title(_title(title))
    chart.set_legend({"none": True})
    return chart


def _title(name: str) -> dict[str, Any]:
    return {"name": name, "name_font": {"name": FONT, "size": 12, "bold": True}}


def _axis(name: str | None = None, **extra: Any) -> dict[str, Any]:
    axis: dict[str, Any] = {"num_font": _CHART_FONT, **extra}
    if name:
        axis["name"] = name
        axis["name_font"] = {**_CHART_FONT, "bold": False}
    return axis


def _date_ticks(start: dt.date, end: dt.date) -> dict[str, Any]:
    """A date axis with a tick every few days or months, so that its labels do not crowd."""
    axis: dict[str, Any] = {"date_axis": True, "num_format": "dd/mm/yyyy", "min": start, "max": end}
    days = (end - start).days
    if days > 120:
        axis.update(major_unit=max(1, round(days / 30 / 6)), major_unit_type="months")
    else:
        axis.update(major_unit=max(1, round(days / 7)), major_unit_type="days")
    return axis


def _charts(book: Book, ws: Any, data: Any, figures: Figures) -> None:
    """The charts on "Biểu đồ", their series on "Số liệu biểu đồ" (one block per chart)."""
    wb = book.wb
    ws.write_string(TITLE_ROW, 0, "Biểu đồ", book.title)
    ws.write_string(SUBTITLE_ROW, 0, book.subtitle, book.italic)
    book.page(ws)
    ws.hide_gridlines(2)
    data.write_string(TITLE_ROW, 0, "Số liệu của các biểu đồ", book.title)
    data.write_string(SUBTITLE_ROW, 0, book.subtitle, book.italic)
    book.page(data)
    for col, width in enumerate((14, 40, 14, 14)):
        book.width(data, col, width)
    name = SHEETS["chart_data"]
    r = HEADER_ROW
    placed: list[tuple[Any, int]] = []  # (chart, width in pixels)

    def block(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> tuple[int, int]:
        nonlocal r
        data.write_string(r, 0, title, book.heading)
        book.headers(data, r + 1, columns)
        first = r + 2
        for i, values in enumerate(rows):
            book.row(data, first + i, values, columns)
        r = first + len(rows) + 1
        return first, first + len(rows) - 1

    # Progress against each phase target.
    for p in figures.charts.progress:
        series = _progress_series(p, figures.as_of)
        columns: tuple[Column, ...] = (Column("Ngày", 14, "date"), Column("Số sáng kiến cộng dồn", 40, "int"),
                   Column("Chỉ tiêu", 14, "int"))  # fmt: skip
        first, last = block(f"Tiến độ {p.phase}", columns, [(d, n, p.target) for d, n in series])
        chart = wb.add_chart({"type": "line"})
        chart.add_series(
            {
                "name": "Số sáng kiến đăng ký (cộng dồn)",
                "categories": [name, first, 0, last, 0],
                "values": [name, first, 1, last, 1],
                "marker": {"type": "circle", "size": 5},
                "line": {"color": "#1F4E79", "width": 2.25},
            }
        )
        chart.add_series(
            {
                "name": f"Chỉ tiêu {numbers.number(p.target)} sáng kiến",
                "categories": [name, first, 0, last, 0],
                "values": [name, first, 2, last, 2],
                "line": {"color": "#C00000", "dash_type": "dash", "width": 1.5},
            }
        )
        chart.set_title(_title(f"Tiến độ {p.phase} ({numbers.date(p.start)} – {numbers.date(p.end)})"))
        chart.set_x_axis(_axis("Ngày đăng ký", **_date_ticks(p.start, p.end)))
        chart.set_y_axis(_axis("Số sáng kiến", min=0, num_format="#,##0"))
        chart.set_legend({"position": "bottom", "font": _CHART_FONT})
        placed.append((chart, CHART_WIDTH))

    sector_rows = [(b.label, b.value) for b in figures.charts.by_sector]
    columns = (Column("Khối", 14), Column("Số sáng kiến", 40, "int"))
    first, last = block("Sáng kiến theo khối", columns, sector_rows)
    chart = _count_chart(wb, "column", "Sáng kiến theo khối", "#2E75B6", [name, first, last])
    chart.set_x_axis(_axis())
    chart.set_y_axis(_axis("Số sáng kiến", min=0, num_format="#,##0"))
    placed.append((chart, CHART_WIDTH))

    field_rows = [(b.label, b.value) for b in figures.charts.by_field]
    columns = (Column("Lĩnh vực", 14), Column("Số sáng kiến", 40, "int"))
    first, last = block("Sáng kiến theo lĩnh vực", columns, field_rows)
    chart = _count_chart(wb, "bar", "Sáng kiến theo lĩnh vực", "#548235", [name, first, last])
    chart.set_x_axis(_axis("Số sáng kiến", min=0, num_format="#,##0"))
    chart.set_y_axis(_axis(reverse=True, crossing="max"))  # first on top, the value axis below
    placed.append((chart, CHART_WIDTH))

    rates = [(b.key, b.label, b.value, figures.charts.rate_target) for b in figures.charts.rate_by_unit]
    columns = (Column("Mã CĐCS", 14), Column("Công đoàn cơ sở", 40), Column("Tỷ lệ", 14, "pct"),
               Column("Chỉ tiêu", 14, "pct"))  # fmt: skip
    first, last = block(figures.charts.rate_label, columns, rates)
    if rates:
        chart = wb.add_chart({"type": "column"})
        chart.add_series(
            {
                "name": "Tỷ lệ của CĐCS",
                "categories": [name, first, 0, last, 0],
                "values": [name, first, 2, last, 2],
                "fill": {"color": "#2E75B6"},
                "gap": 60,
            }
        )
        line = wb.add_chart({"type": "line"})
        line.add_series(
            {
                "name": f"Chỉ tiêu {numbers.percent(figures.charts.rate_target)}",
                "categories": [name, first, 0, last, 0],
                "values": [name, first, 3, last, 3],
                "line": {"color": "#C00000", "dash_type": "dash", "width": 2},
            }
        )
        chart.combine(line)
        chart.set_title(_title(f"{figures.charts.rate_label} theo CĐCS"))
        chart.set_x_axis(_axis("Mã CĐCS", num_font={**_CHART_FONT, "rotation": -90}))
        chart.set_y_axis(_axis(min=0, num_format="0%"))
        chart.set_legend({"position": "bottom", "font": _CHART_FONT})
        placed.append((chart, max(2 * CHART_WIDTH + CHART_GAP, 16 * len(rates) + 120)))

    # Two charts a row, two rows a page; a wide chart takes a page of its own.
    row, col, on_page, breaks = FIRST_ROW, 0, 0, []
    for chart, width in placed:
        wide = width > CHART_WIDTH
        if col and wide:
            row, col, on_page = row + CHART_ROWS, 0, on_page + 1
        if col == 0 and (on_page == 2 or (wide and on_page)):
            breaks.append(row)
            on_page = 0
        chart.set_size({"width": width, "height": CHART_HEIGHT + (60 if wide else 0)})
        chart.set_chartarea({"border": {"color": "#BFBFBF"}})
        ws.insert_chart(row, 0, chart, {"x_offset": col * (CHART_WIDTH + CHART_GAP), "y_offset": 6})
        col += 2 if wide else 1
        if col >= 2:
            row, col, on_page = row + CHART_ROWS + (3 if wide else 0), 0, on_page + (2 if wide else 1)
    ws.set_h_pagebreaks(breaks)
