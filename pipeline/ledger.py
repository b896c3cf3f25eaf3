"""Ledger stage: what the pipeline has seen, in SQLite (the standard library; no server).

The ledger records every run, every file seen (by SHA-256, with each name it arrived under), every
finding and every accepted record with its source sheet and row. It is the only module with SQL.
A file's records are kept by column (one JSON list per field, `record_sets`), as the reader gives
them and as the merge builds the dataset from them, with each record's initiative key in an index
of its own (`record_keys`); `iter_rows`, `rows` and `rows_with_keys` give them back as rows.
A file is written with everything about it in one transaction, with up to `FILES_PER_COMMIT`
others, so a run killed at any point leaves every file whole or absent: it keeps the transactions it
committed, and the next run reads the rest again. The schema is versioned and migrated forward.
Returns plain data (`StoredFile`, `StoredRow`, `Finding`); the merge stage gives it meaning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.findings import Code, Finding, Location, Severity, show_value

LEDGER_NAME = "so-theo-doi.sqlite"

# Each entry moves the schema one version forward; never edit an entry once released.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            as_of TEXT NOT NULL,
            inbox TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'interrupted'))
        )""",
        """CREATE TABLE files (
            sha256 TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            size INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            first_run INTEGER NOT NULL REFERENCES runs(id),
            status TEXT NOT NULL CHECK (status IN ('accepted', 'accepted_with_warnings', 'rejected')),
            readable INTEGER NOT NULL,
            unit_code TEXT,
            unit_name TEXT,
            as_of_date TEXT,
            errors INTEGER NOT NULL,
            warnings INTEGER NOT NULL,
            initiatives INTEGER NOT NULL,
            unit_record TEXT NOT NULL,
            columns TEXT NOT NULL,
            feedback TEXT,
            message TEXT
        )""",
        "CREATE INDEX files_unit ON files (unit_code)",
        """CREATE TABLE sightings (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (run_id, name)
        )""",
        """CREATE TABLE findings (
            sha256 TEXT NOT NULL REFERENCES files(sha256),
            position INTEGER NOT NULL,
            code TEXT NOT NULL,
            severity TEXT NOT NULL,
            file TEXT NOT NULL,
            sheet TEXT,
            row INTEGER,
            col TEXT,
            field TEXT,
            value TEXT,
            params TEXT NOT NULL,
            PRIMARY KEY (sha256, position)
        )""",
        """CREATE TABLE records (
            sha256 TEXT NOT NULL REFERENCES files(sha256),
            sheet TEXT NOT NULL,
            row INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (sha256, row)
        )""",
    ),
    (  # 2: each record's initiative key, so that a run finds earlier twins without reading every record
        "ALTER TABLE records ADD COLUMN key TEXT",
        "fill record keys",
        "CREATE INDEX records_key ON records (key)",
    ),
    (  # 3: mail. The message a file first came in, the messages read, fetched and the drafts made
        "ALTER TABLE files ADD COLUMN message_id TEXT",
        "ALTER TABLE files ADD COLUMN sender TEXT",
        """CREATE TABLE messages (
            message_id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            sender TEXT,
            sender_name TEXT,
            subject TEXT NOT NULL,
            sent_at TEXT,
            refs TEXT NOT NULL,
            problem TEXT,
            first_run INTEGER NOT NULL REFERENCES runs(id)
        )""",
        """CREATE TABLE message_files (
            message_id TEXT NOT NULL REFERENCES messages(message_id),
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (message_id, sha256)
        )""",
        """CREATE TABLE fetched (
            mailbox TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            name TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (mailbox, uidvalidity, uid)
        )""",
        """CREATE TABLE drafts (
            message_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            about TEXT NOT NULL,  -- JSON: the Message-IDs (or file hashes) it answers
            unit_code TEXT,
            path TEXT NOT NULL,
            recipients TEXT NOT NULL,
            subject TEXT NOT NULL,
            made_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('drafted', 'sending', 'sent', 'failed', 'withdrawn')),
            sent_at TEXT,
            error TEXT
        )""",
    ),
    (  # 4: records by column, one JSON list per field of a file: written and read without an object per record
        """CREATE TABLE record_sets (
            sha256 TEXT PRIMARY KEY REFERENCES files(sha256),
            sheet TEXT NOT NULL,
            rows TEXT NOT NULL  -- JSON: the Excel row of each record, in order
        )""",
        """CREATE TABLE record_columns (
            sha256 TEXT NOT NULL REFERENCES record_sets(sha256),
            field TEXT NOT NULL,
            data TEXT NOT NULL,  -- JSON: the field's value of each record, in order (dates as ISO text)
            PRIMARY KEY (sha256, field)
        )""",
        """CREATE TABLE record_keys (
            sha256 TEXT NOT NULL REFERENCES record_sets(sha256),
            row INTEGER NOT NULL,
            key TEXT NOT NULL,
            PRIMARY KEY (sha256, row)
        )""",
        "records by column",
        "DROP TABLE records",
        "CREATE INDEX record_keys_key ON record_keys (key)",
    ),
    (  # 5: what intake last found at each name of the inbox, so that an unchanged file is not read again
        """CREATE TABLE stamps (
            name TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            kind TEXT NOT NULL
        )""",
    ),
)


# Values asked for in one "IN (...)" query: SQLite builds before 3.32 allow 999 parameters.
SQL_BATCH = 500
FILES_PER_COMMIT = 200  # files written to the ledger in one transaction (`Ledger.add_files`)
PRELOAD_ROWS = 5_000  # records whose columns are read in one query (`Ledger.record_sets`)


def _batches(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), SQL_BATCH):
        yield values[start : start + SQL_BATCH]


def _fill_record_keys(db: sqlite3.Connection) -> None:
    """Migration 2: the key of each record stored before keys were (the form's own fields)."""
    from pipeline.form import load_form

    form = load_form()
    rows = db.execute("SELECT rowid, data FROM records").fetchall()
    db.executemany("UPDATE records SET key = ? WHERE rowid = ?", [(form.record_key(json.loads(d)), i) for i, d in rows])


def _records_by_column(db: sqlite3.Connection) -> None:
    """Migration 4: the records stored one row each, as one set of columns per file."""
    shas = [sha for (sha,) in db.execute("SELECT DISTINCT sha256 FROM records ORDER BY sha256")]
    for sha in shas:
        cursor = db.execute("SELECT sheet, row, data, key FROM records WHERE sha256 = ? ORDER BY row", (sha,))
        sheets, rows, records, keys = zip(*cursor, strict=True)
        data = [json.loads(d) for d in records]
        fields = sorted({k for values in data for k in values})
        columns = {k: [values.get(k) for values in data] for k in fields}
        _insert_records(db, sha, sheets[0], list(rows), columns, list(keys))


_STEPS = {  # migration steps that are Python, by name
    "fill record keys": _fill_record_keys,
    "records by column": _records_by_column,
}


def _insert_records(
    db: sqlite3.Connection,
    sha256: str,
    sheet: str,
    rows: Sequence[int],
    columns: Mapping[str, Sequence[Any]],
    keys: Sequence[str | None],
) -> None:
    """One file's records: its rows, each column as one JSON list, and its keys in the index."""
    db.execute(
        "INSERT INTO record_sets (sha256, sheet, rows) VALUES (?, ?, ?)", (sha256, sheet, json.dumps(list(rows)))
    )
    db.executemany(
        "INSERT INTO record_columns (sha256, field, data) VALUES (?, ?, ?)",
        ((sha256, field, _dumps(list(values))) for field, values in sorted(columns.items())),
    )
    db.executemany(
        "INSERT INTO record_keys (sha256, row, key) VALUES (?, ?, ?)",
        ((sha256, row, key) for row, key in zip(rows, keys, strict=True) if key is not None),
    )


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    seq: int  # arrival order: the order in which the ledger first met the files
    name: str
    kind: str
    size: int
    received_at: dt.datetime
    first_run: int
    status: str
    readable: bool
    unit_code: str | None
    unit_name: str | None
    as_of_date: dt.date | None  # "Số liệu tính đến ngày"
    errors: int
    warnings: int
    initiatives: int
    unit_record: dict[str, Any]
    columns: dict[str, str]  # initiative key -> column letter in that file
    feedback: str | None
    message: str | None
    message_id: str | None = None  # the e-mail it first came in, if it came in one
    sender: str | None = None  # that e-mail's sender

    @property
    def accepted(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True)
class StoredRow:
    sha256: str
    sheet: str
    row: int
    data: dict[str, Any]  # initiative key -> value (dates as ISO text)


@dataclass(frozen=True)
class Records:
    """A file's accepted records by column, as the reader keeps them, to be stored."""

    sheet: str
    rows: Sequence[int]  # the Excel row of each record
    columns: Mapping[str, Sequence[Any]]  # field key -> one value per record
    keys: Sequence[str | None]  # each record's initiative key (title and author)

    def __len__(self) -> int:
        return len(self.rows)


class RecordSet:
    """A file's stored records by column; each column is read from the ledger when it is asked for,
    or from its stored text when that came with the set (`Ledger.record_sets`)."""

    def __init__(
        self,
        db: sqlite3.Connection,
        sha256: str,
        sheet: str,
        rows: list[int],
        fields: list[str],
        data: Mapping[str, str] | None = None,
    ) -> None:
        self._db = db
        self.sha256, self.sheet = sha256, sheet
        self.rows = rows  # the Excel row of each record, in order
        self.fields = fields  # the keys of the fields it has a column of, in order
        self._data = data  # field -> the column's JSON text, when read with the set

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, field: str) -> list[Any] | None:
        """The field's value of each record (dates as ISO text), or None when the file has no such column."""
        text = self.column_json(field)
        return None if text is None else list(json.loads(text))

    def column_json(self, field: str) -> str | None:
        """`column`'s values as the ledger keeps them: a JSON array (None: no such column)."""
        if self._data is not None:
            return self._data.get(field)
        found = self._db.execute(
            "SELECT data FROM record_columns WHERE sha256 = ? AND field = ?", (self.sha256, field)
        ).fetchone()
        return None if found is None else str(found[0])

    def records(self, indexes: Iterable[int] | None = None) -> Iterator[StoredRow]:
        """The records one at a time, by Excel row (those at `indexes` only, when given)."""
        columns = {field: self.column(field) or [] for field in self.fields}
        for i in range(len(self.rows)) if indexes is None else indexes:
            yield StoredRow(self.sha256, self.sheet, self.rows[i], {k: v[i] for k, v in columns.items()})


def columns_of(sets: Sequence[RecordSet], field: str) -> list[list[Any] | None]:
    """`RecordSet.column(field)` of each of `sets`, their JSON decoded in one call (a province's
    dataset is tens of thousands of columns of a few values each)."""
    texts = ["null" if text is None else text for text in (s.column_json(field) for s in sets)]
    return list(json.loads(f"[{','.join(texts)}]"))


class StoredRows:
    """The records of some files, file by file in the order given, each by Excel row: iterated one
    `StoredRow` at a time, or a file at a time by column (`sets`). Read as they are asked for."""

    def __init__(self, ledger: Ledger, sha256s: Sequence[str]) -> None:
        self._ledger, self._sha256s = ledger, list(dict.fromkeys(sha256s))

    def sets(self) -> Iterator[RecordSet]:
        yield from self._ledger.record_sets(self._sha256s)

    def __iter__(self) -> Iterator[StoredRow]:
        for found in self.sets():
            yield from found.records()


@dataclass(frozen=True)
class NewFile:
    """Everything about one file, written in one transaction (`Ledger.add_files`)."""

    sha256: str
    name: str
    kind: str
    size: int
    received_at: dt.datetime
    status: str
    readable: bool
    unit_code: str | None
    unit_name: str | None
    as_of_date: dt.date | None
    unit_record: dict[str, Any]
    columns: dict[str, str]
    findings: Sequence[Finding]
    records: Records | None  # an accepted file's initiatives (None for a rejected file)
    message_id: str | None = None
    sender: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    """An e-mail read from the inbox."""

    message_id: str
    sha256: str  # of the saved message
    name: str  # where it was found in the inbox
    sender: str | None
    sender_name: str | None
    subject: str
    sent_at: dt.datetime | None
    references: tuple[str, ...]  # its own References and In-Reply-To
    problem: str | None  # why nothing in it could be taken (Vietnamese), or None
    files: tuple[tuple[str, str], ...]  # (sha256, name) of the files it carried
    first_run: int = 0


@dataclass(frozen=True)
class StoredDraft:
    """A reply or reminder written as a draft, and whether it was sent."""

    message_id: str  # the draft's own Message-ID
    kind: str  # rejected | warnings | receipt | no_attachment | reminder | overdue
    about: tuple[str, ...]  # what it answers: Message-IDs, or the hashes of files saved by hand
    unit_code: str | None
    path: str
    recipients: tuple[str, ...]
    subject: str
    made_at: dt.datetime
    state: str = "drafted"  # drafted | sending | sent | failed | withdrawn
    sent_at: dt.datetime | None = None
    error: str | None = None


class LedgerError(PipelineError):
    """The ledger cannot be opened or is newer than this program."""


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA foreign_keys = ON")
            # Write-ahead log: a commit appends to the log without waiting for the disk, and a
            # killed run still leaves every committed file and nothing half-written (only a power
            # cut can lose the last commits, never corrupt the ledger).
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f'Không mở được sổ theo dõi "{path}": {exc}.') from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise LedgerError(
                f'Sổ theo dõi "{self.path}" được tạo bởi phiên bản mới hơn của công cụ (lược đồ {current}); '
                "hãy cập nhật công cụ."
            )
        for version in range(current, len(MIGRATIONS)):
            with self.transaction() as db:
                for statement in MIGRATIONS[version]:
                    if statement in _STEPS:
                        _STEPS[statement](db)
                    else:
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")

    # --- runs ----------------------------------------------------------------------------------

    def start_run(self, as_of: dt.date, inbox: Path) -> int:
        with self.transaction() as db:
            # A run that never finished was interrupted: what it committed stays.
            db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            cursor = db.execute(
                "INSERT INTO runs (started_at, as_of, inbox, status) VALUES (?, ?, ?, 'running')",
                (_now(), as_of.isoformat(), str(inbox)),
            )
            return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?", (_now(), run_id))

    def runs(self) -> list[dict[str, Any]]:
        cursor = self.db.execute("SELECT id, started_at, finished_at, as_of, status FROM runs ORDER BY id")
        return [dict(zip(("id", "started_at", "finished_at", "as_of", "status"), r, strict=True)) for r in cursor]

    # --- files ---------------------------------------------------------------------------------

    def known(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT sha256 FROM files")}

    def stamps(self) -> dict[str, tuple[int, int, str, str]]:
        """By name in the inbox: the size, modification time (ns), hash and kind of the file intake
        found there last."""
        cursor = self.db.execute("SELECT name, size, mtime_ns, sha256, kind FROM stamps")
        return {name: (size, mtime_ns, sha, kind) for name, size, mtime_ns, sha, kind in cursor}

    def set_stamps(self, stamps: Sequence[tuple[str, int, int, str, str]]) -> None:
        """(name, size, mtime_ns, sha256, kind) of each file intake found in the inbox, in place of
        what it found there before."""
        with self.transaction() as db:
            db.execute("DELETE FROM stamps")
            db.executemany("INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?, ?)", stamps)

    def add_sightings(self, run_id: int, seen: Sequence[tuple[str, str]]) -> None:
        """(sha256, name) of every file found in the inbox by this run."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO sightings VALUES (?, ?, ?)", [(run_id, s, n) for s, n in seen])

    def add_file(self, run_id: int, new: NewFile) -> None:
        """The file, its findings and its records, all or nothing."""
        self.add_files(run_id, [new])

    def add_files(self, run_id: int, files: Iterable[NewFile]) -> None:
        """Each file with its findings and its records, in order, a few hundred files to a
        transaction (`FILES_PER_COMMIT`): a file is in the ledger whole or not at all, and a run
        stopped half-way keeps the files of every transaction it committed."""
        batch: list[NewFile] = []
        for new in files:
            batch.append(new)
            if len(batch) == FILES_PER_COMMIT:
                self._add(run_id, batch)
                batch = []
        if batch:
            self._add(run_id, batch)

    def _add(self, run_id: int, files: Sequence[NewFile]) -> None:
        with self.transaction() as db:
            for new in files:
                self._insert_file(db, run_id, new)

    @staticmethod
    def _insert_file(db: sqlite3.Connection, run_id: int, new: NewFile) -> None:
        records = new.records
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM files").fetchone()[0]
        errors = sum(1 for f in new.findings if f.severity is Severity.ERROR)
        warnings = sum(1 for f in new.findings if f.severity is Severity.WARNING)
        db.execute(
            f"INSERT INTO files ({', '.join(_FILE_COLUMNS)}) VALUES ({', '.join('?' * len(_FILE_COLUMNS))})",
            (
                new.sha256, seq, new.name, new.kind, new.size, new.received_at.isoformat(timespec="seconds"),
                run_id, new.status, int(new.readable), new.unit_code, new.unit_name,
                new.as_of_date.isoformat() if new.as_of_date else None, errors, warnings, len(records or ()),
                _dumps(new.unit_record), _dumps(new.columns), None, None, new.message_id, new.sender,
            ),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    new.sha256, i, f.code.value, f.severity.value, f.location.file, f.location.sheet,
                    f.location.row, f.location.column, f.field, f.value, _dumps(dict(f.params)),
                )
                for i, f in enumerate(map(as_stored, new.findings))
            ],
        )  # fmt: skip
        if records:
            _insert_records(db, new.sha256, records.sheet, records.rows, records.columns, records.keys)

    def set_feedback(self, sha256: str, workbook: Path | None, message: Path) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE files SET feedback = ?, message = ? WHERE sha256 = ?",
                (str(workbook) if workbook else None, str(message), sha256),
            )

    def files(self) -> list[StoredFile]:
        cursor = self.db.execute(f"SELECT {', '.join(_FILE_COLUMNS)} FROM files ORDER BY seq")
        return [_stored_file(row) for row in cursor]

    def findings(self, sha256s: Sequence[str] | None = None) -> dict[str, list[Finding]]:
        query = "SELECT sha256, code, severity, file, sheet, row, col, field, value, params FROM findings"
        out: dict[str, list[Finding]] = {}
        for sha, code, severity, file, sheet, row, col, field, value, params in self.db.execute(
            query + " ORDER BY sha256, position"
        ):
            if sha256s is not None and sha not in sha256s:
                continue
            finding = Finding(
                Code(code),
                Severity(severity),
                Location(file, sheet, row, col),
                field,
                value,
                tuple(sorted(json.loads(params).items())),
            )
            out.setdefault(sha, []).append(finding)
        return out

    def record_set(self, sha256: str) -> RecordSet | None:
        """A file's records by column (None when it has none)."""
        return next(self.record_sets([sha256]), None)

    def record_sets(self, sha256s: Sequence[str]) -> Iterator[RecordSet]:
        """The records of the given files by column, in the order given, skipping files without
        records. Files whose records come to at most `PRELOAD_ROWS` together have their columns'
        text read in one query; a larger file's columns are read when asked for."""
        for chunk in _batches(sha256s):
            yield from self._record_sets(chunk)

    def _record_sets(self, sha256s: Sequence[str]) -> Iterator[RecordSet]:
        marks = ", ".join("?" * len(sha256s))
        found = self.db.execute(f"SELECT sha256, sheet, rows FROM record_sets WHERE sha256 IN ({marks})", sha256s)
        sets = {sha: (sheet, json.loads(rows)) for sha, sheet, rows in found}
        group: list[str] = []
        size = 0
        for sha in [sha for sha in sha256s if sha in sets]:
            count = len(sets[sha][1])
            if group and size + count > PRELOAD_ROWS:
                yield from self._preloaded(group, sets)
                group, size = [], 0
            if count > PRELOAD_ROWS:
                fields = [
                    f
                    for (f,) in self.db.execute(
                        "SELECT field FROM record_columns WHERE sha256 = ? ORDER BY field", (sha,)
                    )
                ]
                yield RecordSet(self.db, sha, sets[sha][0], sets[sha][1], fields)
                continue
            group.append(sha)
            size += count
        yield from self._preloaded(group, sets)

    def _preloaded(self, group: list[str], sets: Mapping[str, tuple[str, list[int]]]) -> Iterator[RecordSet]:
        data: dict[str, dict[str, str]] = {sha: {} for sha in group}
        if group:
            marks = ", ".join("?" * len(group))
            query = f"SELECT sha256, field, data FROM record_columns WHERE sha256 IN ({marks}) ORDER BY sha256, field"
            for sha, field, text in self.db.execute(query, group):
                data[sha][field] = text
        for sha in group:
            yield RecordSet(self.db, sha, sets[sha][0], sets[sha][1], list(data[sha]), data[sha])

    def iter_rows(self, sha256s: Sequence[str]) -> StoredRows:
        """The records of the given files, file by file in that order, each by Excel row, read a
        file at a time (a province's records are never all in memory at once)."""
        return StoredRows(self, sha256s)

    def rows(self, sha256s: Sequence[str]) -> list[StoredRow]:
        return list(self.iter_rows(sha256s))

    def rows_with_keys(self, sha256s: Sequence[str], keys: Collection[str]) -> list[StoredRow]:
        """The records of the given files whose initiative key is one of `keys` (by the index)."""
        files, wanted = set(sha256s), list(dict.fromkeys(keys))
        found: dict[str, set[int]] = {}
        for chunk in _batches(wanted):
            marks = ", ".join("?" * len(chunk))
            for sha, row in self.db.execute(f"SELECT sha256, row FROM record_keys WHERE key IN ({marks})", chunk):
                if sha in files:
                    found.setdefault(sha, set()).add(row)
        out: list[StoredRow] = []
        for stored in self.record_sets(sorted(found)):
            out += stored.records(i for i, row in enumerate(stored.rows) if row in found[stored.sha256])
        return sorted(out, key=lambda r: (r.sha256, r.row))

    def names(self) -> dict[str, list[str]]:
        """Every name each file arrived under, first seen first."""
        out: dict[str, list[str]] = {}
        # Each (file, name) once, in the order first seen. Sightings are only ever added by the run
        # that makes them, so their rowids grow with the runs and MIN(rowid) is the first sighting.
        query = "SELECT sha256, name FROM sightings GROUP BY sha256, name ORDER BY MIN(run_id), MIN(rowid)"
        for sha, name in self.db.execute(query):
            out.setdefault(sha, []).append(name)
        return out

    # --- mail ----------------------------------------------------------------------------------

    def add_message(self, run_id: int, message: StoredMessage) -> None:
        """A message read from the inbox, with the files it carried (by hash and name)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.message_id, message.sha256, message.name, message.sender, message.sender_name,
                    message.subject, message.sent_at.isoformat(timespec="seconds") if message.sent_at else None,
                    _dumps(list(message.references)), message.problem, run_id,
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT OR IGNORE INTO message_files VALUES (?, ?, ?)",
                [(message.message_id, sha, name) for sha, name in message.files],
            )

    def messages(self) -> list[StoredMessage]:
        """Every message read, in the order the ledger met them."""
        files: dict[str, list[tuple[str, str]]] = {}
        for mid, sha, name in self.db.execute("SELECT message_id, sha256, name FROM message_files ORDER BY rowid"):
            files.setdefault(mid, []).append((sha, name))
        cursor = self.db.execute(
            "SELECT message_id, sha256, name, sender, sender_name, subject, sent_at, refs, problem, first_run "
            "FROM messages ORDER BY rowid"
        )
        return [
            StoredMessage(
                mid, sha, name, sender, sender_name, subject, dt.datetime.fromisoformat(sent) if sent else None,
                tuple(json.loads(refs)), problem, tuple(files.get(mid, ())), run,
            )
            for mid, sha, name, sender, sender_name, subject, sent, refs, problem, run in cursor
        ]  # fmt: skip

    def fetched(self, mailbox: str) -> set[tuple[int, int]]:
        """(UIDVALIDITY, UID) of every message already fetched from `mailbox` ("user@host/folder")."""
        cursor = self.db.execute("SELECT uidvalidity, uid FROM fetched WHERE mailbox = ?", (mailbox,))
        return {(int(v), int(u)) for v, u in cursor}

    def add_fetched(self, mailbox: str, uidvalidity: int, uid: int, name: str) -> None:
        with self.transaction() as db:
            row = (mailbox, uidvalidity, uid, name, _now())
            db.execute("INSERT OR IGNORE INTO fetched VALUES (?, ?, ?, ?, ?)", row)

    def add_draft(self, draft: StoredDraft) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO drafts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    draft.message_id, draft.kind, _dumps(list(draft.about)), draft.unit_code, draft.path,
                    _dumps(list(draft.recipients)), draft.subject, draft.made_at.isoformat(timespec="seconds"),
                    draft.state, None, None,
                ),
            )  # fmt: skip

    def drafts(self) -> list[StoredDraft]:
        """Every draft made, oldest first."""
        cursor = self.db.execute(
            "SELECT message_id, kind, about, unit_code, path, recipients, subject, made_at, state, sent_at, error "
            "FROM drafts ORDER BY rowid"
        )
        return [
            StoredDraft(
                mid, kind, tuple(json.loads(about)), unit, path, tuple(json.loads(to)), subject,
                dt.datetime.fromisoformat(made),
                state, dt.datetime.fromisoformat(sent) if sent else None, error,
            )
            for mid, kind, about, unit, path, to, subject, made, state, sent, error in cursor
        ]  # fmt: skip

    def set_draft_state(
        self, message_id: str, state: str, error: str | None = None, recipients: Sequence[str] | None = None
    ) -> None:
        """Mark a draft: "sending" before it is handed to the server (so that a crash never sends it
        again) with the recipients it goes to, then "sent" with the time, or "failed" with the
        server's answer; "withdrawn" when its file was deleted."""
        with self.transaction() as db:
            db.execute(
                "UPDATE drafts SET state = ?, sent_at = ?, error = ? WHERE message_id = ?",
                (state, _now() if state == "sent" else None, error, message_id),
            )
            if recipients is not None:
                db.execute(
                    "UPDATE drafts SET recipients = ? WHERE message_id = ?", (_dumps(list(recipients)), message_id)
                )


_FILE_COLUMNS = (
    "sha256", "seq", "name", "kind", "size", "received_at", "first_run", "status", "readable", "unit_code",
    "unit_name", "as_of_date", "errors", "warnings", "initiatives", "unit_record", "columns", "feedback", "message",
    "message_id", "sender",
)  # fmt: skip


def as_stored(finding: Finding) -> Finding:
    """`finding` as the ledger gives it back (`Ledger.findings`): its value and parameters as the
    user sees them (`show_value`), the parameters by name."""
    params = tuple(sorted({k: show_value(v) for k, v in finding.params}.items()))
    value = None if finding.value is None else show_value(finding.value)
    return Finding(finding.code, finding.severity, finding.location, finding.field, value, params)


def _stored_file(row: tuple[Any, ...]) -> StoredFile:
    values = dict(zip(_FILE_COLUMNS, row, strict=True))
    values["received_at"] = dt.datetime.fromisoformat(values["received_at"])
    values["as_of_date"] = dt.date.fromisoformat(values["as_of_date"]) if values["as_of_date"] else None
    values["readable"] = bool(values["readable"])
    values["unit_record"] = json.loads(values["unit_record"])
    values["columns"] = json.loads(values["columns"])
    return StoredFile(**values)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


# One encoder for every value the ledger stores (json.dumps with options makes one per call: a
# province's files are tens of thousands of columns).
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default, sort_keys=True)


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
