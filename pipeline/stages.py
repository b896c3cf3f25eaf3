"""The stages in order: intake -> read -> validate -> ledger -> merge -> outputs. Nothing else lives here.

`run` takes the whole inbox: files the ledger already knows are not read again; new ones are
guarded, read in worker processes, validated together and written to the ledger one by one; then
every output is rebuilt from the ledger. `process` checks given files and writes nothing (used by
`pipeline check`). Both return a `RunResult` that the CLI only formats.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import functools
import json
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.config import Settings
from pipeline.files import remove_unfinished
from pipeline.findings import Code, Finding, Location, Severity, make, row_place
from pipeline.form import Form
from pipeline.intake import (
    SPREADSHEET_KINDS,
    Submission,
    archived_path,
    by_arrival,
    fingerprint,
    scan_inbox,
    stamped,
    take,
)
from pipeline.isolate import Failure, Job, ReadAhead, Runner, default_workers, open_runner, read_books, timed, waited
from pipeline.ledger import LEDGER_NAME, Ledger, NewFile, Records, StoredFile
from pipeline.lock import exclusive
from pipeline.mail.inbox import attachment_of, is_message_file, open_messages
from pipeline.merge import (
    Changes,
    UnitState,
    attachment_notes,
    changes,
    current_files,
    dataset,
    file_statuses,
    unit_states,
)
from pipeline.outputs import DATASET_PARQUET, OUTPUTS, RUN_JSON, Context, Output, outputs_for, run_output
from pipeline.read import Value, WorkbookData
from pipeline.results import FileResult, RunResult, Status, run_summary
from pipeline.roster import Roster, Unit

if TYPE_CHECKING:  # imported where they are used: a run with nothing new needs neither pandas nor pandera
    from pipeline.report.model import Report
    from pipeline.validate import ContextRow

ARCHIVE_DIR = "luu-tru"
FEEDBACK_DIR = "phan-hoi"


class Progress(Protocol):
    """What a run tells of its progress: how many files it will read, then each file when read."""

    def start(self, total: int) -> None: ...

    def advance(self, name: str) -> None: ...


class _Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 4)


def run(
    settings: Settings,
    form: Form,
    roster: Roster | None,
    progress: Progress | None = None,
    *,
    pdf: bool = False,
) -> RunResult:
    """The whole inbox through every stage; the report too when there is a roster (PDF on request).

    A run that finds nothing new, with the same configuration, roster, officer's text, code and
    outputs as the run before it, rewrites nothing: its result comes from the ledger and from the
    last run.json (`RunResult.unchanged`)."""
    inbox, outbox, history = settings.paths.inbox, settings.paths.outbox, settings.paths.history_dir
    stage = _Stages()
    warming: list[concurrent.futures.Future[None]] = []
    ahead: list[ReadAhead] = []
    handed: set[str] = set()
    with (
        exclusive(history),
        Ledger(history / LEDGER_NAME) as ledger,
        open_runner(settings) as runner,
        concurrent.futures.ThreadPoolExecutor(2) as aside,
        contextlib.ExitStack() as leaving,  # closed first: what runs aside stops before `aside` waits for it
    ):

        def ready(files: int) -> None:
            """`files` to read so far (a run with nothing new needs none of this): the reading starts
            (`ReadAhead`: the workers start as the files come, one for one new file), and pandera
            makes its first validation, each in a thread of this process, while intake goes on."""
            if not ahead:
                ahead.append(ReadAhead(runner, form, settings.limits))
                leaving.callback(ahead[0].stop)
                ahead[0].start(aside)
            if not warming:
                warming.append(aside.submit(_warm_up, form, settings, roster))

        def hand_over(submission: Submission) -> None:
            """A file whose content the ledger does not know: read now, as intake goes on (the
            first of each content; the read stage reads what this did not)."""
            if submission.sha256 not in handed:
                handed.add(submission.sha256)
                ahead[0].add(submission)

        with stage("intake"):
            run_id = ledger.start_run(settings.as_of, inbox)
            paths, skipped = scan_inbox(inbox)
            known = {f.sha256: f for f in ledger.files()}  # a run adds no file before it has read them all
            submissions: list[Submission] = []
            saved_mail: list[Submission] = []
            stamps, found, unknown = ledger.stamps(), [], 0
            if not all(stamped(path, path.relative_to(inbox).as_posix(), stamps) for path in paths):
                ready(1)  # something may be new: get ready from now on, before any file is read
            for path in paths:
                # Kept in the archive from the very bytes it was hashed from, before anything else happens to it.
                submission, stamp = take(path, path.relative_to(inbox).as_posix(), history / ARCHIVE_DIR, stamps)
                found.append(stamp)
                is_mail = is_message_file(submission.name, submission.kind)
                if not is_mail and submission.sha256 not in known:
                    unknown += 1
                    ready(unknown)
                    hand_over(submission)
                (saved_mail if is_mail else submissions).append(submission)
            ledger.set_stamps(found)
            known_mail = {m.message_id: m for m in ledger.messages()}
            messages = open_messages(saved_mail, history / ARCHIVE_DIR, known_mail)
            submissions += [s for m in messages for s in m.submissions]
            unknown += sum(1 for m in messages for s in m.submissions if s.sha256 not in known)
            if unknown:
                ready(unknown)
            # In arrival order, so that the ledger meets them in that order (its `seq`), whatever their names.
            submissions = by_arrival(submissions)
            ledger.add_sightings(run_id, [(s.sha256, s.name) for s in submissions])
            extra = [FileResult(s.name, Status.IGNORED, reason=s.reason, new=False) for s in skipped]
            names = ledger.names()  # this run's sightings too: the first name of the files known already
            new, extra_names = _split_new(submissions, {sha: names[sha][0] for sha in known if names.get(sha)})
            extra += extra_names
            before = unit_states(list(known.values()), roster, settings)
            state = None if new else _state(settings, roster, submissions, extra, messages, known.values())
            last = _unchanged_since(state, outbox / RUN_JSON, pdf) if state is not None else None
        if last is not None:  # nothing new and nothing else changed: the outputs stand as they are
            result = _result(list(known.values()), before, ledger, history, set(), extra, messages, settings)
            _as_before(result, last)
            result.stages = stage.seconds
            ledger.finish_run(run_id)
            result.files.sort(key=lambda r: r.name)
            return result
        with stage("read"):
            if progress is not None:
                progress.start(len(new))
            advance = progress.advance if progress is not None else None
            books = _read(new, ahead[0] if ahead else None, form, settings, runner, advance)
            for w in warming:
                w.result()
        if ahead and ahead[0].started is not None:  # from the first file handed over, within intake, to the last read
            stage.seconds["read"] = round(time.perf_counter() - ahead[0].started, 4)
        with stage("validate"):
            # The process of the longest output imports its writer now, on the core that validation
            # leaves idle, when the period will be large enough for its outputs to go to the workers.
            if roster is not None and _on_workers(_initiatives_at_most(known.values(), books), len(roster.active)):
                for o in outputs_for(True):
                    if o.where == "worker" and o.ahead:
                        runner.prestart_own(o.ahead)
            context = _context(before, ledger, books, form) if new else []
            results = check_books(new, books, settings, form, roster, context=context) if new else []
        # The flagged files' feedback is written on the workers from now on, while this process
        # records the files, merges and makes the figures, on every worker but one: that core is
        # this process's. The runner is the feedback's until the outputs (`_Feedback`).
        feedback = _Feedback(outbox / FEEDBACK_DIR, settings, form, runner)
        leaving.callback(feedback.cancel)
        if new:
            taken = [Path(f.message).stem for f in known.values() if f.message]
            feedback.begin(_as_recorded(new, results, history), taken, aside)
        with stage("ledger"):
            _record(ledger, run_id, new, books, results, form)
            for message in messages:  # after its files: a message in the ledger has all its files there
                if message.new and message.duplicate_of is None:
                    ledger.add_message(run_id, message.stored())
            del books, results  # everything is in the ledger now: the rest of the run reads it from there
        with stage("merge"):
            stored = ledger.files()
            states = unit_states(stored, roster, settings)
            current = current_files(states)
            result = _result(stored, states, ledger, history, {s.sha256 for s in new}, extra, messages, settings)
            feedback.settle(result.files, aside)  # the files as the ledger has them decide
            frame = dataset(states, ledger.iter_rows([f.sha256 for f in current]), form, settings)
            result.changes = _changes(before, states, ledger, form)
            parquet = _prepare_outputs(frame, result, settings, form, runner) if roster is not None else None
        with stage("figures"):
            from pipeline.figures import compute, period_totals, unit_tallies
            from pipeline.report.model import build_report
            from pipeline.report.officer import load_text

            tallies = unit_tallies(frame, form)  # a pass over every initiative, for both
            result.totals = period_totals(states, frame, settings, form, tallies)
            report = None
            if roster is not None:
                figures = compute(states, frame, roster, settings, form, stored, ledger.findings(), tallies)
                report = build_report(figures, settings, load_text(settings))
                result.unfilled = report.unfilled
        # What this run's outputs are made from (once the feedback is recorded: the ledger has it).
        made_from = functools.partial(_state, settings, roster, submissions, extra, messages)
        with stage("outputs"):  # wall time: the outputs below are written side by side
            seconds, fresh = _write_outputs(
                result, frame, report, settings, form, ledger, runner, pdf, feedback, parquet, made_from
            )
        for name, spent in seconds.items():
            stage.seconds[name] = spent
        result.stages = stage.seconds
        _write_summary(result, run_id, outbox / RUN_JSON, fresh)
        ledger.finish_run(run_id)
    result.files.sort(key=lambda r: r.name)
    return result


# run.json's key for what the run's outputs were made from, and the size and time of each output
# file, so that the next run can tell whether anything changed.
STATE_KEY = "state"


def _state(
    settings: Settings,
    roster: Roster | None,
    submissions: Sequence[Submission],
    extra: Sequence[FileResult],
    messages: Sequence[Any],
    stored: Iterable[StoredFile],
) -> str:
    """A digest of everything the outputs are made from: the code, the configuration (the report
    date with it), the roster, the officer's text, the inbox as found, the messages, and the
    ledger's files with their feedback."""
    import hashlib

    from pipeline import __version__
    from pipeline.report.officer import ensure_text

    digest = hashlib.sha256()

    def add(*parts: Any) -> None:
        digest.update(repr(parts).encode("utf-8", "surrogatepass"))

    add(__version__, _code_stamp(), repr(settings), repr(roster))
    text = ensure_text(settings)  # created with its hints on a first run, as the report does
    add(text.read_bytes() if text.exists() else None)
    add([(s.name, s.sha256) for s in submissions], [(r.name, r.status.value, r.reason) for r in extra])
    add([(m.name, m.sha256, m.message_id, m.problem, m.duplicate_of) for m in messages])
    add([(f.sha256, f.name, f.status, f.unit_code, f.feedback, f.message) for f in stored])
    return digest.hexdigest()


@functools.cache
def _code_stamp() -> tuple[tuple[str, int, int], ...]:
    """The package's files by name, size and modification time: a changed program makes new outputs."""
    package = Path(__file__).parent
    return tuple(
        (p.relative_to(package).as_posix(), st.st_size, st.st_mtime_ns)
        for p in sorted(package.rglob("*"))
        if "__pycache__" not in p.parts and p.is_file() and (st := p.stat())
    )


# The outputs that are not made from the run's state: the ledger and run.json change with every
# run, the archive and the feedback's folder are folders (each file's feedback is in the ledger).
_NOT_STATE = frozenset({"ledger", "run_json", "archive", "feedback"})


def _output_files(outputs: Mapping[str, Any]) -> dict[str, list[int]]:
    """The size and modification time of each output file (run.json's `outputs`)."""
    out = {}
    for key, value in outputs.items():
        if key in _NOT_STATE:
            continue
        path = Path(value)
        if path.is_file():
            st = path.stat()
            out[str(path)] = [st.st_size, st.st_mtime_ns]
    return out


def _write_summary(result: RunResult, run_id: int, path: Path, state: str) -> None:
    from pipeline.render.outputs import write_json

    summary = run_summary(result, run_id)
    summary[STATE_KEY] = {"digest": state, "files": _output_files(result.outputs)}
    write_json(summary, path)


def _unchanged_since(state: str, path: Path, pdf: bool) -> dict[str, Any] | None:
    """The last run's run.json when its outputs were made from `state` and are all still there,
    as they were written, with the PDF when `pdf` asks for it; otherwise None. (A run without the
    PDF after one with it leaves that PDF as it is.)"""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    recorded = summary.get(STATE_KEY)
    if not isinstance(recorded, dict) or recorded.get("digest") != state:
        return None
    files = recorded.get("files")
    outputs = summary.get("outputs")
    if not isinstance(outputs, dict) or not isinstance(files, dict) or _output_files(outputs) != files:
        return None
    if pdf and "report_pdf" not in outputs:
        return None
    return summary if outputs.keys() >= _NOT_STATE else None


def _result(
    stored: Sequence[StoredFile],
    states: dict[str, UnitState],
    ledger: Ledger,
    history: Path,
    new: set[str],
    extra: list[FileResult],
    messages: list[Any],
    settings: Settings,
) -> RunResult:
    """The run's result as the ledger has the period: every file with its status and findings (those
    of `new` read by this run), then `extra` (ignored and duplicate files), and the unions."""
    statuses = file_statuses(states, stored)
    notes = attachment_notes(states)
    files = _file_results(stored, statuses, ledger.findings(), history, new, notes, states)
    return RunResult(files + extra, settings.as_of, units=states, messages=messages)


def _as_before(result: RunResult, last: dict[str, Any]) -> None:
    """A run that found nothing new: the totals, the report's state and the outputs as the last
    run.json has them."""
    result.totals = last.get("totals", {})
    result.unfilled = tuple(last.get("report", {}).get("unfilled", ()))
    result.outputs = {k: Path(v) for k, v in last["outputs"].items()}
    result.unchanged = True


def _record(
    ledger: Ledger,
    run_id: int,
    new: Sequence[Submission],
    books: Sequence[WorkbookData],
    results: Sequence[FileResult],
    form: Form,
) -> None:
    """Each file read by this run into the ledger, in order (in a function of its own: no loop
    variable keeps the last workbook alive for the rest of the run)."""
    ledger.add_files(
        run_id, (_new_file(sub, book, checked, form) for sub, book, checked in zip(new, books, results, strict=True))
    )


def _read(
    new: Sequence[Submission],
    ahead: ReadAhead | None,
    form: Form,
    settings: Settings,
    runner: Runner,
    progress: Callable[[str], None] | None,
) -> list[WorkbookData]:
    """The books of `new`, in order: those read while intake went on (`ahead`), then the others
    (a saved e-mail's attachments; a file of the same content as one handed over, which came first
    by arrival under its own name)."""
    wanted = {(s.sha256, s.name) for s in new}
    read: dict[tuple[str, str], WorkbookData] = {}
    for sub, book in ahead.finish() if ahead is not None else ():
        if (sub.sha256, sub.name) in wanted:
            read[(sub.sha256, sub.name)] = book
            if progress is not None:
                progress(sub.name)
    rest = [s for s in new if (s.sha256, s.name) not in read]
    others = iter(read_books(rest, form, runner=runner, limits=settings.limits, progress=progress))
    return [read[key] if (key := (s.sha256, s.name)) in read else next(others) for s in new]


def _warm_up(form: Form, settings: Settings, roster: Roster | None) -> None:
    """Validate the form's worked example: pandera's first validation in a process costs a fifth of
    a second (its engines and backends load on first use), which this moves off the validate stage.
    A row that passes its checks costs less than a blank one, whose failures are each worked out."""
    from pipeline.validate import validate

    keys = [f.key for f in form.initiative]
    example = {k: [form.example.get(k)] for k in keys}
    book = WorkbookData(
        "warm-up",
        Path(),
        values=example,
        raws={k: list(v) for k, v in example.items()},
        row_numbers=[1],
        columns=dict.fromkeys(keys, "A"),
    )
    validate([book], form, settings, roster)


def _split_new(
    submissions: Sequence[Submission], seen: Mapping[str, str] | None = None
) -> tuple[list[Submission], list[FileResult]]:
    """The files to read now: the first of each content that `seen` (content hash -> the name it
    was first seen under, in earlier runs) does not hold; and, as duplicates, the files whose
    content came first under another name, earlier in `submissions` or in an earlier run."""
    seen = seen or {}
    first = dict(seen)
    new: list[Submission] = []
    duplicates: list[FileResult] = []
    taken: set[str] = set()
    for sub in submissions:
        original = first.setdefault(sub.sha256, sub.name)
        if sub.sha256 in seen and original == sub.name:
            continue  # read in an earlier run under this very name
        if original != sub.name or sub.sha256 in taken:  # the same file given twice, too
            reason = f'giống hệt tệp "{original}"'
            duplicates.append(FileResult(sub.name, Status.DUPLICATE, sub.sha256, sub.kind, reason=reason, new=False))
        else:
            taken.add(sub.sha256)
            new.append(sub)
    return new, duplicates


def _context(
    states: dict[str, UnitState], ledger: Ledger, books: Sequence[WorkbookData], form: Form
) -> list[ContextRow]:
    """The initiatives accepted in earlier runs that the rules across files need: those with the
    same key (title and author) as an initiative of `books`, found by the ledger's index."""
    from pipeline.validate import ContextRow, initiative_keys

    keys = {key for book in books for key in initiative_keys(book, form) if key is not None}
    current = current_files(states)
    by_sha = {f.sha256: f for f in current}
    code_of = {s.current.sha256: code for code, s in states.items() if s.current is not None}
    out = []
    for row in ledger.rows_with_keys(list(by_sha), keys) if keys else ():
        key = form.record_key(row.data)
        if key is None:
            continue
        stored = by_sha[row.sha256]
        out.append(ContextRow(code_of[row.sha256], key, f'tệp "{stored.name}" ({row_place(row.sheet, row.row)})'))
    return out


def process(
    paths: Iterable[Path], settings: Settings, form: Form, roster: Roster | None, progress: Progress | None = None
) -> RunResult:
    """Check the given files (a saved e-mail: its attachments); nothing is kept and the ledger is
    not consulted."""
    given = [fingerprint(p, str(p)) for p in paths]
    with contextlib.ExitStack() as stack, open_runner(settings) as runner:
        runner.prestart()  # the workers import the readers while the files are hashed
        mail = [s for s in given if is_message_file(s.name, s.kind)]
        messages = []
        if mail:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kiem-tra-thu-")))
            messages = open_messages(mail, folder)
            given += [s for m in messages for s in m.submissions]
        submissions, results = _split_new([s for s in given if s not in mail])
        if progress is not None:
            progress.start(len(submissions))
        advance = progress.advance if progress is not None else None
        books = read_books(submissions, form, runner=runner, limits=settings.limits, progress=advance)
        results += check_books(submissions, books, settings, form, roster)
    return RunResult(results, settings.as_of, messages=messages)


def check_books(
    submissions: Sequence[Submission],
    books: Sequence[WorkbookData],
    settings: Settings,
    form: Form,
    roster: Roster | None,
    context: Sequence[ContextRow] = (),
) -> list[FileResult]:
    """Validate the books of a run together; one result per submission, in order."""
    for sub, book in zip(submissions, books, strict=True):
        if sub.is_spreadsheet and book.readable and not sub.extension_matches:
            mismatch = make(
                Code.EXTENSION_MISMATCH,
                Severity.NOTICE,
                Location(sub.name),
                extension=sub.path.suffix or "(không có)",
                kind=sub.kind,
            )
            book.findings.insert(0, mismatch)
    from pipeline.validate import validate

    by_file: dict[str, list[Finding]] = {}
    for f in validate(books, form, settings, roster, context=context):
        by_file.setdefault(f.location.file, []).append(f)
    results = []
    for sub, book in zip(submissions, books, strict=True):
        own = by_file.get(book.file, [])
        code = book.unit.get(form.key("unit_code"))
        name = book.unit.get(form.key("unit_name"))
        known = roster.find(code.value) if roster and code and code.value else None
        sender = roster.sent_by(sub.sender) if roster else None
        if sender is not None and known is not None and sender.code != known.code and code is not None:
            own.append(_sent_by_another(sub, book, form, sender, known, code))
        results.append(
            FileResult(
                book.file,
                _status(own),
                sub.sha256,
                sub.kind,
                unit_code=known.code if known else (code.value if code else None),
                findings=own,
                initiatives=book.count,
                path=sub.path,
                readable=book.readable,
                unit_name=known.name if known else (name.value if name else None),
                received_at=_received(sub),
            )
        )
    return results


def _sent_by_another(
    sub: Submission, book: WorkbookData, form: Form, sender: Unit, named: Unit, code: Value
) -> Finding:
    """The warning for a workbook that one union's address sent with another union's code in it."""
    return make(
        Code.SENDER_OTHER_UNIT,
        Severity.WARNING,
        Location(book.file, book.sheets.get("unit"), code.row, code.column),
        form.key("unit_code"),
        code.value,
        sender=sub.sender,
        sender_unit=sender.name,
        sender_code=sender.code,
        unit_code=named.code,
        unit=named.name,
        label=form.field("unit_code").label,
    )


def _received(sub: Submission) -> dt.datetime:
    """When the file arrived (see `Submission.received_at`)."""
    if sub.received_at is not None:
        return sub.received_at
    return dt.datetime.fromtimestamp(sub.path.stat().st_mtime).replace(microsecond=0)


def _status(findings: list[Finding]) -> Status:
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities:
        return Status.REJECTED
    if Severity.WARNING in severities:
        return Status.ACCEPTED_WITH_WARNINGS
    return Status.ACCEPTED


def _new_file(sub: Submission, book: WorkbookData, result: FileResult, form: Form) -> NewFile:
    from pipeline.validate import initiative_keys

    accepted = result.status is not Status.REJECTED
    as_of = book.unit.get(form.key("as_of"))
    sheet = book.sheets.get("initiatives", "")
    return NewFile(
        sha256=sub.sha256,
        name=sub.name,
        kind=sub.kind,
        size=sub.size,
        received_at=result.received_at or dt.datetime.now(),
        status=result.status.value,
        readable=book.readable,
        unit_code=result.unit_code,
        unit_name=result.unit_name,
        as_of_date=as_of.value if as_of and isinstance(as_of.value, dt.date) else None,
        unit_record={k: v.value for k, v in book.unit.items()},
        columns=book.columns,
        findings=result.findings,
        # The book's own column lists, as they are: the ledger stores them by column.
        records=Records(sheet, book.row_numbers, book.values, initiative_keys(book, form)) if accepted else None,
        message_id=sub.message_id,
        sender=sub.sender,
    )


def _file_results(
    stored: Sequence[StoredFile],
    statuses: dict[str, str],
    findings: dict[str, list[Finding]],
    history: Path,
    new: set[str],
    notes: dict[str, str],
    states: dict[str, UnitState],
) -> list[FileResult]:
    """The period's files as results, each with the union it belongs to (also a file that names
    none in its content: see `merge.unit_states`); an attachment set aside keeps its note, and no
    finding or reply (its union sent its workbook)."""
    owner = {f.sha256: state for state in states.values() for f in state.files}
    out = []
    for f in stored:
        original = archived_path(history / ARCHIVE_DIR, f.sha256, f.name)
        noted = f.sha256 in notes
        state = owner.get(f.sha256)
        out.append(
            FileResult(
                f.name,
                Status(statuses[f.sha256]),
                f.sha256,
                f.kind,
                unit_code=f.unit_code or (state.code if state else None),
                findings=[] if noted else findings.get(f.sha256, []),
                reason=notes.get(f.sha256),
                initiatives=f.initiatives,
                path=original,
                readable=f.readable,
                unit_name=f.unit_name or (state.name if state else None),
                feedback=Path(f.feedback) if f.feedback and not noted else None,
                message=Path(f.message) if f.message and not noted else None,
                received_at=f.received_at,
                new=f.sha256 in new,
            )
        )
    return out


def _changes(
    before: dict[str, UnitState], after: dict[str, UnitState], ledger: Ledger, form: Form
) -> dict[str, Changes]:
    """For each union whose current file changed in this run, what its new file changed."""
    out = {}
    for code, state in after.items():
        old = before.get(code)
        if state.current is None or old is None or old.current is None or old.current.sha256 == state.current.sha256:
            continue
        rows = ledger.rows([old.current.sha256, state.current.sha256])
        out[code] = changes(
            old.current,
            state.current,
            [r for r in rows if r.sha256 == old.current.sha256],
            [r for r in rows if r.sha256 == state.current.sha256],
            form,
        )
    return out


REPORT_TIMEOUT_S = 3600.0  # the report workbook of a whole country takes a while; it is our own code
# Below this many rows (initiatives and units together) the outputs marked "worker" are written in
# this process too: starting a worker and importing the writers there (about half a second) costs
# more than writing a district's report (a tenth of that). 2,000 units with 20,000 initiatives take
# about 2 s in this process: there the workers write them side by side with the others.
WORKER_OUTPUT_ROWS = 5_000


def _prepare_outputs(frame: Any, result: RunResult, settings: Settings, form: Form, runner: Runner) -> Path | None:
    """For a period whose report goes to the workers: write the dataset's Parquet file now and give
    the process started for the longest output what it can make of it while this process makes the
    figures (`Output.prepare`, `Runner.give_own`). Returns the Parquet file written, if any."""
    ahead = next((o for o in outputs_for(True) if o.where == "worker" and o.ahead and o.prepare), None)
    if ahead is None or ahead.prepare is None or not _on_workers(len(frame), len(result.units)):
        return None
    from pipeline.render.outputs import write_dataset_parquet

    parquet = write_dataset_parquet(frame, settings.paths.outbox / DATASET_PARQUET)
    runner.give_own((ahead.prepare, (parquet, form), REPORT_TIMEOUT_S, 0))
    return parquet


def _write_outputs(
    result: RunResult,
    frame: Any,
    report: Report | None,
    settings: Settings,
    form: Form,
    ledger: Ledger,
    runner: Runner,
    pdf: bool,
    feedback: _Feedback,
    parquet: Path | None,
    made_from: Callable[[Iterable[StoredFile]], str],
) -> tuple[dict[str, float], str]:
    """Every output of the registry (`pipeline.outputs`), side by side: first the dataset's Parquet
    file (the workers read the dataset from it); then the outputs marked "here" are begun in a
    thread of this process (none of them shows a file's feedback) while the feedback begun after
    validation (`_Feedback`) is finished; then the outputs marked "worker" (for a period of
    `WORKER_OUTPUT_ROWS` rows or more) are written on the runner's workers while the feedback is
    recorded, and what the outputs are made from is worked out (`made_from` of the ledger's files
    then: `_state`). Returns the seconds each output took where it was made, and that state."""
    outbox, history = settings.paths.outbox, settings.paths.history_dir
    result.outputs = {
        "feedback": outbox / FEEDBACK_DIR,
        "archive": history / ARCHIVE_DIR,
        "ledger": history / LEDGER_NAME,
        "run_json": outbox / RUN_JSON,
    }
    from pipeline.render.outputs import write_dataset_parquet

    seconds: dict[str, float] = {}
    if parquet is None:  # else written after the merge (`_prepare_outputs`)
        parquet, seconds["dataset_parquet"] = timed(write_dataset_parquet, (frame, outbox / DATASET_PARQUET))
    result.outputs["dataset_parquet"] = parquet
    ctx = Context(outbox, result, settings, form, parquet, report, None, pdf)
    chosen = outputs_for(report is not None)
    large = _on_workers(len(frame), len(result.units))
    # The output whose process was started ahead first: it goes to that process.
    remote = sorted((o for o in chosen if o.where == "worker" and large), key=lambda o: not o.ahead)
    # Made from checked data, not from a received file: their own deadline and no memory cap.
    # The context is pickled once for all of them (the run's results and the report: a few MB at
    # a province's size), not once per job.
    packed = pickle.dumps(ctx) if remote else b""
    jobs: list[Job] = [(timed, (_run_packed, (o.key, packed)), REPORT_TIMEOUT_S, 0) for o in remote]
    written: dict[str, Path] = {}
    with concurrent.futures.ThreadPoolExecutor(2) as here:
        local = here.submit(_write_here, [o for o in chosen if o not in remote], replace(ctx, frame=frame))
        if feedback.due:
            feedback.finish()  # the runner is free again after it
        runner.take_own()  # what the workbook's process made meanwhile stays there, for its job
        # The workers write theirs while this thread records the feedback.
        on_workers = here.submit(lambda: list(runner.run(jobs))) if jobs else None
        try:
            if feedback.due:
                seconds["feedback"] = feedback.record(ledger)
            state = made_from(ledger.files())  # while the workers write
            ended = waited(on_workers.result) if on_workers is not None else []
        except BaseException:  # Ctrl+C, or the ledger failed: the workers' outputs are given up
            runner.abort()
            raise
        for i, done in ended:
            if isinstance(done, Failure):  # its worker failed: write it here after all
                done = timed(run_output, (remote[i], ctx))
            paths, seconds[remote[i].key] = done
            written.update(paths)
        paths, spent = local.result()
    written.update(paths)
    seconds.update(spent)
    # In the registry's order (the order people look at them), each with what came with it (the PDF).
    result.outputs.update({k: written[k] for o in chosen for k in (o.key, *o.also) if k in written})
    return seconds, state


def _initiatives_at_most(known: Iterable[StoredFile], books: Sequence[WorkbookData]) -> int:
    """The period's initiatives before the merge: every file's, read before or now (a file that
    another replaced counts too)."""
    return sum(f.initiatives for f in known) + sum(b.count for b in books)


def _on_workers(initiatives: int, units: int) -> bool:
    """Whether the outputs marked "worker" are written on workers (`WORKER_OUTPUT_ROWS`)."""
    return initiatives + units >= WORKER_OUTPUT_ROWS


def _run_packed(key: str, packed: bytes) -> dict[str, Path]:
    """Write the output `key` from its pickled context (a worker's job)."""
    ctx = pickle.loads(packed)  # our own bytes, from the run's process
    return run_output(next(o for o in OUTPUTS if o.key == key), ctx)


def _write_here(chosen: Sequence[Output], ctx: Context) -> tuple[dict[str, Path], dict[str, float]]:
    """The outputs written in this process, one after the other."""
    written: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    for o in chosen:
        paths, seconds[o.key] = timed(run_output, (o, ctx))
        written.update(paths)
    return written, seconds


class _Feedback:
    """The feedback of the period's flagged files that have none yet (`_feedback_jobs`), written on
    the runner's workers by a thread of `aside` while the run goes on, leaving one worker's core to
    the run's own process; `finish` waits for it, on every worker, and `record` records it. Until `finish` the
    runner is the feedback's: nothing else may use it.

    It is begun (`begin`) as soon as validation has found what is wrong with the run's new files,
    from their results as the ledger will have them (`_as_recorded`), before they are recorded. The
    files as the ledger has them then decide (`settle`): a job begun stands for a file when it is
    the very job the ledger's files give; the others (a file whose union only the merge knows, an
    earlier file still without feedback) are written after those begun, by `finish`, and what a job
    begun wrote that no file's job writes is removed first. With nothing begun, `settle` begins the
    ledger's jobs."""

    def __init__(self, out_dir: Path, settings: Settings, form: Form, runner: Runner) -> None:
        self._out_dir, self._settings, self._form = out_dir, settings, form
        self._runner = runner
        self._workers = settings.processing.workers or default_workers()
        self._at_most = max(1, self._workers - 1)  # every worker once `finish` waits for it
        self._started = time.perf_counter()
        self._done: concurrent.futures.Future[tuple[dict[int, Any], float]] | None = None
        self._begun: list[tuple[str, Job]] = []  # (file's hash, job) of the jobs on the workers
        self.pending: list[FileResult] = []  # the files whose feedback is due (`settle`)
        self._jobs: list[Job] = []  # and their jobs
        self._slots: list[int | None] = []  # each pending file's job among those begun (None: not begun)
        self._stale: list[int] = []  # jobs begun that no pending file's job is
        self._stored = False
        self._written: list[Any] = []  # what each pending file's job gave (`finish`)
        self._seconds = 0.0

    def begin(self, files: Sequence[FileResult], taken: Iterable[str], aside: concurrent.futures.Executor) -> None:
        """Begin the feedback of `files` (this run's files before the ledger has them); `taken`: the
        names (stems) of the feedback already written for earlier files."""
        self._begin(*_feedback_jobs(files, self._out_dir, self._settings, self._form, taken), aside)

    def settle(self, files: Sequence[FileResult], aside: concurrent.futures.Executor) -> None:
        """The period's `files` as the ledger has them decide which feedback is due and how (see the class)."""
        self.pending, self._jobs = _feedback_jobs(files, self._out_dir, self._settings, self._form)
        if self._done is None:
            self._slots = list(range(len(self._jobs)))
            self._begin(self.pending, self._jobs, aside)
            return
        begun = {sha: i for i, (sha, _) in enumerate(self._begun)}
        for r, job in zip(self.pending, self._jobs, strict=True):
            slot = begun.get(r.sha256 or "")
            if slot is not None and _same_job(self._begun[slot][1], job):
                del begun[r.sha256 or ""]
            else:
                slot = None
            self._slots.append(slot)
        self._stale = sorted(begun.values())

    def _begin(self, files: Sequence[FileResult], jobs: list[Job], aside: concurrent.futures.Executor) -> None:
        self._begun = [(r.sha256 or "", job) for r, job in zip(files, jobs, strict=True)]
        if jobs:
            self._started = time.perf_counter()
            self._done = aside.submit(self._run, self._runner, jobs)

    def _run(self, runner: Runner, jobs: list[Job]) -> tuple[dict[int, Any], float]:
        written: dict[int, Any] = {}
        for i, done in runner.run(jobs, lambda: self._at_most):
            written[i] = done
        return written, round(time.perf_counter() - self._started, 4)

    @property
    def due(self) -> bool:
        """Whether `finish` and `record` have anything to wait for or record (a job begun that no file's job is
        must still end, and its files go, before the runner is another's)."""
        return bool(self.pending) or self._done is not None

    def cancel(self) -> None:
        """Give up what is left when the run stops before `finish` (the runner is closed after),
        and remove what was written: the ledger records none of it (its files may not even be in
        the ledger), and the next run writes it again."""
        if self._done is None or self._stored:
            return
        if not self._done.done():
            self._runner.abort()
        with contextlib.suppress(Exception):
            waited(self._done.result)
        for _, job in self._begun:
            _remove_feedback(self._out_dir, job)
        remove_unfinished(self._out_dir)  # the copies being written when their workers were killed

    def finish(self) -> None:
        """Wait for every file's feedback to be written, on every worker (those not begun are
        written now); the runner is free again after it. `record` records it."""
        self._at_most = self._workers  # nothing else of the run wants the processor now
        written, self._seconds = waited(self._done.result) if self._done is not None else ({}, 0.0)
        self._stored = True  # from here on what is written is recorded, or rewritten by the next run
        for i in self._stale:  # after every job begun: nothing writes these files now
            _remove_feedback(self._out_dir, self._begun[i][1])
        rest = [k for k, slot in enumerate(self._slots) if slot is None]
        late: dict[int, Any] = {}
        if rest:
            late = {rest[j]: done for j, done in self._runner.run([self._jobs[k] for k in rest])}
            self._seconds = round(time.perf_counter() - self._started, 4)
        self._written = [late.get(k) if slot is None else written.get(slot) for k, slot in enumerate(self._slots)]

    def record(self, ledger: Ledger) -> float:
        """Record every file's feedback that `finish` waited for (in the ledger and in its result);
        returns the seconds from its start to its last file."""
        for r, job, done in zip(self.pending, self._jobs, self._written, strict=True):
            _store_feedback(r, done if done is not None else Failure(Code.READER_CRASH, ""), job, ledger)
        remove_unfinished(self._out_dir)  # a copy whose worker died or ran out of time (its message is written here)
        return self._seconds


def _same_job(a: Job, b: Job) -> bool:
    """Whether two feedback jobs write the same files from the same inputs."""
    make_a, make_b = a[0], b[0]
    assert isinstance(make_a, functools.partial) and isinstance(make_b, functools.partial)
    same_call = make_a.func is make_b.func and make_a.args == make_b.args and make_a.keywords == make_b.keywords
    return same_call and a[1] == b[1]


def _remove_feedback(out_dir: Path, job: Job) -> None:
    """The files a feedback job writes in `out_dir` (all of them, whether it ended well or not: a
    copy is in place before its message is written)."""
    from pipeline.render.feedback import feedback_files

    make = job[0]
    assert isinstance(make, functools.partial)
    for path in feedback_files(out_dir, make.keywords["stem"]):
        path.unlink(missing_ok=True)


def _as_recorded(new: Sequence[Submission], results: Sequence[FileResult], history: Path) -> list[FileResult]:
    """This run's files as the ledger will give them back (`_file_results`), for the feedback begun
    before they are recorded: those whose union their own content or the roster names (the merge
    finds the others')."""
    from pipeline.ledger import as_stored

    return [
        replace(
            r,
            name=sub.name,
            sha256=sub.sha256,
            kind=sub.kind,
            findings=[as_stored(f) for f in r.findings],
            path=archived_path(history / ARCHIVE_DIR, sub.sha256, sub.name),
        )
        for sub, r in zip(new, results, strict=True)
        if r.unit_code and r.unit_name
    ]


def _feedback_jobs(
    files: Sequence[FileResult], out_dir: Path, settings: Settings, form: Form, taken: Iterable[str] = ()
) -> tuple[list[FileResult], list[Job]]:
    """The files with errors or warnings that have no feedback yet, and the jobs that write it: a
    marked-up copy of the union's workbook (made on a worker: it opens the workbook again) and a
    message. `taken`: names (stems) of feedback written before, beside those of `files`."""
    from pipeline.render.feedback import feedback_stem, write_feedback

    used = {r.message.stem.casefold() for r in files if r.message} | {stem.casefold() for stem in taken}
    todo: list[FileResult] = []
    jobs: list[Job] = []
    for r in files:
        flagged = r.count(Severity.ERROR) or r.count(Severity.WARNING)
        if not flagged or r.message is not None or r.path is None or r.sha256 is None or not r.path.exists():
            continue
        stem = feedback_stem(r.name, r.unit_code)
        if stem.casefold() in used:  # two files of the same name in different folders
            stem = f"{stem} ({r.sha256[:8]})"
        used.add(stem.casefold())
        todo.append(r)
        make = functools.partial(
            write_feedback,
            unit_code=r.unit_code,
            unit_name=r.unit_name,
            stem=stem,
            records_sheet=form.sheets["initiatives"],
        )
        readable = r.readable and r.kind in SPREADSHEET_KINDS
        shown = attachment_of(r.name) or r.name  # the union knows its attachment by its own name
        jobs.append((make, (r.path, r.kind or "", shown, r.findings, out_dir, settings, readable)))
    return todo, jobs


def _store_feedback(r: FileResult, written: Any, job: Job, ledger: Ledger) -> None:
    """Record a file's feedback. A copy that failed on its worker (the worker died, or ran out of
    time or memory) is replaced by the message alone, written here: every flagged file gets its
    explanation."""
    if isinstance(written, Failure):
        make, args = job[0], job[1]
        written = make(*args[:-1], False)
    assert r.sha256 is not None
    ledger.set_feedback(r.sha256, written.workbook, written.message)
    r.feedback, r.message = written.workbook, written.message


__all__ = ["check_books", "process", "run"]
