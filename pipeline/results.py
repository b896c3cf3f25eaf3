"""The results of a run or a check, as the library returns them and run.json records them.

`FileResult` is one file's outcome, `RunResult` the whole run's (files, unions, changes, totals,
stages and outputs); `Status` is a file's place in the period. `run_summary` is the content of
`outbox/run.json` (its keys are documented in the README). The CLI, the reports and the tests read
these; only `pipeline.stages` makes them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.findings import Finding, Severity
from pipeline.labels import Labelled
from pipeline.mail.inbox import Received
from pipeline.merge import Changes, UnitState


class Status(Labelled):
    """What became of a file."""

    ACCEPTED = "accepted", "Nhận"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings", "Nhận, có cảnh báo"
    REJECTED = "rejected", "Trả lại"
    DUPLICATE = "duplicate", "Trùng tệp đã có"
    SUPERSEDED = "superseded", "Đã có bản mới hơn"
    IGNORED = "ignored", "Bỏ qua"


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
    path: Path | None = None  # the original (in the archive once a run has kept it)
    readable: bool = True  # whether its records could be located at all
    unit_name: str | None = None
    feedback: Path | None = None  # the marked-up copy of the workbook
    message: Path | None = None  # the text to send back
    received_at: dt.datetime | None = None
    new: bool = True  # read and checked by this run (False: known from an earlier run)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)


@dataclass
class RunResult:
    files: list[FileResult]
    as_of: dt.date
    outputs: dict[str, Path] = field(default_factory=dict)
    units: dict[str, UnitState] = field(default_factory=dict)
    changes: dict[str, Changes] = field(default_factory=dict)  # unit code -> what its new file changed
    totals: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)
    unfilled: tuple[str, ...] = ()  # the officer's sections of the report still showing their hint
    messages: list[Received] = field(default_factory=list)  # the e-mails saved in the inbox
    unchanged: bool = False  # nothing new and nothing else changed: the outputs of the last run stand

    @property
    def counts(self) -> Counter[Status]:
        return Counter(f.status for f in self.files)


def run_summary(result: RunResult, run_id: int) -> dict[str, Any]:
    """The content of outbox/run.json (documented in the README)."""
    return {
        "run": run_id,
        "as_of": result.as_of,
        "files": [
            {
                "name": r.name,
                "sha256": r.sha256,
                "status": r.status.value,
                "unit_code": r.unit_code,
                "received_at": r.received_at,
                "new": r.new,
                "errors": r.count(Severity.ERROR),
                "warnings": r.count(Severity.WARNING),
                "initiatives": r.initiatives,
                "findings": [{k: v for k, v in f.to_dict().items() if k != "file"} for f in r.findings],
                "feedback": r.feedback,
                "message": r.message,
                "reason": r.reason,
            }
            for r in sorted(result.files, key=lambda r: r.name)
        ],
        "units": [
            {
                "code": s.code,
                "name": s.name,
                "in_roster": s.in_roster,
                "reporting": s.reporting.value,
                "received_at": s.received,
                "current_file": s.current.name if s.current else None,
                "superseded_files": [f.name for f in s.superseded],
                "latest_file_rejected": s.latest_rejected.name if s.latest_rejected else None,
                "changes": result.changes[s.code].to_dict() if s.code in result.changes else None,
            }
            for s in sorted(result.units.values(), key=lambda s: s.code)
        ],
        "messages": [
            {
                "name": m.name,
                "message_id": m.message_id,
                "sender": m.letter.sender if m.letter else None,
                "subject": m.letter.subject if m.letter else None,
                "sent_at": m.letter.sent_at if m.letter else None,
                "new": m.new,
                "attachments": [s.name for s in m.submissions],
                "problem": m.problem,
                "notes": list(m.letter.notes) if m.letter else [],
                "duplicate_of": m.duplicate_of,
            }
            for m in sorted(result.messages, key=lambda m: m.name)
        ],
        "totals": result.totals,
        "report": {"unfilled": list(result.unfilled)},
        "stages": result.stages,
        "outputs": result.outputs,
    }
