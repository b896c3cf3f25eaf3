"""Low-level spreadsheet access shared by the reader and the roster: calamine grids and CSV.

`read_grid` returns every sheet of a workbook as rows of raw cell values, anchored at A1 so that
a value's position is its Excel cell. `column_letter` turns a 0-based column index into "A".."XFD".
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Grid = list[list[Any]]


@functools.lru_cache(maxsize=1024)
def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def read_grids(path: Path, wanted: Callable[[str], bool] | None = None) -> dict[str, Grid]:
    """Every sheet's cells (or those of the sheets whose name is `wanted`), rows from Excel row 1
    and columns from A, empty cells as None."""
    from python_calamine import CalamineWorkbook

    # From the bytes, not the name: calamine then picks the format by content (an .xls renamed
    # .xlsx is still read), which intake has already checked.
    with open(path, "rb") as fh:
        workbook = CalamineWorkbook.from_filelike(fh)
    try:
        names = [n for n in workbook.sheet_names if wanted is None or wanted(n)]
        return {name: _anchored(workbook.get_sheet_by_name(name)) for name in names}
    finally:
        workbook.close()


def _anchored(sheet: Any) -> Grid:
    rows = sheet.to_python(skip_empty_area=False)
    return [[None if v == "" else v for v in row] for row in rows]


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
