"""Merge stage: the ledger's files -> each union's current submission, and the consolidated dataset.

A union's latest accepted submission (by "Số liệu tính đến ngày", then arrival order) is its
current one; its earlier accepted files are superseded and stay in the ledger as history. A
rejected file never removes accepted data, but a rejection that came after the current file is
reported. Completeness and timeliness are measured against the roster, as DHIS2 reports reporting
rates. Returns plain data for the outputs and the report.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.config import Settings
from pipeline.form import Form
from pipeline.intake import SPREADSHEET_KINDS, kind_words
from pipeline.labels import Labelled
from pipeline.ledger import RecordSet, StoredFile, StoredRow, StoredRows, columns_of
from pipeline.roster import Roster, normalise_code
from pipeline.rules import split_names
from pipeline.text import fold

if TYPE_CHECKING:  # pandas is imported where a frame is made: a run with nothing new makes none
    import pandas as pd

SUPERSEDED = "superseded"
ATTACHMENT = "ignored"  # the status of a file set aside: no submission, nothing to reject


class Reporting(Labelled):
    """Where a union stands for this reporting period."""

    ON_TIME = "on_time", "Đã nộp đúng hạn"
    LATE = "late", "Đã nộp, trễ hạn"
    REJECTED = "rejected", "Bị trả lại, chưa nộp lại"
    MISSING = "missing", "Chưa nộp"


@dataclass
class UnitState:
    code: str
    name: str
    sector: str | None
    commune: str | None
    members: int | None
    in_roster: bool
    files: list[StoredFile] = field(default_factory=list)  # in arrival order (`arrival`)
    current: StoredFile | None = None
    superseded: list[StoredFile] = field(default_factory=list)
    latest_rejected: StoredFile | None = None  # a rejected file that came after the current one
    # Files that are no workbook (a cover letter, a scan) sent with the union's workbook: noted, not
    # rejections (the workbook's own result says what the union must do).
    attachments: list[StoredFile] = field(default_factory=list)
    reporting: Reporting = Reporting.MISSING
    received: dt.datetime | None = None  # when its first accepted file arrived


def arrival(f: StoredFile) -> tuple[dt.datetime, int]:
    """A file's place in the order of arrival: its arrival time, then the order in which the ledger
    met it (never its name). A file first seen in a later run may have arrived earlier, as a saved
    attachment or a message does."""
    return (f.received_at, f.seq)


def unit_states(files: Sequence[StoredFile], roster: Roster | None, settings: Settings) -> dict[str, UnitState]:
    """Every active union of the roster, and every other unit code found in a file."""
    states: dict[str, UnitState] = {}
    for unit in roster.active if roster else ():
        states[unit.code] = UnitState(unit.code, unit.name, unit.sector, unit.commune, unit.members, True)
    codes = unit_codes(files, roster)
    for f in sorted(files, key=arrival):
        code = codes.get(f.sha256)
        if not code:
            continue
        if code not in states:
            known = roster.find(code) if roster else None
            states[code] = UnitState(
                code,
                known.name if known else (f.unit_name or code),
                known.sector if known else None,
                known.commune if known else None,
                known.members if known else None,
                known is not None,
            )
        states[code].files.append(f)
    deadline = dt.datetime.combine(settings.deadline, dt.time.max)
    for state in states.values():
        accepted = [f for f in state.files if f.accepted]
        if accepted:
            state.current = max(accepted, key=lambda f: (f.as_of_date or dt.date.min, *arrival(f)))
            state.superseded = [f for f in accepted if f is not state.current]
            later = [
                f
                for f in state.files
                if not f.accepted and f.kind in SPREADSHEET_KINDS and arrival(f) > arrival(state.current)
            ]
            state.latest_rejected = later[-1] if later else None
            state.received = min(f.received_at for f in accepted)
            state.reporting = Reporting.ON_TIME if state.received <= deadline else Reporting.LATE
        elif state.files:
            state.reporting = Reporting.REJECTED
        if any(f.kind in SPREADSHEET_KINDS for f in state.files):
            state.attachments = [f for f in state.files if f.kind not in SPREADSHEET_KINDS]
    return states


def unit_codes(files: Sequence[StoredFile], roster: Roster | None) -> dict[str, str]:
    """The union each file belongs to, by hash: the code its content gives; for a file that names
    none (a PDF, a broken workbook), the one roster code its name or folder holds ("thư VT012/
    Công văn gửi kèm VT012.pdf"), else that of the one union whose workbooks its inbox folder (or
    e-mail) holds, else that of the union whose address sent it."""
    codes = {f.sha256: normalise_code(f.unit_code) for f in files if f.unit_code}
    if roster is None:
        return codes
    folders: dict[str, set[str]] = {}
    for f in files:
        if f.sha256 in codes and f.readable and roster.find(codes[f.sha256]):
            folders.setdefault(f.name.rpartition("/")[0], set()).add(codes[f.sha256])
    for f in files:
        if f.sha256 in codes:
            continue
        unit = roster.named_in(f.name)
        folder = f.name.rpartition("/")[0]
        if unit is None and folder and len(folders.get(folder, ())) == 1:
            unit = roster.find(next(iter(folders[folder])))
        if unit is None:
            unit = roster.sent_by(f.sender)  # the address of the e-mail it came in
        if unit is not None:
            codes[f.sha256] = unit.code
    return codes


def file_statuses(states: dict[str, UnitState], files: Sequence[StoredFile]) -> dict[str, str]:
    """Each file's status in the period: its own, "superseded" for an earlier accepted file, or
    "ignored" for a file beside a union's accepted workbook that is no workbook (`attachment_notes`)."""
    statuses = {f.sha256: f.status for f in files}
    for state in states.values():
        for f in state.superseded:
            statuses[f.sha256] = SUPERSEDED
        for f in state.attachments:
            statuses[f.sha256] = ATTACHMENT
    return statuses


def attachment_notes(states: dict[str, UnitState]) -> dict[str, str]:
    """Why each attachment is set aside, by its hash (in Vietnamese)."""
    notes = {}
    for state in states.values():
        workbooks = [f for f in state.files if f.kind in SPREADSHEET_KINDS]
        sent_with = state.current or (workbooks[-1] if workbooks else None)
        if sent_with is None:
            continue
        for f in state.attachments:
            notes[f.sha256] = (
                f'{kind_words(f.kind)} gửi kèm bảng tính "{sent_with.name}" của {state.name}; '
                "đã ghi nhận, không phải bài nộp"
            )
    return notes


def current_files(states: dict[str, UnitState]) -> list[StoredFile]:
    return [s.current for s in states.values() if s.current is not None]


# The dataset's columns before the initiative's fields: the unit fields each row carries (by role,
# under the form's keys), then what the pipeline derives; and after them, the source of the row.
DATASET_UNIT_ROLES = ("unit_code", "unit_name", "sector", "commune")
DATASET_DERIVED = ("giai_doan", "so_nguoi_tham_gia")
DATASET_SOURCE = ("tep_nguon", "sha256_nguon", "trang_nguon", "dong_nguon")


DATASET_CHUNK_ROWS = 10_000


def dataset(states: dict[str, UnitState], rows: Iterable[StoredRow], form: Form, settings: Settings) -> pd.DataFrame:
    """One row per initiative of the current submissions, with its unit, phase and source.

    `rows` are the ledger's (`Ledger.iter_rows`: read a file at a time, by column) or any rows of
    stored files, file by file."""
    by_sha = {s.current.sha256: s for s in states.values() if s.current is not None}
    # Built a few thousand rows at a time (or one large file), and those a column at a time: the
    # Python objects of one column of them at most, never the whole period's.
    phases: dict[Any, str | None] = {}  # by registration date
    chunks: list[pd.DataFrame] = []
    batch: list[tuple[_Columns, UnitState]] = []
    size = 0
    for stored in _record_sets(rows):
        state = by_sha.get(stored.sha256)
        if state is None or state.current is None:
            continue
        batch.append((stored, state))
        size += len(stored)
        if size >= DATASET_CHUNK_ROWS:
            chunks.append(_frame_of(batch, form, settings, phases))
            batch, size = [], 0
    if batch or not chunks:
        chunks.append(_frame_of(batch, form, settings, phases))
    return _concat(chunks)


def dataset_leading(form: Form) -> tuple[str, ...]:
    """The names of the dataset's columns before the initiative's fields."""
    return (*(form.key(role) for role in DATASET_UNIT_ROLES), *DATASET_DERIVED)


class _Columns(Protocol):
    """A file's records by column (`ledger.RecordSet`)."""

    sha256: str
    sheet: str
    rows: list[int]

    def __len__(self) -> int: ...

    def column(self, field: str) -> list[Any] | None: ...


@dataclass
class _RowsByColumn:
    """Rows of one file given one by one, by column."""

    sha256: str
    sheet: str
    rows: list[int]
    columns: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, field: str) -> list[Any] | None:
        return self.columns.get(field)


def _record_sets(rows: Iterable[StoredRow]) -> Iterator[_Columns]:
    """The rows file by file, by column: as the ledger keeps them, or grouped here."""
    if isinstance(rows, StoredRows):
        yield from rows.sets()
        return
    for (sha, sheet), group in itertools.groupby(rows, key=lambda r: (r.sha256, r.sheet)):
        found = list(group)
        fields = dict.fromkeys(k for r in found for k in r.data)
        yield _RowsByColumn(sha, sheet, [r.row for r in found], {k: [r.data.get(k) for r in found] for k in fields})


def _frame_of(
    batch: Sequence[tuple[_Columns, UnitState]], form: Form, settings: Settings, phases: dict[Any, str | None]
) -> pd.DataFrame:
    """The dataset's rows of some files, made a column at a time."""
    import pandas as pd

    sets = [stored for stored, _ in batch]
    in_ledger = [stored for stored in sets if isinstance(stored, RecordSet)]
    whole = len(in_ledger) == len(sets)  # every file's columns as the ledger keeps them (or none)

    def column(field: str) -> list[Any]:
        out: list[Any] = []
        found = columns_of(in_ledger, field) if whole else [stored.column(field) for stored in sets]
        for stored, values in zip(sets, found, strict=True):
            out.extend([None] * len(stored) if values is None else values)
        if form.by_key(field).type == "date":  # stored as ISO text
            out = [dt.date.fromisoformat(v) if isinstance(v, str) else v for v in out]
        return out

    def each(value: Callable[[_Columns, UnitState], Any]) -> list[Any]:
        out: list[Any] = []
        for stored, state in batch:
            out.extend([value(stored, state)] * len(stored))
        return out

    registered = column(form.key("registered_on"))
    for d in registered:
        if d not in phases:
            phase = settings.programme.phase_of(d) if isinstance(d, dt.date) else None
            phases[d] = phase.name if phase else None
    people = zip(column(form.key("author")), column(form.key("coauthors")), strict=True)
    code, name, sector, commune = (form.key(role) for role in DATASET_UNIT_ROLES)
    frame = pd.DataFrame(
        {
            code: _typed(code, each(lambda _, s: s.code), form),
            name: _typed(name, each(lambda _, s: s.name), form),
            sector: _typed(sector, each(lambda _, s: s.sector), form),
            commune: _typed(commune, each(lambda _, s: s.commune), form),
            "giai_doan": _typed("giai_doan", [phases[d] for d in registered], form),
            "so_nguoi_tham_gia": _typed("so_nguoi_tham_gia", [len(participants(a, c)) for a, c in people], form),
        }
    )
    del registered, people
    for f in form.initiative:
        frame[f.key] = _typed(f.key, column(f.key), form)
    rows: list[int] = []
    for stored, _ in batch:
        rows.extend(stored.rows)
    frame["tep_nguon"] = _typed("tep_nguon", each(lambda _, s: s.current.name if s.current else None), form)
    frame["sha256_nguon"] = _typed("sha256_nguon", each(lambda f, _: f.sha256), form)
    frame["trang_nguon"] = _typed("trang_nguon", each(lambda f, _: f.sheet), form)
    frame["dong_nguon"] = _typed("dong_nguon", rows, form)
    return frame


def _typed(name: str, values: list[Any], form: Form) -> pd.Series:
    """A dataset column of `values`, typed as a frame of these lists types it, then by its field."""
    import pandas as pd

    column = pd.DataFrame({name: values})[name]
    kind = next((f.type for f in form.initiative if f.key == name), None)
    if kind == "integer" or name in ("so_nguoi_tham_gia", "dong_nguon"):
        return column.astype("Int64")
    if kind == "date":
        return pd.to_datetime(column).dt.date
    return column


def _concat(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks as one frame with the types one frame of all the rows would have had: a text
    column blank throughout one chunk is text all the same."""
    import pandas as pd

    if len(chunks) == 1:
        return chunks[0]
    texts = {c for chunk in chunks for c in chunk.columns if isinstance(chunk[c].dtype, pd.StringDtype)}
    frame = pd.concat(chunks, ignore_index=True)
    for column in texts:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("str")
    return frame


def participants(author: Any, coauthors: Any) -> set[str]:
    """The distinct people of an initiative: the author and co-authors, names normalised."""
    names = ([author] if isinstance(author, str) else []) + split_names(coauthors)
    return {folded for n in names if (folded := fold(n))}


@dataclass(frozen=True)
class Changes:
    """What changed between a union's previous accepted submission and its current one."""

    previous: str  # file name
    current: str
    added: list[str]
    removed: list[str]
    edited: list[tuple[str, list[str]]]  # (title, labels of the fields that changed)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.edited)

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "current": self.current,
            "added": self.added,
            "removed": self.removed,
            "edited": [{"title": t, "fields": fs} for t, fs in self.edited],
        }


def changes(
    previous: StoredFile, current: StoredFile, previous_rows: Sequence[StoredRow], current_rows: Sequence[StoredRow],
    form: Form,
) -> Changes:  # fmt: skip
    def keyed(rows: Sequence[StoredRow]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            key = form.record_key(r.data)
            if key is not None:
                out.setdefault(key, r.data)
        return out

    before, after = keyed(previous_rows), keyed(current_rows)
    labels = {f.key: f.label for f in form.initiative}
    title = form.key("title")
    compared = [k for k in labels if k != form.key("number")]
    edited = []
    for key in after.keys() & before.keys():
        fields = [labels[k] for k in compared if before[key].get(k) != after[key].get(k)]
        if fields:
            edited.append((str(after[key][title]), fields))
    return Changes(
        previous.name,
        current.name,
        added=sorted(str(after[k][title]) for k in after.keys() - before.keys()),
        removed=sorted(str(before[k][title]) for k in before.keys() - after.keys()),
        edited=sorted(edited),
    )
