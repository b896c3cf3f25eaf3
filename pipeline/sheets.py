"""Low-level spreadsheet access shared by the reader and the roster: calamine grids and CSV.

`read_grid` returns every sheet of a workbook as rows of raw cell values, anchored at A1 so that
a value's position is its Excel cell. `column_letter` turns a 0-based column index into "A".."XFD".
A file calamine cannot parse is read by a second reader in the same shape (`pipeline.fallback`).
"""

from __future__ import annotations

import csv
import functools
import html
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Grid = list[list[Any]]

# What Python's zipfile raises on a damaged or unusual package: besides BadZipFile, a "version
# needed to extract" it does not know is NotImplementedError, and a mangled directory or header can
# surface as any of the others. Every place that opens a received package catches all of them.
ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    ValueError,
    EOFError,
    OSError,
    struct.error,
    IndexError,
    zlib.error,
)
ZIP_ERRORS_OR_MISSING: tuple[type[Exception], ...] = (*ZIP_ERRORS, KeyError)


def column_number(letters: str) -> int:
    """Excel's number of a column: "A" is 1, "XFD" 16384 (the inverse of `column_letter`, plus one)."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + ord(ch) - 64
    return number


EXCEL_TEXT_MAX = 32_767  # characters one cell of a workbook holds


def cell_text(value: str) -> str:
    """`value` cut to what one cell holds, with "…" where it was cut."""
    return value if len(value) <= EXCEL_TEXT_MAX else value[: EXCEL_TEXT_MAX - 1] + "…"


@functools.lru_cache(maxsize=1024)
def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class CellError(str):
    """An error value that a cell shows (#DIV/0!, #REF!, #N/A ...), where readers give an empty cell."""

    __slots__ = ()


class FormulaText(str):
    """A formula saved without its result ("=SUM(A1:A3)"): a program that does not calculate wrote
    it, and readers give an empty cell. Its value is unknown, not blank."""

    __slots__ = ()


def read_grids(
    path: Path,
    wanted: Callable[[str], bool] | None = None,
    *,
    unknown_cells: bool = False,
    plain: frozenset[str] = frozenset(),
    empty_text: bool = False,
) -> dict[str, Grid]:
    """Every sheet's cells (or those of the sheets whose name is `wanted`), rows from Excel row 1
    and columns from A, empty cells as None. With `unknown_cells`, a cell of an .xlsx whose value
    the file does not hold (an error value, a formula without its result) is a `CellError` or a
    `FormulaText` instead of None; the sheets named in `plain` are known to hold none (the guard's
    `Verdict`). With `empty_text`, an empty cell may also be "" (calamine's own value for it, kept
    as it is to spare a pass over every cell): for a caller that takes "" for blank."""
    from python_calamine import CalamineWorkbook

    # From the bytes, not the name: calamine then picks the format by content (an .xls renamed
    # .xlsx is still read), which intake has already checked.
    with open(path, "rb") as fh:
        workbook = CalamineWorkbook.from_filelike(fh)
    try:
        names = [n for n in workbook.sheet_names if wanted is None or wanted(n)]
        read = _as_read if empty_text else _anchored
        grids = {name: read(workbook.get_sheet_by_name(name)) for name in names}
    finally:
        workbook.close()
    if unknown_cells:
        mark_unknown_cells(path, grids, plain)
    return grids


def mark_unknown_cells(path: Path, grids: dict[str, Grid], plain: frozenset[str] = frozenset()) -> None:
    """Put into an .xlsx's grids (whoever read them) the cells whose value the file does not hold:
    a `CellError` or a `FormulaText` where the reader saw nothing (None, or ""). The sheets named in
    `plain` are not looked at: the guard found no error value and no formula in them."""
    names = [name for name in grids if name not in plain]
    if not names or not zipfile.is_zipfile(path):
        return
    for name, cells in _unknown_xlsx_cells(path, names).items():
        _overlay(grids[name], cells)


# A cell element of a worksheet part, with its attributes and content (prefixed tags too).
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
_TYPE = re.compile(rb'\bt="([a-zA-Z]+)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?v>)", re.S)
# Plain byte searches first: a regular expression over a whole sheet costs more than reading it.
# A sheet part without any of these holds no error value and no formula (the guard looks too).
UNKNOWN_MARKERS = ("<f>", "<f ", ":f>", ":f ", 't="e"')
_MAYBE = tuple(marker.encode() for marker in UNKNOWN_MARKERS)


def _unknown_xlsx_cells(path: Path, names: list[str]) -> dict[str, dict[tuple[int, int], str]]:
    """The cells of the named sheets that hold an error value or a formula without its result.

    The package has been through the guard (bounded, no DTD) when a run reads it; anything that
    does not look like a standard workbook here is left to the reader's own view.
    """
    out: dict[str, dict[tuple[int, int], str]] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            parts = sheet_parts(zf)
            for name in names:
                part = parts.get(name)
                if part is None or part not in zf.NameToInfo:
                    continue
                data = zf.read(part)
                if any(marker in data for marker in _MAYBE):
                    cells = dict(_unknown_cells(data))
                    if cells:
                        out[name] = cells
    except ZIP_ERRORS_OR_MISSING:
        return out
    return out


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its part in the package, from xl/workbook.xml and its relationships."""
    return parse_sheet_parts(zf.read("xl/workbook.xml"), zf.read("xl/_rels/workbook.xml.rels"))


def parse_sheet_parts(workbook: bytes, relationships: bytes) -> dict[str, str]:
    """`sheet_parts` from the bytes of xl/workbook.xml and xl/_rels/workbook.xml.rels."""
    book = workbook.decode("utf-8", "replace")
    rels = relationships.decode("utf-8", "replace")
    targets = {}
    for rel in re.findall(r"<(?:\w+:)?Relationship\b[^>]*>", rels):
        rid, target = re.search(r'\bId="([^"]*)"', rel), re.search(r'\bTarget="([^"]*)"', rel)
        if rid and target:
            path = target.group(1)
            targets[rid.group(1)] = path.lstrip("/") if path.startswith("/") else f"xl/{path}"
    parts = {}
    for sheet in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", book):
        name, rid = re.search(r'\bname="([^"]*)"', sheet), re.search(r'\br:id="([^"]*)"', sheet)
        if name and rid and rid.group(1) in targets:
            parts[html.unescape(name.group(1))] = targets[rid.group(1)]
    return parts


def _unknown_cells(data: bytes) -> Iterator[tuple[tuple[int, int], str]]:
    for match in _CELL.finditer(data):
        attributes, content = match.group(1), match.group(2) or b""
        kind = _TYPE.search(attributes)
        ref = _REF.search(attributes)
        if ref is None:
            continue
        value = _VALUE.search(content)
        cached = value.group(1) if value else None
        where = (int(ref.group(2)), column_number(ref.group(1).decode()) - 1)
        if kind and kind.group(1) == b"e":
            if cached:
                yield where, CellError(html.unescape(cached.decode("utf-8", "replace")))
            continue
        formula = _FORMULA.search(content)
        if formula is None:
            continue
        # No result saved: no <v>, or an empty one where a number was due (a text result may be "").
        if cached is None or (not cached and not (kind and kind.group(1) in (b"str", b"inlineStr"))):
            text = html.unescape((formula.group(1) or b"").decode("utf-8", "replace"))
            yield where, FormulaText(f"={text}" if text else "=…")


def _overlay(grid: Grid, cells: dict[tuple[int, int], str]) -> None:
    """Put the cells into the grid, where the reader saw nothing (it read a value otherwise)."""
    for (row, col), value in cells.items():
        while len(grid) < row:
            grid.append([])
        line = grid[row - 1]
        if len(line) <= col:
            line.extend([None] * (col + 1 - len(line)))
        if line[col] is None or line[col] == "":
            line[col] = value


def _anchored(sheet: Any) -> Grid:
    rows = sheet.to_python(skip_empty_area=False)
    return [[None if v == "" else v for v in row] for row in rows]


def _as_read(sheet: Any) -> Grid:
    rows: Grid = sheet.to_python(skip_empty_area=False)
    return rows


def read_csv(path: Path) -> Grid:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
    return [[v if v != "" else None for v in row] for row in csv.reader(io.StringIO(text), dialect)]


def nonblank_rows(grid: Grid) -> Iterator[tuple[int, list[Any]]]:
    """(Excel row number, cells) for rows holding at least one value."""
    for i, row in enumerate(grid, start=1):
        if any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
            yield i, row
