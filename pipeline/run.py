"""The stages in order: intake -> read -> validate -> outputs. Nothing else lives here.

`process` checks a list of files (used by `pipeline check`); `run` does it for the whole inbox,
keeps the originals in the archive and writes the findings table into the outbox. Both return a
`RunResult` that the CLI only formats.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pipeline.config import Settings
from pipeline.findings import Code, Finding, Location, Severity, make
from pipeline.form import Form
from pipeline.intake import SPREADSHEET_KINDS, Submission, archive, fingerprint, scan_inbox
from pipeline.isolate import read_books
from pipeline.roster import Roster
from pipeline.text import neutralise_formula
from pipeline.validate import validate

ARCHIVE_DIR = "luu-tru"
FEEDBACK_DIR = "phan-hoi"
FINDINGS_CSV = "ket-qua-kiem-tra.csv"
Progress = Callable[[str], None]


class Status(StrEnum):
    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"

    @property
    def label(self) -> str:
        return {
            "accepted": "Nhận",
            "accepted_with_warnings": "Nhận, có cảnh báo",
            "rejected": "Trả lại",
            "duplicate": "Trùng tệp đã có",
            "ignored": "Bỏ qua",
        }[self.value]


@dataclass
class FileResult:
    name: str
    status: Status
    sha256: str | None = None
    kind: str | None = None
    unit_code: str | None = None
    findings: list[Finding] = field(default_factory=list)
    reason: str | None = None  # why a file was ignored or is a duplicate
    initiatives: int = 0
    path: Path | None = None  # the original, where it arrived
    readable: bool = True  # whether its records could be located at all
    unit_name: str | None = None
    feedback: Path | None = None  # the marked-up copy of the workbook
    message: Path | None = None  # the text to send back

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


@dataclass
class RunResult:
    files: list[FileResult]
    as_of: dt.date
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[Status]:
        return Counter(f.status for f in self.files)


def run(settings: Settings, form: Form, roster: Roster | None, progress: Progress | None = None) -> RunResult:
    inbox, outbox = settings.paths.inbox, settings.paths.outbox
    paths, skipped = scan_inbox(inbox)
    results = [FileResult(s.name, Status.IGNORED, reason=s.reason) for s in skipped]
    submissions = []
    for path in paths:
        submission = fingerprint(path, path.relative_to(inbox).as_posix())
        archive(submission, outbox / ARCHIVE_DIR)
        submissions.append(submission)
    results += check_submissions(submissions, settings, form, roster, progress)
    result = RunResult(sorted(results, key=lambda r: r.name), settings.as_of)
    write_feedback_files(result.files, outbox / FEEDBACK_DIR, settings)
    result.outputs["findings"] = write_findings_csv(result.files, outbox / FINDINGS_CSV)
    result.outputs["feedback"] = outbox / FEEDBACK_DIR
    result.outputs["archive"] = outbox / ARCHIVE_DIR
    return result


def write_feedback_files(files: Sequence[FileResult], out_dir: Path, settings: Settings) -> None:
    """A marked-up workbook and a message for every file with errors or warnings."""
    from pipeline.render.feedback import feedback_stem, write_feedback

    used: set[str] = set()
    for r in files:
        if r.status not in (Status.REJECTED, Status.ACCEPTED_WITH_WARNINGS) or r.path is None:
            continue
        stem = feedback_stem(r.name, r.unit_code)
        if stem.casefold() in used:  # two files of the same name in different folders
            stem = f"{stem} ({(r.sha256 or '')[:8]})"
        used.add(stem.casefold())
        written = write_feedback(
            r.path,
            r.kind or "",
            r.name,
            r.findings,
            out_dir,
            settings,
            unit_code=r.unit_code,
            unit_name=r.unit_name,
            readable=r.readable and r.kind in SPREADSHEET_KINDS,
            stem=stem,
        )
        r.feedback, r.message = written.workbook, written.message


def process(
    paths: Iterable[Path], settings: Settings, form: Form, roster: Roster | None, progress: Progress | None = None
) -> RunResult:
    submissions = [fingerprint(p, str(p)) for p in paths]
    return RunResult(check_submissions(submissions, settings, form, roster, progress), settings.as_of)


def check_submissions(
    submissions: Sequence[Submission],
    settings: Settings,
    form: Form,
    roster: Roster | None,
    progress: Progress | None = None,
) -> list[FileResult]:
    results: list[FileResult] = []
    unique: list[Submission] = []
    first_of: dict[str, str] = {}
    for sub in submissions:
        if sub.sha256 in first_of:
            reason = f'giống hệt tệp "{first_of[sub.sha256]}"'
            results.append(FileResult(sub.name, Status.DUPLICATE, sub.sha256, sub.kind, reason=reason))
            continue
        first_of[sub.sha256] = sub.name
        unique.append(sub)
    # Guarded, and read in worker processes: a file that crashes or hangs a reader fails alone.
    books = read_books(unique, form, progress=progress)
    for sub, book in zip(unique, books, strict=True):
        if sub.is_spreadsheet and book.readable and not sub.extension_matches:
            mismatch = make(
                Code.EXTENSION_MISMATCH,
                Severity.NOTICE,
                Location(sub.name),
                extension=sub.path.suffix or "(không có)",
                kind=sub.kind,
            )
            book.findings.insert(0, mismatch)
    findings = validate(books, form, settings, roster)
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        by_file.setdefault(f.location.file, []).append(f)
    by_name = {s.name: s for s in submissions}
    for book in books:
        own = by_file.get(book.file, [])
        sub = by_name[book.file]
        code = book.unit.get("ma_cdcs")
        name = book.unit.get("ten_cdcs")
        known = roster.find(code.value) if roster and code and code.value else None
        results.append(
            FileResult(
                book.file,
                _status(own),
                sub.sha256,
                sub.kind,
                unit_code=known.code if known else (code.value if code else None),
                findings=own,
                initiatives=len(book.rows),
                path=sub.path,
                readable=book.readable,
                unit_name=known.name if known else (name.value if name else None),
            )
        )
    return results


def _status(findings: list[Finding]) -> Status:
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return Status.REJECTED
    if Severity.WARNING in severities:
        return Status.ACCEPTED_WITH_WARNINGS
    return Status.ACCEPTED


FINDINGS_COLUMNS = ("file", "sheet", "cell", "field", "value", "severity", "rule", "message")
FINDINGS_HEADERS = ("Tệp", "Trang", "Ô", "Mục", "Giá trị", "Mức độ", "Mã quy tắc", "Nội dung")


def write_findings_csv(files: Sequence[FileResult], path: Path) -> Path:
    """Every finding of the run, one per line, UTF-8 with BOM so that Excel opens it as is."""
    from pipeline.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FINDINGS_HEADERS)
        for result in files:
            for f in result.findings:
                row = f.to_dict()
                row["severity"] = Severity(row["severity"]).label
                writer.writerow([neutralise_formula(str(row[c] or "")) for c in FINDINGS_COLUMNS])
    return path
