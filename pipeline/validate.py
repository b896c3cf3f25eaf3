"""Validation stage: the records of all files of a run -> findings, in one batched pandera call.

All unit records go into one DataFrame and all initiative rows into another, indexed so that a
pandera failure case's index leads back to its file and Excel row; each table is validated once,
lazily, and every failure becomes a `Finding` at its cell with the form's label and a Vietnamese
message. Returns the findings of the reading stage and of validation, sorted by position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from pipeline.config import Settings
from pipeline.findings import WINDOW_CONSEQUENCES, Code, Finding, Severity, make, row_place
from pipeline.form import Field, Form
from pipeline.read import Value, WorkbookData
from pipeline.roster import Roster, normalise_code
from pipeline.text import fold, initiative_key
from schemas.tables import (
    AS_OF_COLUMN,
    FILE_COLUMN,
    KEY_COLUMN,
    ROSTER_MEMBERS_COLUMN,
    ROSTER_NAME_COLUMN,
    UNIT_COLUMN,
    build_schemas,
    parse_check_name,
    report_limit,
)


@dataclass(frozen=True)
class ContextRow:
    """An initiative already accepted in an earlier run, for the rules across files."""

    unit: str
    key: str  # normalised title and author
    place: str  # where it is, as the message names it


@dataclass(frozen=True)
class _Cell:
    book: int  # index into the list of workbooks
    sheet_key: str
    value: Value | None


@dataclass(frozen=True)
class _Origins:
    """Where each row of a validated frame comes from: (workbook, initiative index, or -1 for the
    unit record). Rows after `places` are earlier runs' initiatives (`ContextRow`), with no cell."""

    books: Sequence[WorkbookData]
    sheet_key: str
    places: list[tuple[int, int]]

    def get(self, index: int, key: str) -> _Cell | None:
        if index >= len(self.places):
            return None
        b, i = self.places[index]
        book = self.books[b]
        return _Cell(b, self.sheet_key, book.unit.get(key) if i < 0 else book.cell(i, key))


def validate(
    books: Sequence[WorkbookData],
    form: Form,
    settings: Settings,
    roster: Roster | None = None,
    today: dt.date | None = None,
    context: Sequence[ContextRow] = (),
) -> list[Finding]:
    """Findings of `books`; `context` rows take part in the rules across files but get no finding."""
    today = today or dt.date.today()
    schemas = build_schemas(form, settings, [u.code for u in roster] if roster else None, today)
    readable = [i for i, book in enumerate(books) if book.readable]
    findings = [f for book in books for f in book.findings]
    # Cells that could not be read already carry an error; pandera sees them as empty.
    unreadable = {
        (f.location.file, f.location.sheet, f.location.cell) for f in findings if f.severity is Severity.ERROR
    }

    unit_frame, unit_cells = _unit_frame(books, readable, form, roster)
    rows_frame, row_cells = _initiative_frame(books, readable, form, unit_frame, context)
    checker = _Context(books, form, settings, today, unreadable, context)
    for schema, frame, cells, fields, severity in (
        (schemas.unit, unit_frame, unit_cells, form.unit, Severity.ERROR),
        (schemas.initiative, rows_frame, row_cells, form.initiative, Severity.ERROR),
        (schemas.unit_warnings, unit_frame, unit_cells, form.unit, Severity.WARNING),
        (schemas.initiative_warnings, rows_frame, row_cells, form.initiative, Severity.WARNING),
    ):
        findings += checker.failures(schema, frame, cells, fields, severity)
    return sorted(findings, key=position_key(form))


def _unit_frame(
    books: Sequence[WorkbookData], readable: list[int], form: Form, roster: Roster | None
) -> tuple[pd.DataFrame, _Origins]:
    columns: dict[str, list[Any]] = {f.key: [] for f in form.unit}
    for b in readable:
        for f in form.unit:
            value = books[b].unit.get(f.key)
            columns[f.key].append(value.value if value else None)
    frame = _typed(columns, len(readable), form.unit)
    known = [roster.find(code) if roster and isinstance(code, str) else None for code in frame["ma_cdcs"]]
    frame[UNIT_COLUMN] = pd.Series([normalise_code(c) if isinstance(c, str) else None for c in frame["ma_cdcs"]])
    frame[ROSTER_NAME_COLUMN] = pd.Series([u.name if u else None for u in known], dtype="object")
    frame[ROSTER_MEMBERS_COLUMN] = pd.array([u.members if u else None for u in known], dtype="Int64")
    return frame, _Origins(books, "unit", [(b, -1) for b in readable])


def _initiative_frame(
    books: Sequence[WorkbookData],
    readable: list[int],
    form: Form,
    units: pd.DataFrame,
    context: Sequence[ContextRow],
) -> tuple[pd.DataFrame, _Origins]:
    columns: dict[str, list[Any]] = {f.key: [] for f in form.initiative}
    places: list[tuple[int, int]] = []
    as_of: list[Any] = []
    files: list[int] = []
    unit_codes: list[str | None] = []
    unit_code_of, as_of_of = list(units[UNIT_COLUMN]), list(units["tinh_den_ngay"])
    for unit_index, b in enumerate(readable):
        book = books[b]
        n = book.count
        for key, values in columns.items():
            values.extend(book.values.get(key) or [None] * n)
        places.extend((b, i) for i in range(n))
        files.extend([b] * n)
        unit_codes.extend([unit_code_of[unit_index]] * n)
        as_of.extend([as_of_of[unit_index]] * n)
    for i, earlier in enumerate(context):  # after the rows of this run, so their indexes are unchanged
        for values in columns.values():
            values.append(None)
        as_of.append(None)
        files.append(-1 - i)
        unit_codes.append(earlier.unit)
    frame = _typed(columns, len(files), form.initiative)
    frame[AS_OF_COLUMN] = pd.Series(as_of, dtype="datetime64[ns]")
    frame[FILE_COLUMN] = pd.Series(files, dtype="int64")
    # Each file is its own unit when its code is missing, so that two such files never match.
    frame[UNIT_COLUMN] = pd.Series(
        [u if u else f"#{b}" for u, b in zip(unit_codes, files, strict=True)], dtype="object"
    )
    titles, authors = frame["ten_sang_kien"], frame["tac_gia"]
    keys = [initiative_key(t, a) for t, a in zip(titles, authors, strict=True)]
    if context:
        keys[-len(context) :] = [row.key for row in context]
    frame[KEY_COLUMN] = pd.Series(keys, dtype="object")
    return frame, _Origins(books, "initiatives", places)


def _typed(columns: dict[str, list[Any]], length: int, fields: tuple[Field, ...]) -> pd.DataFrame:
    typed: dict[str, Any] = {}
    for f in fields:
        values = columns[f.key]
        if f.type == "integer":
            typed[f.key] = pd.array(values, dtype="Int64")
        elif f.type == "date":
            typed[f.key] = pd.to_datetime(pd.Series(values, dtype="object"), errors="raise").astype("datetime64[ns]")
        else:
            typed[f.key] = pd.Series(values, dtype="object")
    return pd.DataFrame(typed, index=pd.RangeIndex(length))


class _Context:
    def __init__(
        self,
        books: Sequence[WorkbookData],
        form: Form,
        settings: Settings,
        today: dt.date,
        unreadable: set[tuple[str, str | None, str | None]],
        context: Sequence[ContextRow],
    ) -> None:
        self.books, self.form, self.settings, self.today, self.unreadable = books, form, settings, today, unreadable
        self.context = context

    def failures(
        self,
        schema: pa.DataFrameSchema,
        frame: pd.DataFrame,
        cells: _Origins,
        fields: tuple[Field, ...],
        severity: Severity,
    ) -> list[Finding]:
        if frame.empty:
            return []
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return []
        by_key = {f.key: f for f in fields}
        out: dict[tuple[int, str, Code], Finding] = {}
        for check, column, index in zip(cases["check"], cases["column"], cases["index"], strict=True):
            if check == "not_nullable":
                code, key = Code.REQUIRED, str(column)
            else:
                parsed = parse_check_name(str(check))
                if parsed is None:
                    raise RuntimeError(f"unexpected pandera failure: {check} on {column}")
                code, key = parsed
            if (int(index), key, code) in out or cells.get(int(index), key) is None:
                continue  # every column of a failing row (DataFrame-level checks), or a context row
            finding = self.finding(code, severity, by_key[key], frame, int(index), cells)
            if finding is not None:
                out[(int(index), key, code)] = finding
        return list(out.values())

    def finding(
        self,
        code: Code,
        severity: Severity,
        f: Field,
        frame: pd.DataFrame,
        index: int,
        cells: _Origins,
    ) -> Finding | None:
        cell = cells.get(index, f.key)
        assert cell is not None
        book = self.books[cell.book]
        location = book.location(cell.sheet_key, cell.value)
        if (location.file, location.sheet, location.cell) in self.unreadable:
            return None
        value = (
            cell.value.value
            if cell.value and cell.value.value is not None
            else (cell.value.raw if cell.value else None)
        )
        return make(code, severity, location, f.label, value, **self.params(code, f, frame, index, cells))

    def _other_place(self, frame: pd.DataFrame, index: int, cells: _Origins) -> str:
        """The first other row with the same initiative: in the same file, else in another unit's file."""
        key, file, unit = frame.at[index, KEY_COLUMN], frame.at[index, FILE_COLUMN], frame.at[index, UNIT_COLUMN]
        same = frame[(frame[KEY_COLUMN] == key) & (frame.index != index)]
        others = same[(same[FILE_COLUMN] == file) | (same[UNIT_COLUMN] != unit)]
        first = int(others.index[0])
        other, here = cells.get(first, "ten_sang_kien"), cells.get(index, "ten_sang_kien")
        if other is None or here is None:  # a row accepted in an earlier run
            position: Any = frame.at[first, FILE_COLUMN]
            return self.context[-1 - int(position)].place
        return _describe(self.books[other.book], other, self.books[here.book])

    def params(self, code: Code, f: Field, frame: pd.DataFrame, index: int, cells: _Origins) -> dict[str, Any]:
        form, settings = self.form, self.settings
        row: Any = frame.loc[index]
        if code is Code.NAME_MISMATCH:
            return {"unit_code": row["ma_cdcs"], "expected": row[ROSTER_NAME_COLUMN]}
        if code is Code.MEMBERS_FAR:
            expected = int(row[ROSTER_MEMBERS_COLUMN])
            percent = round(abs(int(row["tong_doan_vien"]) - expected) * 100 / max(expected, 1))
            return {"expected": expected, "percent": percent}
        if code is Code.STT_GAP:
            same_file = frame.index[(frame[FILE_COLUMN] == row[FILE_COLUMN]) & (frame.index < index)]
            previous: Any = frame.at[same_file[-1], "stt"] if len(same_file) else None
            return {"previous": "không có" if previous is None or pd.isna(previous) else int(previous)}
        if code is Code.DUPLICATE_INITIATIVE:
            return {"author": row["tac_gia"], "other": self._other_place(frame, index, cells)}
        if code is Code.AUTHOR_IS_COAUTHOR:
            return {"author": row["tac_gia"]}
        if code is Code.REGISTERED_BEFORE_APPLIED:
            return {"other": _plain(row["ngay_ap_dung"])}
        if code is Code.NOT_IN_LIST:
            return {"allowed": "; ".join(form.allowed(f))}
        if code is Code.BELOW_MINIMUM:
            return {"minimum": f.min}
        if code in (Code.TOO_SHORT, Code.TOO_LONG):
            length = len(str(frame.at[index, f.key]))
            return {"length": length, "minimum": f.min_length, "maximum": f.max_length}
        if code is Code.OUT_OF_WINDOW:
            start, end = settings.windows[f.window or ""]
            consequence = WINDOW_CONSEQUENCES.get(f.window or "", WINDOW_CONSEQUENCES["registration"])
            return {"start": start, "end": end, "consequence": consequence}
        if code is Code.AFTER_REPORT_DATE:
            return {"other": report_limit(settings, self.today)}
        if code is Code.AFTER_AS_OF:
            return {"other": _plain(frame.at[index, AS_OF_COLUMN])}
        other_key = {Code.ABOVE_FIELD: f.not_above, Code.BEFORE_FIELD: f.not_before}.get(code)
        if other_key:
            other = _field(form, other_key)
            return {"other_label": other.label, "other": _plain(frame.at[index, other_key])}
        if code is Code.ONLY_WHEN and f.only_when:
            return {"other_label": _field(form, f.only_when[0]).label, "other": f.only_when[1]}
        return {}


def _describe(book: WorkbookData, cell: _Cell, here: WorkbookData) -> str:
    where = book.location(cell.sheet_key, cell.value)
    place = row_place(where.sheet or "", where.row or 0)
    return place if book is here else f'tệp "{book.file}" ({place})'


def _field(form: Form, key: str) -> Field:
    for f in (*form.unit, *form.initiative):
        if f.key == key:
            return f
    raise KeyError(key)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def position_key(form: Form) -> Callable[[Finding], tuple[Any, ...]]:
    """Sort key: file, then file-level findings, the unit sheet, the initiative sheet, row, column."""
    unit_sheet = fold(form.sheets["unit"])

    def key(f: Finding) -> tuple[Any, ...]:
        loc = f.location
        col = loc.column or ""
        rank = 0 if loc.row is None else (1 if fold(loc.sheet or "") == unit_sheet else 2)
        return (loc.file, rank, loc.row or 0, len(col), col, f.code.value)

    return key
