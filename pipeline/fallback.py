"""The second readers: what reads a workbook that passed the guard when python-calamine cannot.

python-calamine is fast but strict, and refuses some valid files: an .ods saved by Gnumeric indents
its content.xml, and calamine stops at the first whitespace between two cells
(docs/upstream/calamine-ods-whitespace.md). Before a file is called corrupt it is read again, by an
independent reader for its format (decided by its bytes, as intake does):

* .xlsx, .xlsm: openpyxl, read-only, with the results the file saved (`data_only`) and without
  trusting the sheets' `<dimension>`;
* .xls: xlrd;
* .ods: a streaming parse of `content.xml` (defusedxml, no DTD): repeated rows and cells are
  counted, not expanded while empty, and a filled area larger than `max_cells` (the guard's limit)
  is refused before it is built.

`read_either` gives the grids in the shape of `sheets.read_grids` (rows from Excel row 1, columns
from A, None for empty; numbers as float, dates as date or datetime, as calamine gives them) and
the name of the second reader when it was the one that read. It runs wherever it is called: a run
calls it inside the worker job that reads the file (`pipeline.isolate`), so both readers share that
job's deadline and memory cap, and only a file the guard let through reaches either. When both
fail, `Unreadable` holds both errors and says why in Vietnamese (`explain`).
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from pipeline.findings import Code
from pipeline.guard import Limits
from pipeline.intake import sniff
from pipeline.numbers import number
from pipeline.sheets import Grid, column_letter, mark_unknown_cells, read_grids, sheet_parts

MAX_CELLS = Limits.max_cells  # the guard's default; a run passes its own
_MAX_COLUMNS = Limits.max_col
_MAX_ROWS = Limits.max_row
_TEXT_MAX = 1 << 20  # characters that <text:s text:c="..."/> may add to one cell

# The second reader of each kind, as the file's notice names it.
READERS = {
    "xlsx": "openpyxl, cho tệp .xlsx",
    "xlsm": "openpyxl, cho tệp .xlsx",
    "xls": "xlrd, cho tệp .xls",
    "ods": "đọc trực tiếp nội dung content.xml, cho tệp .ods",
}


@dataclass(frozen=True)
class Grids:
    sheets: dict[str, Grid]
    reader: str | None = None  # the second reader that read them (`READERS`), None when calamine did


class Unreadable(Exception):
    """Neither reader could read the file: calamine's error (`first`) and the second reader's
    (`second`, None when its kind has none)."""

    def __init__(self, first: BaseException, second: BaseException | None) -> None:
        self.first, self.second = first, second
        self.code, self.reason = explain(second) if second is not None else _first_reason(first)
        super().__init__(self.reason)

    @property
    def panicked(self) -> bool:
        """Whether calamine panicked (a Rust bug, reported as the reader's crash when both fail)."""
        return _is_panic(self.first)


class GridTooLarge(Exception):
    def __init__(self, sheet: str, rows: int, columns: int, limit: int) -> None:
        super().__init__(f"{sheet}: {rows} x {columns} > {limit}")
        self.sheet, self.rows, self.columns, self.limit = sheet, rows, columns, limit


class BadCell(Exception):
    def __init__(self, sheet: str, row: int, column: int, value: str) -> None:
        super().__init__(f"{sheet}!{column_letter(column)}{row + 1}: {value!r}")
        self.sheet, self.row, self.column, self.value = sheet, row, column, value


class MissingPart(Exception):
    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


class WrongPart(Exception):
    """A part that is not of the kind the package says (a sheet where the workbook should be)."""

    def __init__(self, part: str) -> None:
        super().__init__(part)
        self.part = part


class Unsupported(Exception):
    """A package the second reader knows it cannot read right (it would read it wrong)."""

    def __init__(self, words: str) -> None:
        super().__init__(words)
        self.words = words


def read_either(
    path: Path,
    wanted: Callable[[str], bool] | None = None,
    *,
    unknown_cells: bool = False,
    max_cells: int = MAX_CELLS,
    plain: frozenset[str] = frozenset(),
    empty_text: bool = False,
) -> Grids:
    """The sheets of `path` (those whose name is `wanted`), read by calamine, or, when calamine
    fails to parse the file, by the second reader of its kind.

    Raises `Unreadable` when both fail, and calamine's own error when the file is encrypted
    (PasswordError: no reader can do better). Running out of memory, like an interrupt, is the
    caller's. `unknown_cells`, `plain` and `empty_text` as in `sheets.read_grids` (the second
    readers give None for an empty cell).
    """
    try:
        return Grids(read_grids(path, wanted, unknown_cells=unknown_cells, plain=plain, empty_text=empty_text))
    except BaseException as first:
        if not _retry(first):
            raise
        first_error = first
    with open(path, "rb") as fh:
        kind = sniff(path, fh.read(8))
    read = _READ.get(kind)
    if read is None:
        raise Unreadable(first_error, None) from first_error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's "extension not supported" and the like
            grids = read(path, wanted, max_cells)
    except MemoryError:
        raise
    except Exception as second:
        raise Unreadable(first_error, second) from second
    if unknown_cells:
        mark_unknown_cells(path, grids, plain)
    return Grids(grids, READERS[kind])


def _retry(exc: BaseException) -> bool:
    """Whether the second reader should try after calamine's `exc`: any ordinary error or Rust
    panic, but not an encrypted file, running out of memory or an interrupt."""
    if isinstance(exc, MemoryError):
        return False
    if isinstance(exc, Exception):
        return type(exc).__name__ != "PasswordError"
    return _is_panic(exc)


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"  # pyo3's, a BaseException


def _first_reason(exc: BaseException) -> tuple[Code, str]:
    if str(exc) == "Cannot detect file format":  # every calamine format tried, none could read it
        return Code.CORRUPT_FILE, "trình đọc không nhận ra cấu trúc bên trong tệp"
    return Code.CORRUPT_FILE, "cấu trúc bên trong tệp không đúng chuẩn"


_TWO = "đã thử hai trình đọc"


def explain(exc: BaseException) -> tuple[Code, str]:
    """What the second reader's error says about the file, as a finding code and a Vietnamese
    reason for the union's clerk (no reader's own words)."""
    if isinstance(exc, GridTooLarge):
        return Code.GRID_TOO_LARGE, (
            f'vùng dữ liệu của trang "{exc.sheet}" đến {number(exc.rows)} dòng × {number(exc.columns)} cột, '
            f"vượt {number(exc.limit)} ô"
        )
    if isinstance(exc, Unsupported):
        return Code.UNSUPPORTED_FORMAT, exc.words
    if isinstance(exc, BadCell):
        value = exc.value if len(exc.value) <= 40 else exc.value[:40] + "…"
        return Code.CORRUPT_FILE, (
            f'ô {column_letter(exc.column)}{exc.row + 1} của trang "{exc.sheet}" ghi giá trị "{value}" '
            f"không đúng kiểu của ô; {_TWO}"
        )
    if isinstance(exc, MissingPart):
        return Code.CORRUPT_FILE, f'tệp thiếu phần "{exc.part}" bên trong; {_TWO}'
    if isinstance(exc, WrongPart):
        return Code.CORRUPT_FILE, f'phần "{exc.part}" bên trong tệp không chứa đúng nội dung của nó; {_TWO}'
    if type(exc).__name__ in ("DTDForbidden", "EntitiesForbidden", "ExternalReferenceForbidden"):
        return Code.FORBIDDEN_XML, "khai báo DOCTYPE/ENTITY trong tệp"
    if isinstance(exc, ParseError):
        line, column = getattr(exc, "position", (0, 0))
        return Code.CORRUPT_FILE, f"nội dung bên trong tệp sai cấu trúc XML ở dòng {line}, cột {column}; {_TWO}"
    if isinstance(exc, zipfile.BadZipFile | zlib.error | EOFError):
        return Code.CORRUPT_FILE, f"gói nén của tệp bị hỏng hoặc bị cắt cụt; {_TWO}"
    if isinstance(exc, KeyError):  # openpyxl: "There is no item named '...' in the archive"
        named = re.search(r"named '([^']{1,80})'", str(exc))
        part = f'"{named.group(1)}" ' if named else ""
        return Code.CORRUPT_FILE, f"tệp thiếu phần {part}bên trong; {_TWO}"
    if isinstance(exc, UnicodeError):
        return Code.CORRUPT_FILE, f"chữ trong tệp không đúng bảng mã tệp khai báo; {_TWO}"
    if type(exc).__module__.startswith("xlrd"):
        return Code.CORRUPT_FILE, f"cấu trúc tệp .xls không đúng chuẩn Excel 97-2003; {_TWO}"
    return Code.CORRUPT_FILE, f"cấu trúc bên trong tệp không đúng chuẩn; {_TWO}"


def _shaped(grid: Grid) -> Grid:
    """The grid as calamine gives it: up to the last row and column holding a value, rectangular."""
    while grid and all(v is None for v in grid[-1]):
        grid.pop()
    width = max((i + 1 for row in grid for i, v in enumerate(row) if v is not None), default=0)
    return [row[:width] + [None] * (width - len(row)) if len(row) != width else row for row in grid]


class _Extent:
    """The filled area of the sheets read so far, against the limit (as the guard counts it)."""

    def __init__(self, max_cells: int) -> None:
        self.max_cells = max_cells
        self.before = 0  # cells of the sheets done

    def check(self, sheet: str, rows: int, columns: int) -> None:
        if rows > _MAX_ROWS or columns > _MAX_COLUMNS or self.before + rows * columns > self.max_cells:
            raise GridTooLarge(sheet, rows, columns, self.max_cells)


# --- .xlsx, .xlsm: openpyxl -------------------------------------------------------------------------

_STRICT = b"purl.oclc.org/ooxml/spreadsheetml/main"


def _read_openpyxl(path: Path, wanted: Callable[[str], bool] | None, max_cells: int) -> dict[str, Grid]:
    import openpyxl

    with zipfile.ZipFile(path) as zf:
        names = {n.replace("\\", "/").lower(): n for n in zf.namelist()}
        _check_package(zf, names)
        book = names.get("xl/workbook.xml")
        if book is not None:
            with zf.open(book) as fh:
                if _STRICT in fh.read(4096):  # openpyxl reads such a workbook as empty sheets
                    raise Unsupported("bảng tính lưu dạng Strict Open XML")
    extent = _Extent(max_cells)
    grids: dict[str, Grid] = {}
    with open(path, "rb") as fh:  # a file object: openpyxl would otherwise judge by the extension
        wb = openpyxl.load_workbook(fh, read_only=True, data_only=True, keep_links=False)
        try:
            for ws in wb.worksheets:
                if wanted is not None and not wanted(ws.title):
                    continue
                ws.reset_dimensions()  # read-only mode would trust the sheet's <dimension>
                grid: Grid = []
                width = 0
                for row in ws.iter_rows():
                    values = [_openpyxl_value(c) for c in row]
                    grid.append(values)
                    if any(v is not None for v in values):
                        width = max(width, len(values))
                        extent.check(ws.title, len(grid), width)
                grids[ws.title] = shaped = _shaped(grid)
                extent.before += len(shaped) * (len(shaped[0]) if shaped else 0)
        finally:
            wb.close()
    return grids


_FIRST_DAY = dt.datetime(1900, 1, 1)  # serial 1: before it, a number formatted as a date is a time of day


def _check_package(zf: zipfile.ZipFile, names: dict[str, str]) -> None:
    """What openpyxl passes over but makes a package: its content types; its relationships,
    well-formed, naming a part that is a workbook; and each sheet the workbook lists, present and a
    sheet. openpyxl skips a listed sheet whose part is missing and reads a part of another kind as
    an empty one: such a package is broken, not a workbook with a sheet less."""
    from defusedxml.ElementTree import fromstring

    for part in ("[Content_Types].xml", "_rels/.rels"):
        if part.lower() not in names:
            raise MissingPart(part)
    with zf.open(names["_rels/.rels"]) as fh:
        root = fromstring(fh.read(1 << 20), forbid_dtd=True)
    targets = [str(rel.get("Target", "")) for rel in root if str(rel.get("Type", "")).endswith("/officeDocument")]
    if not targets:
        raise MissingPart("_rels/.rels")
    book = posixpath.normpath(targets[0].lstrip("/")).lower()
    if book not in names:
        raise MissingPart(targets[0].lstrip("/"))
    if _root(zf, names[book]) != "workbook":
        raise WrongPart(names[book])
    if book != "xl/workbook.xml" or "xl/_rels/workbook.xml.rels" not in names:
        return  # another layout: openpyxl finds its sheets, and `sheet_parts` would not
    for part in sheet_parts(zf).values():
        part = posixpath.normpath(part)
        if part.lower() not in names:
            raise MissingPart(part)
        if _root(zf, names[part.lower()]) not in _SHEET_ROOTS:
            raise WrongPart(part)


_SHEET_ROOTS = ("worksheet", "chartsheet", "dialogsheet", "macrosheet")
_ROOT = re.compile(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)")


def _root(zf: zipfile.ZipFile, part: str) -> str:
    """The local name of a part's root element ("" when there is none in its first 64 KB)."""
    with zf.open(part) as fh:
        head = fh.read(64 << 10)
    if b"\0" in head[:4096]:  # UTF-16: the markup is ASCII once the NULs are dropped
        head = head.replace(b"\0", b"")
    head = re.sub(rb"<!--.*?-->", b"", head, flags=re.S)
    match = _ROOT.search(head)
    return match.group(1).decode("ascii", "replace") if match else ""


def _openpyxl_value(cell: Any) -> Any:
    """A cell's value as calamine gives it: numbers as float, a whole day as a date, a time of day
    as a time, Excel's "_x000D_" escapes undone, errors and empty text as None."""
    value = cell.value
    if value is None or getattr(cell, "data_type", None) == "e":  # errors: `mark_unknown_cells` says which
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        if value < _FIRST_DAY:
            return value.time()
        return value.date() if value.time() == dt.time(0) else value
    if isinstance(value, str):
        from openpyxl.utils.escape import unescape

        return unescape(value) if "_x" in value else value or None
    return value


# --- .xls: xlrd --------------------------------------------------------------------------------------


def _read_xlrd(path: Path, wanted: Callable[[str], bool] | None, max_cells: int) -> dict[str, Grid]:
    import xlrd

    extent = _Extent(max_cells)
    grids: dict[str, Grid] = {}
    with open(os.devnull, "w") as log:  # xlrd prints its warnings
        book = xlrd.open_workbook(file_contents=path.read_bytes(), on_demand=True, logfile=log, verbosity=0)
        try:
            for index, name in enumerate(book.sheet_names()):
                # Every sheet is parsed, as calamine parses the whole workbook stream: a sheet
                # broken anywhere means a broken file, not a missing sheet.
                sheet = book.sheet_by_index(index)
                if wanted is not None and not wanted(name):
                    book.unload_sheet(index)
                    continue
                extent.check(name, sheet.nrows, sheet.ncols)
                grid = [
                    [_xlrd_value(xlrd, sheet.cell_type(r, c), sheet.cell_value(r, c), book.datemode)
                     for c in range(sheet.ncols)]
                    for r in range(sheet.nrows)
                ]  # fmt: skip
                grids[name] = shaped = _shaped(grid)
                extent.before += len(shaped) * (len(shaped[0]) if shaped else 0)
                book.unload_sheet(index)
        finally:
            book.release_resources()
    return grids


def _xlrd_value(xlrd: Any, kind: int, value: Any, datemode: int) -> Any:
    if kind == xlrd.XL_CELL_TEXT:
        return value or None
    if kind == xlrd.XL_CELL_NUMBER:
        return float(value)
    if kind == xlrd.XL_CELL_DATE:
        try:
            moment = xlrd.xldate.xldate_as_datetime(value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return float(value)
        if 0 <= value < 1:
            return moment.time()
        return moment.date() if moment.time() == dt.time(0) else moment
    if kind == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    return None  # empty, blank, error


# --- .ods: content.xml -------------------------------------------------------------------------------

_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_CELLS = (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell")
_DURATION = re.compile(r"-?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?")


def _read_ods(path: Path, wanted: Callable[[str], bool] | None, max_cells: int) -> dict[str, Grid]:
    with zipfile.ZipFile(path) as zf:
        names = {n.replace("\\", "/").lower(): n for n in zf.namelist()}
        if "content.xml" not in names:
            raise MissingPart("content.xml")
        with zf.open(names["content.xml"]) as fh:
            return _OdsContent(wanted, max_cells).read(fh)


class _OdsContent:
    """One pass over content.xml. Each element is dropped from the tree once it has been used, so
    memory holds one row (and the grids built) whatever the size of the part."""

    def __init__(self, wanted: Callable[[str], bool] | None, max_cells: int) -> None:
        self.wanted = wanted
        self.extent = _Extent(max_cells)
        self.grids: dict[str, Grid] = {}
        self.sheet: str | None = None  # the table being read, None when it is not wanted
        self.grid: Grid = []
        self.width = 0
        self.row = 0  # rows before the current one
        self.cells: list[Any] = []  # the current row's cells, up to its last filled one
        self.col = 0  # cells before the next one

    def read(self, fh: IO[bytes]) -> dict[str, Grid]:
        from defusedxml.ElementTree import iterparse

        stack: list[Element] = []
        in_cell = 0  # depth of cell elements open (a cell's content is kept until the cell ends)
        for event, elem in iterparse(fh, events=("start", "end"), forbid_dtd=True):
            tag = elem.tag
            if event == "start":
                stack.append(elem)
                if tag in _CELLS:
                    in_cell += 1
                elif tag == f"{_TABLE}table" and not in_cell:
                    self._start_table(elem.get(f"{_TABLE}name") or f"Sheet{len(self.grids) + 1}")
                continue
            stack.pop()
            if tag in _CELLS:
                in_cell -= 1
                if not in_cell:
                    self._cell(elem)
            elif in_cell:
                continue  # inside a cell: read with the cell
            elif tag == f"{_TABLE}table-row":
                self._end_row(elem)
            elif tag == f"{_TABLE}table":
                self._end_table()
            if stack:
                stack[-1].remove(elem)  # done with it: its parent holds no more than the open child
        return self.grids

    def _start_table(self, name: str) -> None:
        self.sheet = name if self.wanted is None or self.wanted(name) else None
        self.grid, self.width, self.row = [], 0, 0
        self.cells, self.col = [], 0

    def _end_table(self) -> None:
        if self.sheet is not None:
            # Up to the last filled cell, as calamine reads (a formula with an empty result counts).
            self.grids[self.sheet] = [row + [None] * (self.width - len(row)) for row in self.grid]
            self.extent.before += len(self.grid) * self.width
        self.sheet = None

    def _cell(self, elem: Element) -> None:
        repeat = self._count(elem, f"{_TABLE}number-columns-repeated")
        if self.sheet is None:
            return
        value = self._value(elem)
        start, self.col = self.col, self.col + repeat
        if value is None and not _filled(elem):
            return  # empty cells are counted, not stored: a row's trailing thousands cost nothing
        self.extent.check(self.sheet, self.row + 1, max(self.width, self.col))
        self.cells.extend([None] * (start - len(self.cells)))
        self.cells.extend([value] * repeat)

    def _end_row(self, elem: Element) -> None:
        repeat = self._count(elem, f"{_TABLE}number-rows-repeated")
        if self.sheet is not None and self.cells:
            last = self.row + repeat
            self.width = max(self.width, len(self.cells))
            self.extent.check(self.sheet, last, self.width)
            self.grid.extend([] for _ in range(self.row - len(self.grid)))
            self.grid.append(self.cells)
            self.grid.extend(list(self.cells) for _ in range(repeat - 1))
        self.row += repeat
        self.cells, self.col = [], 0

    def _count(self, elem: Element, attribute: str) -> int:
        raw = elem.get(attribute)
        if raw is None:
            return 1
        if not raw.strip().isdigit():
            raise BadCell(self.sheet or "", self.row, self.col, raw)
        return max(1, int(raw))

    def _value(self, elem: Element) -> Any:
        kind = elem.get(f"{_OFFICE}value-type")
        try:
            if kind in ("float", "percentage", "currency") or (kind is None and f"{_OFFICE}value" in elem.attrib):
                raw = elem.get(f"{_OFFICE}value")
                return None if raw is None else float(raw)
            if kind == "date":
                raw = elem.get(f"{_OFFICE}date-value")
                return None if raw is None else _date(raw)
            if kind == "time":
                raw = elem.get(f"{_OFFICE}time-value")
                return None if raw is None else _duration(raw)
            if kind == "boolean":
                return elem.get(f"{_OFFICE}boolean-value", "").strip().lower() == "true"
        except ValueError:
            raise BadCell(self.sheet or "", self.row, self.col, str(raw)) from None
        if kind == "string":
            text = elem.get(f"{_OFFICE}string-value")
            if text is None:
                text = "\n".join(_paragraph(p) for p in elem if p.tag in (f"{_TEXT}p", f"{_TEXT}h"))
            return text or None
        return None


def _filled(elem: Element) -> bool:
    """Whether a cell counts as filled though it has no value (a formula whose result is empty, an
    empty text): it then extends the sheet's area, as it does for calamine and for the guard."""
    return f"{_OFFICE}value-type" in elem.attrib or f"{_TABLE}formula" in elem.attrib


def _date(raw: str) -> dt.date | dt.datetime:
    raw = raw.strip()
    if "T" in raw:
        return dt.datetime.fromisoformat(raw)
    return dt.date.fromisoformat(raw)


def _duration(raw: str) -> dt.time | str:
    """An ISO 8601 duration ("PT10H30M00S") as calamine gives it: a time of day under 24 hours,
    the text itself otherwise."""
    text = raw.strip()
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT", "-P"):
        raise ValueError(raw)
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    span = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if text.startswith("-") or span >= dt.timedelta(days=1):
        return text
    return (dt.datetime.min + span).time()


def _paragraph(elem: Element) -> str:
    """The text of a <text:p>: its spans and links, <text:s> as spaces, tabs and line breaks;
    not the whitespace that a writer put between elements to indent them."""
    parts: list[str] = []
    size = 0

    def walk(node: Element) -> None:
        nonlocal size
        if node.text:
            parts.append(node.text)
        for child in node:
            tag = child.tag
            if tag == f"{_TEXT}s":
                raw = child.get(f"{_TEXT}c", "1")
                count = min(int(raw) if raw.isdigit() else 1, max(0, _TEXT_MAX - size))
                parts.append(" " * count)
                size += count
            elif tag == f"{_TEXT}tab":
                parts.append("\t")
            elif tag == f"{_TEXT}line-break":
                parts.append("\n")
            elif tag != f"{_OFFICE}annotation":
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(elem)
    return "".join(parts)


_READ: dict[str, Callable[[Path, Callable[[str], bool] | None, int], dict[str, Grid]]] = {
    "xlsx": _read_openpyxl,
    "xlsm": _read_openpyxl,
    "xls": _read_xlrd,
    "ods": _read_ods,
}
