"""Reading stage: one workbook -> `WorkbookData` (records with their cells, plus repair notices).

Sheets are found by their normalised names, the unit record by its labels and the initiative table
by its header row, wherever they are. Every value keeps its Excel row and column. Values are
converted here (dates, Vietnamese numbers, list values) so that validation only checks rules;
what could not be read is an error finding at its cell, and every safe repair is a notice.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import compress, islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from pipeline.fallback import MAX_CELLS, Unreadable, read_either
from pipeline.findings import Code, Finding, Location, Severity, make
from pipeline.form import Field, Form
from pipeline.legacy import none_legacy
from pipeline.legacy import repair as repair_legacy
from pipeline.sheets import CellError, FormulaText, Grid, column_letter, nonblank_rows
from pipeline.text import WHITESPACE, clean_text, fold, has_controls
from pipeline.values import FIRST_DATE, INT_LIMIT, LAST_DATE, Parsed, is_blank, to_date, to_int, to_text

_HEADER_SCAN_ROWS = 40
_MIN_HEADER_MATCHES = 3
_LABEL_MAX = 200  # longer text is data, never a column header
_VALUE_HEADER = fold("Giá trị")


@dataclass(frozen=True, slots=True)
class Value:
    value: Any  # converted value; None when blank or unreadable
    raw: Any  # the cell as found
    row: int  # Excel row, 1-based
    column: str  # Excel column letter

    @property
    def cell(self) -> str:
        return f"{self.column}{self.row}"


@dataclass
class WorkbookData:
    """What was read from one workbook. The initiative rows are kept by column (`values`, `raws`,
    `row_numbers`): a file's rows travel from a worker process and into a DataFrame as plain lists,
    without a Python object per cell. `cell(i, key)` and `rows` give them back as `Value`s."""

    file: str  # the name shown to users
    path: Path
    sheets: dict[str, str] = field(default_factory=dict)  # form sheet key -> sheet name in the file
    unit: dict[str, Value] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # initiative key -> column letter
    values: dict[str, list[Any]] = field(default_factory=dict)  # initiative key -> converted value per row
    raws: dict[str, list[Any]] = field(default_factory=dict)  # initiative key -> cell as found, per row
    row_numbers: list[int] = field(default_factory=list)  # Excel row of each initiative
    form_id: str | None = None
    version: str | None = None
    template_unit: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """Whether the records could be located at all (file-level errors stop validation)."""
        return not any(f.severity is Severity.ERROR and f.location.row is None for f in self.findings)

    @property
    def count(self) -> int:
        """How many initiative rows were read."""
        return len(self.row_numbers)

    def cell(self, index: int, key: str) -> Value | None:
        """The `index`-th initiative's cell of `key`, or None when the file has no such column."""
        if key not in self.values:
            return None
        return Value(self.values[key][index], self.raws[key][index], self.row_numbers[index], self.columns[key])

    @property
    def rows(self) -> list[dict[str, Value]]:
        """The initiatives one by one (built on each call: for tests and small files)."""
        return [
            {k: Value(v[i], self.raws[k][i], n, self.columns[k]) for k, v in self.values.items()}
            for i, n in enumerate(self.row_numbers)
        ]

    def records(self) -> Iterator[dict[str, Any]]:
        """The initiatives' values one by one, by key (made as they are asked for)."""
        values = self.values
        for i in range(len(self.row_numbers)):
            yield {k: v[i] for k, v in values.items()}

    def location(self, sheet_key: str, cell: Value | None = None) -> Location:
        sheet = self.sheets.get(sheet_key)
        if cell is None:
            return Location(self.file, sheet)
        return Location(self.file, sheet, cell.row, cell.column)


def read_workbook(
    path: Path,
    form: Form,
    name: str | None = None,
    *,
    max_cells: int = MAX_CELLS,
    plain_sheets: frozenset[str] = frozenset(),
) -> WorkbookData:
    """Read one workbook in this process. Untrusted files go through `pipeline.isolate` instead.

    python-calamine reads it; when calamine cannot parse it, the second reader of its format does
    (`pipeline.fallback`, within `max_cells`, the guard's limit), and a notice says so. A reader's
    exception becomes the file's finding. Running out of memory is left to the caller, and so is a
    Rust panic of calamine when the second reader fails too (the caller records a reader crash).
    `plain_sheets` are the sheets the guard found no error value nor formula in (`guard.Verdict`).
    """
    data = WorkbookData(file=name or path.name, path=path)
    try:
        read = read_either(
            path, _wanted(form), unknown_cells=True, max_cells=max_cells, plain=plain_sheets, empty_text=True
        )
    except MemoryError:
        raise
    except Unreadable as exc:
        if exc.panicked:
            raise exc.first from None
        data.findings.append(make(exc.code, Severity.ERROR, Location(data.file), reason=exc.reason))
        return data
    except Exception as exc:
        code, reason = reader_error(exc)
        data.findings.append(make(code, Severity.ERROR, Location(data.file), reason=reason))
        return data
    if read.reader is not None:
        data.findings.append(make(Code.FALLBACK_READER, Severity.NOTICE, Location(data.file), reader=read.reader))
    return read_grids_into(data, read.sheets, form)


def _wanted(form: Form) -> Callable[[str], bool]:
    """The sheets the reader looks at (not the guide): the others are not loaded at all."""
    names = {fold(name) for key, name in form.sheets.items() if key != "guide"}
    return lambda name: fold(name) in names


def reader_error(exc: Exception) -> tuple[Code, str]:
    """A reader's exception that no second reader could help with (an encrypted file, a file that
    cannot be opened) as a finding code and a Vietnamese reason."""
    if type(exc).__name__ == "PasswordError":
        return Code.PASSWORD_PROTECTED, "tệp được mã hóa bằng mật khẩu"
    return Code.CORRUPT_FILE, f"trình đọc báo lỗi: {_reason(exc)}"


def read_grids_into(data: WorkbookData, grids: dict[str, Grid], form: Form) -> WorkbookData:
    """`data` with what `grids` hold (an empty cell None or "")."""
    by_fold = {fold(name): name for name in grids}
    for key, wanted in form.sheets.items():
        if fold(wanted) in by_fold:
            data.sheets[key] = by_fold[fold(wanted)]
    _read_meta(data, grids, form)
    if data.form_id is not None and data.form_id != form.id:
        data.findings.append(make(Code.OTHER_FORM, Severity.ERROR, data.location("lists"), form_id=data.form_id))
        return data
    for key in ("unit", "initiatives"):
        if key not in data.sheets:
            data.findings.append(make(Code.MISSING_SHEET, Severity.ERROR, Location(data.file), sheet=form.sheets[key]))
    if not data.readable:
        return data
    repairs = _Repairs()
    _read_unit(data, grids[data.sheets["unit"]], form, repairs)
    _read_initiatives(data, grids[data.sheets["initiatives"]], form, repairs)
    data.findings += repairs.findings()
    return data


def _read_meta(data: WorkbookData, grids: dict[str, Grid], form: Form) -> None:
    if "lists" not in data.sheets:
        return
    labels = {fold(label): key for key, label in form.meta.items()}
    attributes = {"form_id": "form_id", "version": "version", "unit_code": "template_unit"}
    for _, row in nonblank_rows(grids[data.sheets["lists"]][:20]):
        key = labels.get(fold(row[0])) if isinstance(row[0], str) else None
        if key in attributes and len(row) >= 2:
            setattr(data, attributes[key], to_text(row[1]).value)
    if data.version and data.version != form.version:
        data.findings.append(
            make(
                Code.OLD_VERSION,
                Severity.NOTICE if data.version in form.older_versions else Severity.WARNING,
                data.location("lists"),
                version=data.version,
                current=form.version,
            )
        )


def _read_unit(data: WorkbookData, grid: Grid, form: Form, repairs: _Repairs) -> None:
    found: dict[str, tuple[int, int]] = {}  # key -> (excel row, label column)
    value_col: int | None = None
    for excel_row, row in nonblank_rows(grid):
        for col, cell in enumerate(row):
            if not isinstance(cell, str) or not cell:
                continue
            key = fold(cell)
            if key == _VALUE_HEADER and value_col is None:
                value_col = col
            f = form.unit_matcher.get(key)
            if f is not None and f.key not in found:
                found[f.key] = (excel_row, col)
                break
    for order, f in enumerate(form.unit):
        if f.key not in found:
            if f.required:
                data.findings.append(
                    make(
                        Code.MISSING_LABEL,
                        Severity.ERROR,
                        data.location("unit"),
                        f.label,
                        sheet=form.sheets["unit"],
                    )
                )
            continue
        excel_row, label_col = found[f.key]
        col = value_col if value_col is not None and value_col > label_col else label_col + 1
        raw = _at(grid, excel_row, col)
        value = _convert(data, "unit", f, form, raw, excel_row, col, repairs, data.findings, (0, order))
        data.unit[f.key] = Value(value, raw, excel_row, column_letter(col))


def _read_initiatives(data: WorkbookData, grid: Grid, form: Form, repairs: _Repairs) -> None:
    best: tuple[int, dict[int, Field]] | None = None
    for excel_row, row in islice(nonblank_rows(grid), _HEADER_SCAN_ROWS):
        columns: dict[int, Field] = {}
        for col, cell in enumerate(row):
            label = isinstance(cell, str) and 0 < len(cell) < _LABEL_MAX
            f = form.initiative_matcher.get(fold(cell)) if label else None
            if f is not None and all(f.key != g.key for g in columns.values()):
                columns[col] = f
        if len(columns) >= _MIN_HEADER_MATCHES and (best is None or len(columns) > len(best[1])):
            best = (excel_row, columns)
            if len(columns) == len(form.initiative):  # every column found: no row can do better
                break
    found = {f.key for f in best[1].values()} if best else set()
    missing = [f.label for f in form.initiative if f.required and f.key not in found]
    if best is None or missing:
        data.findings.append(
            make(Code.MISSING_HEADER, Severity.ERROR, data.location("initiatives"), ", ".join(missing))
        )
        return
    header_row, columns = best
    data.columns = {f.key: column_letter(col) for col, f in columns.items()}
    # Column by column: each field's cells below the header, then the rows that hold a value in any
    # of them (the Excel row of body[i] is header_row + 1 + i).
    body = grid[header_row:]
    cells = [_column(body, col) for col in columns]
    kept = _kept(cells)
    data.row_numbers = [header_row + 1 + i for i in kept]
    found_at: list[tuple[int, int, Finding]] = []  # (row, field) of each cell's finding: row by row
    for order, ((col, f), column) in enumerate(zip(columns.items(), cells, strict=True)):
        raws = column if len(kept) == len(column) else [column[i] for i in kept]
        distinct = _distinct(raws)
        if distinct is None or "" in distinct:  # a reader's empty cell
            raws = [None if raw == "" else raw for raw in raws]
        if distinct is not None and "" in distinct:
            distinct.discard("")
            distinct.add(None)
        data.raws[f.key] = raws
        values = None if distinct is None else _converted_column(f, form, raws, distinct)
        if values is None:  # a value to repair or that cannot be read: cell by cell
            values = []
            for i, raw in zip(kept, raws, strict=True):
                if raw is None:
                    values.append(None)
                    continue
                findings: list[Finding] = []
                excel_row = header_row + 1 + i
                values.append(
                    _convert(data, "initiatives", f, form, raw, excel_row, col, repairs, findings, (1, i, order))
                )
                found_at.extend((i, order, finding) for finding in findings)
        data.values[f.key] = values
    found_at.sort(key=lambda item: item[:2])
    data.findings += [finding for _, _, finding in found_at]
    if not data.row_numbers:
        data.findings.append(
            make(Code.NO_INITIATIVE, Severity.NOTICE, data.location("initiatives"), sheet=form.sheets["initiatives"])
        )


def _column(body: Grid, col: int) -> list[Any]:
    """The cells of column `col` in `body`'s rows (an empty one None or "")."""
    try:
        return list(map(itemgetter(col), body))
    except IndexError:  # a row shorter than the others
        return [row[col] if col < len(row) else None for row in body]


def _kept(columns: list[list[Any]]) -> list[int]:
    """The rows (indexes) that hold a value that is not blank in any of `columns`."""
    size = len(columns[0]) if columns else 0
    flags = bytearray(size)
    for cells in columns:
        distinct = _distinct(cells)
        if distinct is None:
            flags = bytearray(flag or not is_blank(cell) for flag, cell in zip(flags, cells, strict=True))
            continue
        blank = {cell for cell in distinct if isinstance(cell, str) and is_blank(cell)}
        if not blank and None not in distinct:
            return list(range(size))  # a column filled in every row: every row is kept
        for i, cell in enumerate(cells):
            if cell is not None and cell not in blank:
                flags[i] = 1
    return list(compress(range(size), flags))


def _distinct(cells: list[Any]) -> set[Any] | None:
    """The distinct cells, or None when one cannot be told from another by its hash (no reader gives
    such a value: the column is then read cell by cell)."""
    try:
        return set(cells)
    except TypeError:
        return None


# What `clean_text` turns into a space inside a stripped text, but a space itself: every other
# character that is white space to Python, and the zero-width ones.
_OTHER_SPACE = re.compile("[" + re.escape("".join(c for c in WHITESPACE if c != " ") + "\u200b\ufeff") + "]")


def _converted_column(f: Field, form: Form, raws: list[Any], distinct: set[Any]) -> list[Any] | None:
    """A column's values at once when its cells (`raws`, the `distinct` ones) are of one kind and all
    read as they are (numbers in a number field, dates in a date field, texts that need no repair in
    a text field): the same values that `_convert` gives each cell, and no finding. None when any
    cell needs `_convert`."""
    kinds = set(map(type, distinct))
    kinds.discard(type(None))
    if not kinds:
        return list(raws)
    read: dict[Any, Any]
    if f.type == "integer" and kinds <= {float, int}:
        if not all(number.is_integer() for number in distinct if type(number) is float):
            return None
        if any(abs(number) >= INT_LIMIT for number in distinct if number is not None):
            return None  # each cell then says which is too large
        read = {number: None if number is None else int(number) for number in distinct}
        return list(map(read.__getitem__, raws))
    if f.type == "date" and kinds <= {dt.date, dt.datetime}:
        read = {day: day.date() if type(day) is dt.datetime else day for day in distinct}
        dates = [day for day in read.values() if day is not None]
        if min(dates) < FIRST_DATE or max(dates) > LAST_DATE:
            return None
        return list(map(read.__getitem__, raws))
    if f.type in ("text", "list") and kinds == {str}:
        texts = [text for text in distinct if text is not None]
        stripped = list(map(str.strip, texts))
        if not _read_as_they_are(texts, stripped):
            return None
        read = dict(zip(texts, stripped, strict=True))
        if "" in stripped:  # blank (spaces only): no value
            read.update((text, None) for text, value in zip(texts, stripped, strict=True) if not value)
        if f.type == "list":
            read = {text: None if value is None else _parse(f, form, value).value for text, value in read.items()}
        read[None] = None
        return list(map(read.__getitem__, raws))
    return None


def _read_as_they_are(texts: list[str], stripped: list[str]) -> bool:
    """Whether each text is read as itself, stripped (`stripped`): `clean_text` changes nothing in it
    (NFC, the right "Đ", no control character, single spaces) and no legacy encoding is found in it.
    The texts found so in this process are remembered: list values and names come back in every file."""
    if _AS_THEY_ARE.issuperset(texts):
        return True
    # Joined by a line break: no text's check can see into the next one (a line break is white
    # space, no control character, and a boundary of NFC: nothing composes across it).
    together = "\n".join(texts)
    inner = "\uffff".join(stripped)  # a character of none of the classes below
    plain = (
        "\u00d0" not in together
        and "\u00f0" not in together
        and not has_controls(together)
        and unicodedata.is_normalized("NFC", together)
        and "  " not in inner
        and _OTHER_SPACE.search(inner) is None
        and none_legacy(texts)
    )
    if plain and len(texts) < _AS_THEY_ARE_MAX:
        if len(_AS_THEY_ARE) + len(texts) > _AS_THEY_ARE_MAX:
            _AS_THEY_ARE.clear()
        _AS_THEY_ARE.update(texts)
    return plain


_AS_THEY_ARE: set[str] = set()  # texts `_read_as_they_are` found read as themselves, in this process
_AS_THEY_ARE_MAX = 1 << 16


def _at(grid: Grid, excel_row: int, col: int) -> Any:
    row = grid[excel_row - 1] if excel_row - 1 < len(grid) else []
    cell = row[col] if col < len(row) else None
    return None if cell == "" else cell


def _convert(
    data: WorkbookData,
    sheet_key: str,
    f: Field,
    form: Form,
    raw: Any,
    excel_row: int,
    col: int,
    repairs: _Repairs,
    findings: list[Finding],
    order: tuple[int, ...],
) -> Any:
    """The cell's value read as its field's type; what was unreadable goes to `findings`, what was
    repaired to `repairs` (`order`: where the cell comes in the file, row by row). The `Value` for
    their location is made only then."""
    if isinstance(raw, CellError | FormulaText):  # the file does not hold the value the cell shows
        code = Code.CELL_ERROR if isinstance(raw, CellError) else Code.FORMULA_NO_VALUE
        where = data.location(sheet_key, Value(None, raw, excel_row, column_letter(col)))
        findings.append(make(code, Severity.ERROR, where, f.label, str(raw)))
        return None
    legacy = None
    source = raw
    if f.type in ("text", "list") and isinstance(raw, str):
        # On the raw text: cleaning first would change legacy letters ("Ð" is "é" in TCVN3).
        converted, legacy = repair_legacy(raw)
        source = converted if legacy else raw
    parsed = _parse(f, form, source)
    if not legacy and parsed.code is None:
        return parsed.value
    where = data.location(sheet_key, Value(parsed.value, raw, excel_row, column_letter(col)))
    if legacy:
        repairs.add(Code.LEGACY_TEXT, legacy, order, where, f.label, raw, encoding=legacy, converted=parsed.value)
        return parsed.value
    if parsed.failed and parsed.code is not None:
        detail = {"reason": parsed.repair} if parsed.repair else {}
        findings.append(make(parsed.code, Severity.ERROR, where, f.label, raw, **detail))
    elif parsed.code is Code.TEXT_NORMALISED:
        repair = _unicode_repair(raw)
        if repair:
            repairs.add(Code.TEXT_NORMALISED, repair, order, where, f.label, raw, repair=repair)
    elif parsed.code is Code.TEXT_DATE_READ:
        findings.append(make(parsed.code, Severity.NOTICE, where, f.label, raw, date=parsed.repair))
    elif parsed.code is Code.TEXT_NUMBER_READ and not _plain_digits(raw):
        findings.append(make(parsed.code, Severity.NOTICE, where, f.label, raw, number=parsed.repair))
    return parsed.value


class _Repairs:
    """Text repairs of one file: one notice per kind of repair, at its first cell (the first in the
    file, row by row, whatever order the cells were read in), with the count."""

    def __init__(self) -> None:
        self.first: dict[tuple[Code, str], tuple[tuple[int, ...], Location, str, Any, dict[str, Any]]] = {}
        self.count: Counter[tuple[Code, str]] = Counter()

    def add(
        self, code: Code, kind: str, order: tuple[int, ...], where: Location, label: str, raw: Any, **params: Any
    ) -> None:
        self.count[(code, kind)] += 1
        known = self.first.get((code, kind))
        if known is None or order < known[0]:
            self.first[(code, kind)] = (order, where, label, raw, params)

    def findings(self) -> list[Finding]:
        return [
            make(code, Severity.NOTICE, where, label, raw, count=self.count[(code, kind)], **params)
            for (code, kind), (_, where, label, raw, params) in sorted(self.first.items(), key=lambda item: item[1][0])
        ]


def _parse(f: Field, form: Form, raw: Any) -> Parsed:
    if f.type == "integer":
        return to_int(raw)
    if f.type == "date":
        return to_date(raw)
    parsed = to_text(raw)
    if f.type == "list" and parsed.value is not None:
        allowed = form.allowed(f)
        if parsed.value not in allowed:
            # Same value but for case or spacing ("có" for "Có") is read as the list's value.
            same = [v for v in allowed if v.casefold() == parsed.value.casefold()]
            if len(same) == 1:
                return Parsed(same[0], parsed.code)
    return parsed


def _unicode_repair(raw: Any) -> str:
    if not isinstance(raw, str):
        return ""
    kinds = []
    if unicodedata.normalize("NFC", raw) != raw:
        kinds.append("chữ tổ hợp NFD thành dựng sẵn NFC")
    if "\u00d0" in raw or "\u00f0" in raw:
        kinds.append('ký tự "Ð" thành "Đ"')
    if has_controls(raw):
        kinds.append("bỏ ký tự điều khiển không in được")
    return ", ".join(kinds)


def _plain_digits(raw: Any) -> bool:
    """Text holding only digits ("35") is read without a notice: nothing was interpreted."""
    return isinstance(raw, str) and clean_text(raw).isdigit()


def _reason(exc: BaseException) -> str:
    return clean_text(str(exc))[:150] or type(exc).__name__
