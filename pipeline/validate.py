"""Validation stage: the records of all files of a run -> findings, in one batched pandera call per
table and severity.

All unit records go into one DataFrame and all initiative rows into another, indexed so that a
pandera failure case's index leads back to its file and Excel row. The schemas are built from the
rules (`pipeline.rules.RULES`): each field is a pandera `Column` (nullable unless required: the
"required" rule), and each rule is a check named "<code>:<field key>" on the column of the field it
reports at. Each table is validated once, lazily, and every failure becomes a `Finding` at its cell
with the form's label and the rule's message. Returns the findings of the reading stage and of
validation, sorted by position.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from pipeline.config import Settings
from pipeline.findings import Code, Finding, Severity, make, row_place
from pipeline.form import Field, Form
from pipeline.read import Value, WorkbookData
from pipeline.roster import Roster, normalise_code
from pipeline.rules import (
    AS_OF_COLUMN,
    BY_CODE,
    FILE_COLUMN,
    KEY_COLUMN,
    ROSTER_MEMBERS_COLUMN,
    ROSTER_NAME_COLUMN,
    RULES,
    UNIT_COLUMN,
    Case,
    Place,
    Reference,
    Rule,
)
from pipeline.text import fold, initiative_key

Table = str  # "unit" or "initiative"


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
    """The findings of `books`: those their reading found, then every rule's, sorted by file and
    position. `context` rows (initiatives accepted earlier) take part in the rules across files but
    get no finding of their own."""
    reference = Reference(settings, today or dt.date.today(), frozenset(u.code for u in roster) if roster else None)
    readable = [i for i, book in enumerate(books) if book.readable]
    findings = [f for book in books for f in book.findings]
    # Cells that could not be read already carry an error; pandera sees them as empty.
    unreadable = {
        (f.location.file, f.location.sheet, f.location.cell) for f in findings if f.severity is Severity.ERROR
    }
    unit_frame, unit_cells = _unit_frame(books, readable, form, roster)
    rows_frame, row_cells = _initiative_frame(books, readable, form, unit_frame, context)
    checker = _Checker(books, unreadable, context)
    for table, frame, cells in (("unit", unit_frame, unit_cells), ("initiative", rows_frame, row_cells)):
        for severity in (Severity.ERROR, Severity.WARNING):
            schema = build_schema(form, reference, table, severity, frame)
            findings += checker.failures(schema, Case(frame, form, reference), cells)
    return sorted(findings, key=position_key(form))


def build_schema(
    form: Form, reference: Reference, table: Table, severity: Severity, frame: pd.DataFrame
) -> pa.DataFrameSchema:
    """The pandera schema of one table's rules of one severity, for `frame`. A check sees the whole
    table (a rule may read other fields, other rows, other files), so it is built for the frame it
    validates; pandera reports its failures at the column of the field the rule reports at."""
    fields = form.unit if table == "unit" else form.initiative
    checks: dict[str, list[pa.Check]] = {f.key: [] for f in fields}
    for rule in RULES:
        if rule.severity is not severity or rule.check is None or rule.table not in (table, "any"):
            continue
        for f in rule.fields(form):
            if f.key in checks:
                checks[f.key].append(_check(rule, Case(frame, form, reference, f)))
    errors = severity is Severity.ERROR
    columns = {
        f.key: pa.Column(nullable=not (errors and f.required), checks=checks[f.key], required=True)
        for f in fields
        if errors or checks[f.key]
    }
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _check(rule: Rule, case: Case) -> pa.Check:
    assert rule.check is not None and case.field is not None
    check = rule.check
    return pa.Check(lambda _: check(case), name=f"{rule.code.value}:{case.field.key}", ignore_na=False)


# Each book's initiative keys, worked out once: `_context`, validation and the ledger all need them,
# and folding 50,000 titles and authors takes a second. By the book's identity while it lives, for
# the very lists of titles and authors they were made from.
_KEYS: dict[int, tuple[list[Any] | None, list[Any] | None, list[str | None]]] = {}


def initiative_keys(book: WorkbookData, form: Form) -> list[str | None]:
    """The initiative key (title and author, folded: `Form.record_key`) of each of the book's
    rows, in order; None for a row without both."""
    titles, authors = book.values.get(form.key("title")), book.values.get(form.key("author"))
    known = _KEYS.get(id(book))
    if known is not None and known[0] is titles and known[1] is authors:
        return known[2]
    blank = [None] * book.count
    keys = [initiative_key(t, a) for t, a in zip(titles or blank, authors or blank, strict=True)]
    if known is None:
        weakref.finalize(book, _KEYS.pop, id(book), None)
    _KEYS[id(book)] = (titles, authors, keys)
    return keys


def _unit_frame(
    books: Sequence[WorkbookData], readable: list[int], form: Form, roster: Roster | None
) -> tuple[pd.DataFrame, _Origins]:
    columns: dict[str, list[Any]] = {f.key: [] for f in form.unit}
    for b in readable:
        for f in form.unit:
            value = books[b].unit.get(f.key)
            columns[f.key].append(value.value if value else None)
    frame = _typed(columns, len(readable), form.unit)
    codes = frame[form.key("unit_code")]
    known = [roster.find(code) if roster and isinstance(code, str) else None for code in codes]
    frame[UNIT_COLUMN] = pd.Series([normalise_code(c) if isinstance(c, str) else None for c in codes], dtype="object")
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
    unit_code_of, as_of_of = list(units[UNIT_COLUMN]), list(units[form.key("as_of")])
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
    keys: list[str | None] = [key for b in readable for key in initiative_keys(books[b], form)]
    keys += [row.key for row in context]
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


class _Checker:
    def __init__(
        self,
        books: Sequence[WorkbookData],
        unreadable: set[tuple[str, str | None, str | None]],
        context: Sequence[ContextRow],
    ) -> None:
        self.books, self.unreadable, self.context = books, unreadable, context
        # By frame: the rows of each initiative key listed more than once, and each row's file and unit.
        self._twins: dict[int, tuple[Any, list[Any], list[Any]]] = {}

    def failures(self, schema: pa.DataFrameSchema, table: Case, cells: _Origins) -> list[Finding]:
        if table.frame.empty or not schema.columns:
            return []
        try:
            schema.validate(table.frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
        else:
            return []
        form = table.form
        out: dict[tuple[int, str, Code], Finding] = {}
        for check, column, index in zip(cases["check"], cases["column"], cases["index"], strict=True):
            if check == "not_nullable":
                code, key = Code.REQUIRED, str(column)
            else:
                name, _, key = str(check).partition(":")
                code = Code(name)
            if (int(index), key, code) in out or cells.get(int(index), key) is None:
                continue  # a context row: it takes part in the rules but has no cell
            case = Case(table.frame, form, table.reference, form.by_key(key))
            finding = self.finding(BY_CODE[code], case, int(index), cells)
            if finding is not None:
                out[(int(index), key, code)] = finding
        return list(out.values())

    def finding(self, rule: Rule, case: Case, index: int, cells: _Origins) -> Finding | None:
        assert case.field is not None
        cell = cells.get(index, case.field.key)
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
        params = rule.params(Place(case, index, lambda i: self._other_place(case, i, cells)))
        return make(rule.code, rule.severity, location, case.field.label, value, **params)

    def _other_place(self, case: Case, index: int, cells: _Origins) -> str:
        """The first other row with the same initiative: in the same file, else in another unit's file."""
        frame, title = case.frame, case.form.key("title")
        if id(frame) not in self._twins:  # once: a file listing one initiative 10,000 times is 10,000 findings
            listed_twice = frame[frame[KEY_COLUMN].duplicated(keep=False)]
            groups = listed_twice.groupby(KEY_COLUMN, sort=False).groups
            self._twins[id(frame)] = (groups, frame[FILE_COLUMN].tolist(), frame[UNIT_COLUMN].tolist())
        groups, files, units = self._twins[id(frame)]
        key = frame.at[index, KEY_COLUMN]
        file, unit = files[index], units[index]
        first = next(int(j) for j in groups[key] if j != index and (files[j] == file or units[j] != unit))
        other, here = cells.get(first, title), cells.get(index, title)
        if other is None or here is None:  # a row accepted in an earlier run
            position: Any = frame.at[first, FILE_COLUMN]
            return self.context[-1 - int(position)].place
        return _describe(self.books[other.book], other, self.books[here.book])


def _describe(book: WorkbookData, cell: _Cell, here: WorkbookData) -> str:
    where = book.location(cell.sheet_key, cell.value)
    place = row_place(where.sheet or "", where.row or 0)
    return place if book is here else f'tệp "{book.file}" ({place})'


def position_key(form: Form) -> Callable[[Finding], tuple[Any, ...]]:
    """Sort key: file, then file-level findings, the unit sheet, the initiative sheet, row, column."""
    unit_sheet = fold(form.sheets["unit"])

    def key(f: Finding) -> tuple[Any, ...]:
        loc = f.location
        col = loc.column or ""
        rank = 0 if loc.row is None else (1 if fold(loc.sheet or "") == unit_sheet else 2)
        return (loc.file, rank, loc.row or 0, len(col), col, f.code.value)

    return key
