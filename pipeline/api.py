"""The public API: what the command line, the demo, the benchmark, the tests and a script call.

    import pipeline

    period = pipeline.open_period("pipeline.toml")
    result = pipeline.run(period, pdf=True)
    for file in result.files:
        print(file.name, file.status.label, [f.message for f in file.findings])

A `Period` holds what every command needs, loaded once: the settings, the form and the roster.
`run` takes the inbox through every stage and rebuilds the outputs; `check` reads given files and
writes nothing; `status` tells where each union stands from the ledger; `templates` writes the
forms to send. The mail: `fetch_mail` saves new messages into the inbox, `draft_replies` and
`draft_reminders` write the drafts to send, `send_drafts` sends them when told. Errors a person
can fix (a missing configuration, a roster that cannot be read, a mail server that refuses) raise
`PipelineError` with a Vietnamese message and the exit code the command line uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Settings, find_config, load_settings
from pipeline.errors import PipelineError
from pipeline.form import Form, load_form
from pipeline.merge import UnitState
from pipeline.results import RunResult
from pipeline.roster import Roster, load_roster
from pipeline.stages import Progress

if TYPE_CHECKING:
    from pipeline.mail.drafts import Drafted
    from pipeline.mail.fetch import Fetched
    from pipeline.mail.send import Sending


@dataclass(frozen=True)
class Period:
    """One reporting period: its settings, the form and the roster of unions."""

    settings: Settings
    form: Form
    roster: Roster | None  # None while the configured roster file does not exist

    def require_roster(self) -> Roster:
        """The roster, or the Vietnamese error that says where it was looked for."""
        if self.roster is not None:
            return self.roster
        return load_roster(self.settings.paths.roster, self.form)  # raises, naming the path

    def with_settings(self, settings: Settings) -> Period:
        """The same form and roster under other settings (another report date, say)."""
        return replace(self, settings=settings)


def open_period(
    config: str | Path | None = None,
    *,
    inbox: Path | None = None,
    outbox: Path | None = None,
    roster: Path | None = None,
    as_of: dt.date | None = None,
    form: Form | None = None,
) -> Period:
    """Load a period: the configuration `config` (default: $PIPELINE_CONFIG, else pipeline.toml in
    the current folder), with the paths and the report date given here winning over the file's,
    the form (default: the standard form), and the roster when its file exists. A roster given
    here must exist."""
    settings = load_settings(find_config(Path(config) if config is not None else None).resolve())
    settings = settings.with_paths(inbox=inbox, outbox=outbox, roster=roster).with_as_of(as_of)
    form = form or load_form()
    path = settings.paths.roster
    units = load_roster(path, form) if roster is not None or path.exists() else None
    return Period(settings, form, units)


def run(period: Period, *, pdf: bool = False, progress: Progress | None = None) -> RunResult:
    """Take the period's inbox through every stage: the files the ledger has not seen are read,
    checked and recorded; the dataset, the report (DOCX, HTML, workbook; PDF with `pdf`), the
    feedback for the unions and run.json are rebuilt in the outbox. `progress` hears of each file
    read. Needs the roster."""
    from pipeline import stages

    inbox = period.settings.paths.inbox
    if not inbox.is_dir():
        raise PipelineError(f'Không tìm thấy thư mục nhận tệp "{inbox}".')
    return stages.run(period.settings, period.form, period.require_roster(), progress, pdf=pdf)


def check(period: Period, files: Iterable[Path], *, progress: Progress | None = None) -> RunResult:
    """Read and check `files` as a run would, and write nothing: no ledger, no outputs. The
    roster's unit codes are checked when the period has a roster."""
    from pipeline import stages

    paths = list(files)
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise PipelineError("Không tìm thấy tệp: " + ", ".join(missing))
    return stages.process(paths, period.settings, period.form, period.roster, progress)


def status(period: Period) -> dict[str, UnitState]:
    """Where each union stands, by unit code, from the ledger of the last run: its current file,
    on time or late, rejected, or not reported. Needs the roster and a first run."""
    from pipeline.ledger import LEDGER_NAME, Ledger
    from pipeline.merge import unit_states

    roster = period.require_roster()
    path = period.settings.paths.history_dir / LEDGER_NAME
    if not path.exists():
        raise PipelineError(f'Chưa có sổ theo dõi "{path}": hãy chạy lệnh run trước.')
    with Ledger(path) as ledger:
        return unit_states(ledger.files(), roster, period.settings)


def templates(period: Period, folder: Path | None = None) -> list[Path]:
    """Write the blank template and, with a roster, one pre-filled template per active union into
    `folder` (default: bieu-mau in the outbox); the blank template's path first."""
    from pipeline.template import OUTBOX_FOLDER, write_templates

    folder = folder or period.settings.paths.outbox / OUTBOX_FOLDER
    return write_templates(folder, period.form, period.settings, period.roster)


def fetch_mail(period: Period) -> Fetched:
    """Save the new messages of the district's IMAP folder (`[mail.imap]`) into the inbox, each
    once; the next `run` reads them. The password comes from the keyring or the environment."""
    from pipeline.mail.fetch import fetch

    return fetch(period.settings)


def draft_replies(period: Period) -> Drafted:
    """Write a reply draft (.eml, `X-Unsent: 1`) for each union with something not yet answered:
    what to fix, what to check, or a receipt; and for each message that carried nothing to read."""
    from pipeline.mail.drafts import draft_replies as draft

    return draft(period.settings, period.form, period.roster)


def draft_reminders(period: Period, *, again: bool = False, today: dt.date | None = None) -> Drafted:
    """Write a reminder (before the deadline) or an overdue notice (after it), with its template,
    to each active union that has not reported or whose latest file was rejected; once per union
    unless `again`."""
    from pipeline.mail.drafts import draft_reminders as draft

    return draft(period.settings, period.form, period.require_roster(), again=again, today=today)


def send_drafts(period: Period, *, send: bool = False) -> Sending:
    """The drafts not yet sent: listed, or sent over SMTP (`[mail.smtp]`) when `send` is True,
    each once, recorded in the ledger."""
    from pipeline.mail.send import send_drafts as go

    return go(period.settings, send=send)
