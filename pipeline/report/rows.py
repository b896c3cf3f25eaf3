"""The rows of a long sheet, written as SpreadsheetML into the package xlsxwriter saved, a column at a time.

The report workbook's "Sáng kiến" sheet and the audit file's "Từng sáng kiến" hold a row per
initiative: tens or hundreds of thousands for a province. xlsxwriter writes a cell in about 15 µs of
Python. Here the cells of a column become their XML with Arrow's compute functions, the cells of a
row are joined into the row, and each chunk of rows goes into the part as the bytes Arrow holds: no
Python object per cell. Everything else of the sheet (title, header, widths, filter, panes, print
setup) is xlsxwriter's; `insert_rows` only puts the rows into its `<sheetData>` and widens its
`<dimension>`.

The cells are those xlsxwriter writes in constant memory: inline text with control characters as
`_xHHHH_` (a literal `_xHHHH_` as `_x005F_xHHHH_`), `xml:space="preserve"` where it starts or ends
with a space, escaped for XML, cut to what a cell holds; numbers as `%.16G`; dates as serial
numbers; each with its style's index. Text that starts like a formula takes the style with Excel's
quote prefix. Unlike xlsxwriter, text that looks like rich-text markup (`<r>...</r>`) is escaped
like any other. A column that Arrow cannot take as its kind (a number in a text column, text in a
date column) is written cell by cell (`cell_xml`), the same cells.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.render.fit import wrapped_lines
from pipeline.sheets import EXCEL_TEXT_MAX, cell_text, column_letter
from pipeline.text import FORMULA_START, WHITESPACE

NUMBER_KINDS = ("int", "money", "pct")
DATE_KINDS = ("date", "datetime")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_EPOCH_DAYS = (dt.date(1970, 1, 1) - _EXCEL_EPOCH.date()).days  # Arrow's day 0 as Excel's serial
_EXACT_INTEGER = 2**53  # a larger integer is not its float: xlsxwriter writes the float

# xlsxwriter's escapes (xmlwriter._escape_control_characters), in its order.
_ESCAPE_LIKE = "(_x[0-9a-fA-F]{4}_)"
_CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20))] + ["\ufffe", "\uffff"]
_ESCAPE_LIKE_RE = re.compile(_ESCAPE_LIKE)
_CONTROL_RE = re.compile("[" + "".join(_CONTROL) + "]")


def _re2_class(chars: Sequence[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


_CONTROL_RE2 = _re2_class(_CONTROL)
# The characters at an end of a text that make xlsxwriter keep its spaces (Python's \s), less those
# it escapes: those are the text's first or last character after escaping only where they were before.
_SPACES = pa.array([c for c in WHITESPACE if c not in _CONTROL], pa.large_string())
_FORMULA_FIRST = pa.array(FORMULA_START, pa.large_string())


@dataclass(frozen=True)
class RowsColumn:
    """A column of the rows: its kind and the indexes of its cells' styles (xlsxwriter's xf index)."""

    kind: str  # text | int | money | pct | date | datetime
    text: int  # text
    quoted: int  # text that starts like a formula (the style has Excel's quote prefix)
    typed: int  # a number or a date
    blank: int | None = None  # an empty cell, in this style (None: no cell at all)
    wrap: float = 0.0  # characters a line of its wrapped text (the row is as tall as it needs); 0: no wrap


@dataclass(frozen=True)
class SheetRows:
    """The rows to put into one sheet's part: `frame`'s columns in the order of `columns`, from the
    0-based row `first` down."""

    part: str  # "xl/worksheets/sheet5.xml"
    frame: pd.DataFrame
    columns: tuple[RowsColumn, ...]
    first: int
    height: Callable[[int], float] | None = None  # points for lines of wrapped text (with `wrap`)
    max_lines: int = 1
    # Rows written otherwise (a table's groups and totals), by their index in `frame`: each one's
    # whole `<row>` element, in place of what `frame` holds there; and the ranges of merged cells
    # ("A5:L5") to add to the sheet's.
    special: Mapping[int, str] = field(default_factory=dict)
    merges: tuple[str, ...] = ()
    made: Sequence[bytes] | None = None  # the rows' XML made ahead, in chunks (`chunks` gives them as they are)

    CHUNK_ROWS: ClassVar[int] = 10_000  # Arrow builds a chunk's XML at a time: memory stays flat

    def chunks(self) -> Iterator[pa.Buffer | bytes]:
        """The rows' XML, a chunk of rows at a time, as UTF-8 bytes."""
        if self.made is not None:
            yield from self.made
            return
        for start in range(0, len(self.frame), self.CHUNK_ROWS):
            chunk = self.frame.iloc[start : start + self.CHUNK_ROWS]
            yield self._chunk(chunk, self.first + start + 1)

    def _chunk(self, chunk: pd.DataFrame, excel_row: int) -> pa.Buffer | bytes:
        n = len(chunk)
        numbers = pc.cast(pa.array(np.arange(excel_row, excel_row + n, dtype=np.int64)), pa.large_string())
        cells: list[pa.Array] = []
        lines = np.ones(n, dtype=np.int64)
        series = (chunk.iloc[:, c] for c in range(chunk.shape[1]))
        for c, (column, values) in enumerate(zip(self.columns, series, strict=True)):
            xml, cell_lines = _column(values, column, column_letter(c), numbers)
            cells.append(xml)
            if cell_lines is not None:
                np.maximum(lines, cell_lines, out=lines)
        if self.height is not None and (lines > 1).any():
            tall = {k: self.row_height(k) for k in range(2, self.max_lines + 1)}
            attrs = pa.array([tall[min(k, self.max_lines)] if k > 1 else "" for k in lines.tolist()], pa.large_string())
            opening = _join('<row r="', numbers, '"', attrs, ">")
        else:
            opening = _join('<row r="', numbers, '">')
        rows = _join(opening, *cells, "</row>")
        first = excel_row - self.first - 1  # the chunk's first row in `frame`
        special = [i - first for i in self.special if first <= i < first + n]
        if special:
            mask = np.zeros(n, dtype=bool)
            mask[special] = True
            written = pa.array([self.special[first + i] for i in sorted(special)], pa.large_string())
            rows = pc.replace_with_mask(rows, pa.array(mask), written)
        return _utf8(rows)

    def row_height(self, lines: int) -> str:
        """The attributes of a row `lines` lines of wrapped text tall ("" for one): xlsxwriter's
        set_row(), the height in whole pixels written in points."""
        if self.height is None or lines <= 1:
            return ""
        return f' ht="{int(self.height(min(lines, self.max_lines)) * 4.0 / 3.0 + 0.5) * 0.75:.16g}" customHeight="1"'


# zlib's level for the package with the rows: a province's dataset sheet is 38 MB of XML, which
# level 4 deflates in 0.19 s to 3.7 MB, against 0.33 s to 3.5 MB at the default level 6 (the
# workbook is the run's last output to end: its time is the officer's).
COMPRESS_LEVEL = 4


def insert_rows(package: Path, sheets: Sequence[SheetRows]) -> None:
    """Put each of `sheets`' rows into its part of the saved `package` (rewritten in place), after
    what xlsxwriter wrote there, and widen the part's `<dimension>` to them."""
    todo = {s.part: s for s in sheets if len(s.frame) and s.columns}
    if not todo:
        return
    original = package.with_name(package.name + ".rows")
    package.replace(original)
    try:
        with zipfile.ZipFile(original) as src, zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                sheet = todo.get(info.filename)
                if sheet is None:
                    dst.writestr(info, data, compresslevel=COMPRESS_LEVEL)
                    continue
                last = f"{column_letter(len(sheet.columns) - 1)}{sheet.first + len(sheet.frame)}"
                xml = data.decode("utf-8")
                xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', xml, count=1)
                xml = _with_merges(xml, sheet.merges)
                end = xml.index("</sheetData>")
                member = zipfile.ZipInfo(info.filename, info.date_time)
                member.compress_type = zipfile.ZIP_DEFLATED
                member._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # as writestr(compresslevel=) does
                with dst.open(member, "w", force_zip64=True) as out:
                    out.write(xml[:end].encode("utf-8"))
                    for chunk in sheet.chunks():
                        out.write(chunk)
                    out.write(xml[end:].encode("utf-8"))
    finally:
        original.unlink(missing_ok=True)


# What may follow `<mergeCells>` in a sheet (SpreadsheetML's order, as xlsxwriter writes it).
_AFTER_MERGES = ("<phoneticPr", "<conditionalFormatting", "<dataValidations", "<hyperlinks", "<printOptions",
                 "<pageMargins", "<pageSetup", "<headerFooter", "<rowBreaks", "<colBreaks", "<ignoredErrors",
                 "<drawing", "<legacyDrawing", "<picture", "<tableParts", "<extLst", "</worksheet>")  # fmt: skip


def _with_merges(xml: str, merges: Sequence[str]) -> str:
    """The sheet's XML with `merges` among its merged cells (in the `<mergeCells>` xlsxwriter wrote,
    or a new one in its place)."""
    if not merges:
        return xml
    cells = "".join(f'<mergeCell ref="{ref}"/>' for ref in merges)
    found = re.search(r'<mergeCells count="(\d+)">', xml)
    if found is not None:
        end = xml.index("</mergeCells>", found.end())
        count = int(found.group(1)) + len(merges)
        return f'{xml[: found.start()]}<mergeCells count="{count}">{xml[found.end() : end]}{cells}{xml[end:]}'
    data_end = xml.index("</sheetData>") + len("</sheetData>")
    at = min(i for i in (xml.find(tag, data_end) for tag in _AFTER_MERGES) if i >= 0)
    return f'{xml[:at]}<mergeCells count="{len(merges)}">{cells}</mergeCells>{xml[at:]}'


# --- a column's cells --------------------------------------------------------------------------------


def _column(series: pd.Series, column: RowsColumn, letter: str, numbers: pa.Array) -> tuple[pa.Array, Any]:
    """The XML of a column's cells ("" for no cell), and the lines of each wrapped text (or None)."""
    values = _arrow(series, column.kind)
    if values is None:
        return _cell_by_cell(series, column, letter, numbers)
    refs = _join(f'<c r="{letter}', numbers)
    if not pa.types.is_large_string(values.type):  # whole numbers, or dates
        if pa.types.is_date32(values.type):
            values = pc.add(pc.cast(pc.cast(values, pa.int32()), pa.int64()), _EPOCH_DAYS)
        xml = _join(refs, f'" s="{column.typed}"><v>', pc.cast(values, pa.large_string()),
                                          "</v></c>", "")  # fmt: skip
        blank = pc.is_null(values)
        return pc.if_else(blank, _blank(refs, column), xml), None
    return _text_column(values, column, refs)


def _arrow(series: pd.Series, kind: str) -> pa.Array | None:
    """The column as Arrow takes it for `kind` (strings, whole numbers Excel holds exactly, dates),
    or None when it cannot."""
    try:
        values = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.large_string())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.cast(values, pa.large_string())
    if kind in NUMBER_KINDS and pa.types.is_integer(values.type):
        bounds = pc.min_max(values)
        least, most = bounds["min"].as_py(), bounds["max"].as_py()
        return values if least is None or -_EXACT_INTEGER <= least <= most <= _EXACT_INTEGER else None
    if kind in DATE_KINDS and pa.types.is_date32(values.type):
        return values
    return None


def _text_column(values: pa.Array, column: RowsColumn, refs: pa.Array) -> tuple[pa.Array, Any]:
    n = len(values)
    if pc.any(pc.greater(pc.utf8_length(values), EXCEL_TEXT_MAX // 2)).as_py():  # rare: cut in Python
        values = pa.array([None if v is None else _fit(v) for v in values.to_pylist()], pa.large_string())
    blank = pc.fill_null(pc.equal(pc.utf8_length(values), 0), True)
    first, last = pc.utf8_slice_codeunits(values, 0, 1), pc.utf8_slice_codeunits(values, -1)
    quoted = pc.is_in(first, value_set=_FORMULA_FIRST)
    spaced = pc.or_(pc.is_in(first, value_set=_SPACES), pc.is_in(last, value_set=_SPACES))
    text = pc.replace_substring_regex(values, _ESCAPE_LIKE, r"_x005F\1")
    if pc.any(pc.match_substring_regex(text, _CONTROL_RE2)).as_py():
        for ch in _CONTROL:
            text = pc.replace_substring(text, ch, f"_x{ord(ch):04X}_")
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = pc.replace_substring(text, raw, escaped)
    style = pc.if_else(quoted, _s(f'" s="{column.quoted}"'), _s(f'" s="{column.text}"'))
    space = pc.if_else(spaced, _s(' xml:space="preserve">'), _s(">"))
    xml = _join(refs, style, ' t="inlineStr"><is><t', space, text, "</t></is></c>")
    lines = None
    if column.wrap:
        # Text on one line of the column needs no more; the rest is laid out as Book._wrapped does.
        long = pc.or_(pc.greater(pc.utf8_length(values), column.wrap), pc.match_substring(values, "\n"))
        lines = np.ones(n, dtype=np.int64)
        at = np.flatnonzero(pc.fill_null(long, False).to_numpy(zero_copy_only=False))
        if len(at):
            # Each distinct text once: a union's name and its file's repeat on each of its initiatives.
            distinct = values.take(pa.array(at)).dictionary_encode()
            laid_out = np.array([wrapped_lines(v, column.wrap) for v in distinct.dictionary.to_pylist()], np.int64)
            lines[at] = laid_out[distinct.indices.to_numpy(zero_copy_only=False)]
    return pc.if_else(blank, _blank(refs, column), xml), lines


def _blank(refs: pa.Array, column: RowsColumn) -> pa.Array | pa.Scalar:
    return _s("") if column.blank is None else _join(refs, f'" s="{column.blank}"/>')


def _cell_by_cell(series: pd.Series, column: RowsColumn, letter: str, numbers: pa.Array) -> tuple[pa.Array, Any]:
    values = series.astype(object).tolist()
    xml: list[str] = []
    lines = np.ones(len(values), dtype=np.int64)
    for i, (value, number) in enumerate(zip(values, numbers.to_pylist(), strict=True)):
        cell, text = cell_xml(f"{letter}{number}", value, column)
        xml.append(cell)
        if text is not None and column.wrap:
            lines[i] = wrapped_lines(text, column.wrap)
    return pa.array(xml, pa.large_string()), lines if column.wrap else None


def cell_xml(ref: str, value: Any, column: RowsColumn) -> tuple[str, str | None]:
    """One cell's XML ("" for no cell) and, when it is written as text, the text it shows."""
    if is_blank(value):
        return ("" if column.blank is None else f'<c r="{ref}" s="{column.blank}"/>'), None
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if column.kind in NUMBER_KINDS and number and np.isfinite(value):
        return f'<c r="{ref}" s="{column.typed}"><v>{float(value):.16G}</v></c>', None
    if column.kind in DATE_KINDS and isinstance(value, dt.date):
        if isinstance(value, dt.datetime):  # a pandas Timestamp is one too
            serial: float = (value.replace(tzinfo=None) - _EXCEL_EPOCH).total_seconds() / 86400
        else:
            serial = (value - _EXCEL_EPOCH.date()).days
        return f'<c r="{ref}" s="{column.typed}"><v>{serial:.16G}</v></c>', None
    text = _fit(value if isinstance(value, str) else str(value))
    style = column.quoted if text.startswith(FORMULA_START) else column.text
    escaped = _ESCAPE_LIKE_RE.sub(r"_x005F\1", text)
    escaped = _CONTROL_RE.sub(lambda m: f"_x{ord(m.group()):04X}_", escaped)
    space = ' xml:space="preserve"' if escaped[:1].isspace() or escaped[-1:].isspace() else ""
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{xml_escape(escaped)}</t></is></c>', text


def is_blank(value: Any) -> bool:
    """An empty cell: None, "" or a missing value of pandas (NaN, NaT, NA)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value == ""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fit(text: str) -> str:
    """`text` cut to what a cell holds: our "…" past 32,767 characters, and then, as xlsxwriter
    does, at 32,767 UTF-16 units (a character above U+FFFF takes two)."""
    text = cell_text(text)
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > EXCEL_TEXT_MAX:
            return text[:i]
    return text


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _join(*parts: pa.Array | str) -> pa.Array:
    """The strings of `parts` joined row by row (a str: the same in every row)."""
    return pc.binary_join_element_wise(*(_s(p) if isinstance(p, str) else p for p in parts), _s(""))


def _utf8(rows: pa.Array) -> pa.Buffer | bytes:
    """The rows' XML as the UTF-8 bytes Arrow holds them in, end to end."""
    rows = pc.cast(rows, pa.large_string())
    if rows.null_count:
        raise ValueError("a row without XML")
    _, offsets, data = rows.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[rows.offset : rows.offset + len(rows) + 1]
    return data[int(bounds[0]) : int(bounds[-1])] if len(bounds) > 1 else b""
