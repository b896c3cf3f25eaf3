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
from pipeline.findings import Code, Finding, Severity, make
from pipeline.form import Field, Form
from pipeline.read import Value, WorkbookData
from pipeline.roster import Roster
from pipeline.text import fold
from schemas.tables import AS_OF_COLUMN, build_schemas, parse_check_name, report_limit


@dataclass(frozen=True)
class _Cell:
    book: int  # index into the list of workbooks
    sheet_key: str
    value: Value | None


def validate(
    books: Sequence[WorkbookData],
    form: Form,
    settings: Settings,
    roster: Roster | None = None,
    today: dt.date | None = None,
) -> list[Finding]:
    today = today or dt.date.today()
    schemas = build_schemas(form, settings, [u.code for u in roster] if roster else None, today)
    readable = [i for i, book in enumerate(books) if book.readable]
    findings = [f for book in books for f in book.findings]
    # Cells that could not be read already carry an error; pandera sees them as empty.
    unreadable = {
        (f.location.file, f.location.sheet, f.location.cell) for f in findings if f.severity is Severity.ERROR
    }

    unit_frame, unit_cells = _unit_frame(books, readable, form)
    rows_frame, row_cells = _initiative_frame(books, readable, form, unit_frame)
    context = _Context(books, form, settings, today, unreadable)
    findings += context.failures(schemas.unit, unit_frame, unit_cells, form.unit)
    findings += context.failures(schemas.initiative, rows_frame, row_cells, form.initiative)
    return sorted(findings, key=position_key(form))


def _unit_frame(
    books: Sequence[WorkbookData], readable: list[int], form: Form
) -> tuple[pd.DataFrame, dict[tuple[int, str], _Cell]]:
    cells: dict[tuple[int, str], _Cell] = {}
    records = []
    for index, b in enumerate(readable):
        record = {}
        for f in form.unit:
            value = books[b].unit.get(f.key)
            cells[(index, f.key)] = _Cell(b, "unit", value)
            record[f.key] = value.value if value else None
        records.append(record)
    return _typed(records, form.unit), cells


def _initiative_frame(
    books: Sequence[WorkbookData], readable: list[int], form: Form, units: pd.DataFrame
) -> tuple[pd.DataFrame, dict[tuple[int, str], _Cell]]:
    cells: dict[tuple[int, str], _Cell] = {}
    records: list[dict[str, Any]] = []
    as_of = []
    for unit_index, b in enumerate(readable):
        for row in books[b].rows:
            index = len(records)
            records.append({f.key: (row[f.key].value if f.key in row else None) for f in form.initiative})
            for f in form.initiative:
                cells[(index, f.key)] = _Cell(b, "initiatives", row.get(f.key))
            as_of.append(units["tinh_den_ngay"].iloc[unit_index])
    frame = _typed(records, form.initiative)
    frame[AS_OF_COLUMN] = pd.Series(as_of, dtype="datetime64[ns]") if as_of else pd.Series(dtype="datetime64[ns]")
    return frame, cells


def _typed(records: list[dict[str, Any]], fields: tuple[Field, ...]) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for f in fields:
        values = [r[f.key] for r in records]
        if f.type == "integer":
            columns[f.key] = pd.array(values, dtype="Int64")
        elif f.type == "date":
            columns[f.key] = pd.to_datetime(pd.Series(values, dtype="object"), errors="raise").astype("datetime64[ns]")
        else:
            columns[f.key] = pd.Series(values, dtype="object")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))


class _Context:
    def __init__(
        self,
        books: Sequence[WorkbookData],
        form: Form,
        settings: Settings,
        today: dt.date,
        unreadable: set[tuple[str, str | None, str | None]],
    ) -> None:
        self.books, self.form, self.settings, self.today, self.unreadable = books, form, settings, today, unreadable

    def failures(
        self,
        schema: pa.DataFrameSchema,
        frame: pd.DataFrame,
        cells: dict[tuple[int, str], _Cell],
        fields: tuple[Field, ...],
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
            if (int(index), key, code) in out:
                continue  # DataFrame-level checks report every column of a failing row
            finding = self.finding(code, by_key[key], frame, int(index), cells[(int(index), key)])
            if finding is not None:
                out[(int(index), key, code)] = finding
        return list(out.values())

    def finding(self, code: Code, f: Field, frame: pd.DataFrame, index: int, cell: _Cell) -> Finding | None:
        book = self.books[cell.book]
        location = book.location(cell.sheet_key, cell.value)
        if (location.file, location.sheet, location.cell) in self.unreadable:
            return None
        value = (
            cell.value.value
            if cell.value and cell.value.value is not None
            else (cell.value.raw if cell.value else None)
        )
        return make(code, Severity.ERROR, location, f.label, value, **self.params(code, f, frame, index))

    def params(self, code: Code, f: Field, frame: pd.DataFrame, index: int) -> dict[str, Any]:
        form, settings = self.form, self.settings
        if code is Code.NOT_IN_LIST:
            return {"allowed": "; ".join(form.allowed(f))}
        if code is Code.BELOW_MINIMUM:
            return {"minimum": f.min}
        if code in (Code.TOO_SHORT, Code.TOO_LONG):
            length = len(str(frame.at[index, f.key]))
            return {"length": length, "minimum": f.min_length, "maximum": f.max_length}
        if code is Code.OUT_OF_WINDOW:
            start, end = settings.windows[f.window or ""]
            consequence = (
                "Sáng kiến áp dụng lần đầu ngoài khoảng này không đủ điều kiện tham gia Chương trình."
                if f.window == "eligibility"
                else "Vui lòng kiểm tra lại ngày đăng ký."
            )
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
