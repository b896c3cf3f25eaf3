"""Reading received workbooks where a reader that crashes or hangs cannot take the run down.

Each file is `examine`d: `guard.inspect` looks at its bytes within budgets, and a file it refuses
becomes a `WorkbookData` holding one error finding; the others are read. `read_books` runs this in
a small pool of long-lived worker processes ("spawn", so the same code runs on Windows), each
examining many files, so that files are guarded and read in parallel and nothing a file does
reaches the run. On Linux a worker's address space is capped (RLIMIT_AS), so a runaway allocation
fails inside the worker instead of exhausting the machine. Each file has a deadline.

What can happen to a file in a worker, and what the run records:

* read: the reader's normal `WorkbookData` (with its findings: missing sheet, bad values ...);
  when calamine cannot parse the file, the second reader of its format reads it in the same job
  (`pipeline.fallback`), and a FALLBACK_READER notice says so;
* both readers fail: PASSWORD_PROTECTED for calamine's PasswordError, CORRUPT_FILE otherwise (or
  the second reader's more precise word), with a reason in Vietnamese;
* the worker runs out of memory, a Rust panic surfaces that the second reader cannot make up for
  (PanicException is a BaseException), or the worker dies (SIGABRT from a Rust abort, SIGSEGV):
  READER_CRASH; a dead worker is replaced and the run goes on;
* the deadline passes: READER_TIMEOUT; the worker is killed and replaced.

Non-spreadsheet submissions (`Submission.is_spreadsheet` false) are never given to a reader: they
come back with one finding, the guard's refusal when it has a more precise word (an encrypted
workbook, an .xlsb, a CSV, a raw Excel 4 file, a picture) or NOT_SPREADSHEET. So a caller may pass
every submission. Results come back in the order of `submissions`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import importlib
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol, TypeVar

from pipeline import guard
from pipeline.config import Settings
from pipeline.errors import PipelineError
from pipeline.findings import Code, Location, Severity, make
from pipeline.form import Form
from pipeline.intake import Submission
from pipeline.read import WorkbookData, read_workbook
from pipeline.text import clean_text

_NEVER_READ = frozenset({"pdf", "doc", "docx"})  # sniffed as something else entirely: the guard adds nothing
_GRACE_S = 5.0  # to let workers exit on their own at the end
_STARTUP_S = 120.0  # for a new worker to import the reader and say it is ready


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# A picklable function and its arguments, and optionally its own deadline in seconds and its own
# memory cap in MB, 0 for none (the runner's per-file limits otherwise: a trusted job such as
# writing the report from checked data may take longer, and needs what the data needs).
Job = (
    tuple[Callable[..., Any], tuple[Any, ...]]
    | tuple[Callable[..., Any], tuple[Any, ...], float]
    | tuple[Callable[..., Any], tuple[Any, ...], float, int]
)


def timed(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, float]:
    """`fn(*args)` and how many seconds it took where it ran (a job's own time, for run.json)."""
    started = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - started, 4)


@dataclass(frozen=True)
class Failure:
    """A job that gave no result: the process running it died, it ran out of memory or time."""

    code: Code
    reason: str


Width = int | Callable[[], int] | None  # see `Runner.run`


class Runner(Protocol):
    """Where the per-file stages run: `run` yields (index, result or `Failure`) as jobs finish.
    `jobs` may be an iterator that waits for its next job (`ReadAhead`)."""

    def run(self, jobs: Iterable[Job], at_most: Width = None) -> Iterator[tuple[int, Any]]:
        """`at_most`: how many of these jobs may run at once (all the workers by default), or a
        function that says it each time a job is to be given out."""
        ...

    def abort(self) -> None:
        """Stop a `run` of another thread at once: no more jobs given out, those running given up
        (the run is stopping; the runner is closed after)."""

    def prestart(self, count: int | None = None) -> None:
        """Get ready for `count` jobs to come (all the workers by default), without waiting; called
        again, only what is still missing."""

    def prestart_own(self, imports: Sequence[str]) -> None:
        """Get ready, without waiting, for the next job of the program's own (one with a memory cap
        of its own, see `Job`) that uses the modules `imports`: load them while the caller works."""

    def give_own(self, job: Job) -> bool:
        """Give the process that `prestart_own` started a job before the one it is for: one that
        prepares, in that process, what that job will use. It may be given while another thread
        runs jobs on the other workers. False when there is no such process (nothing was given)."""
        ...

    def take_own(self) -> Any:
        """The result of the job `give_own` gave, once it has ended (a `Failure` when it failed,
        died or ran out of time; None when none was given). Taken before the next `run`."""


class LocalRunner:
    """Long-lived worker processes of this machine, started on first use, where a job that crashes
    or hangs costs that job only (see the module's docstring). Use as a context manager."""

    def __init__(self, workers: int | None = None, timeout_s: float = 60, memory_mb: int = 1024) -> None:
        self.workers, self.timeout_s, self.memory_mb = workers or default_workers(), timeout_s, memory_mb
        self._pool: _Pool | None = None

    def prestart(self, count: int | None = None) -> None:
        """Start the workers now (as many as `count` jobs need), so that they are ready when the first
        job comes."""
        self._started().prestart(count)

    def prestart_own(self, imports: Sequence[str]) -> None:
        """Start a process for the next job of the program's own now; it imports `imports` while
        the caller works (`_Pool.prestart_own`)."""
        self._started().prestart_own(imports)

    def give_own(self, job: Job) -> bool:
        return self._pool is not None and self._pool.give_own(job)

    def take_own(self) -> Any:
        return None if self._pool is None else self._pool.take_own()

    def run(self, jobs: Iterable[Job], at_most: Width = None) -> Iterator[tuple[int, Any]]:
        numbered = list(enumerate(jobs)) if isinstance(jobs, Sized) else enumerate(jobs)
        yield from self._started().run(numbered, at_most)

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.abort()

    def _started(self) -> _Pool:
        if self._pool is None:
            self._pool = _Pool(self.workers, self.timeout_s, self.memory_mb)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ExecutorRunner:
    """Any `concurrent.futures.Executor`, for instance a Dask cluster's (`Client.get_executor()`).

    The executor's own workers take the place of the local ones: a job that raises, or whose
    worker dies, is a READER_CRASH failure; one that has not finished `timeout_s` after the last
    result came in is a READER_TIMEOUT failure (it cannot be killed from here; the cluster's
    workers have their own limits).
    """

    def __init__(self, executor: concurrent.futures.Executor, timeout_s: float = 60) -> None:
        self.executor, self.timeout_s = executor, timeout_s
        self._aborted = threading.Event()

    def abort(self) -> None:
        self._aborted.set()

    def prestart(self, count: int | None = None) -> None:
        """Nothing: the executor's workers are started by whoever runs it."""

    def prestart_own(self, imports: Sequence[str]) -> None:
        """Nothing: the executor's workers are started by whoever runs it."""

    def give_own(self, job: Job) -> bool:
        """Nothing: no process of the program's own here."""
        return False

    def take_own(self) -> Any:
        return None

    def run(self, jobs: Iterable[Job], at_most: Width = None) -> Iterator[tuple[int, Any]]:
        """Every job at once (`at_most` is the cluster's to decide); jobs from an iterator are sent
        once it has given them all."""
        jobs = list(jobs)
        if self._aborted.is_set():
            return
        futures = {self.executor.submit(job[0], *job[1]): i for i, job in enumerate(jobs)}
        timeout_s = max([self.timeout_s, *(job[2] for job in jobs if len(job) > 2)])
        pending = set(futures)
        try:
            while pending:
                spent = 0.0
                done: set[concurrent.futures.Future[Any]] = set()
                while not done and spent < timeout_s and not self._aborted.is_set():
                    done, pending = concurrent.futures.wait(
                        pending, timeout=min(_ABORT_POLL_S, timeout_s), return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    spent += _ABORT_POLL_S
                if self._aborted.is_set():
                    return
                if not done:  # nothing finished for a whole deadline: give up on what is left
                    for future in pending:
                        yield futures[future], Failure(Code.READER_TIMEOUT, f"quá {_seconds(timeout_s)} giây")
                    return
                for future in done:
                    try:
                        yield futures[future], future.result()
                    except BaseException as exc:  # the job raised, or its worker died
                        yield futures[future], Failure(Code.READER_CRASH, _crash_reason(exc, 0))
        finally:
            for future in pending:
                future.cancel()


@contextlib.contextmanager
def open_runner(settings: Settings) -> Iterator[Runner]:
    """The runner the configuration asks for: this machine's worker processes, or the Dask cluster
    at `processing.scheduler` (which needs the `distributed` package: pip install ".[cluster]")."""
    processing = settings.processing
    if not processing.scheduler:
        with LocalRunner(processing.workers, processing.timeout_s, processing.memory_mb) as local:
            yield local
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise PipelineError(
            "Cấu hình có processing.scheduler (chạy trên cụm Dask) nhưng máy này chưa cài gói distributed; "
            'hãy cài bằng lệnh: pip install ".[cluster]".'
        ) from exc
    try:
        client = Client(processing.scheduler, timeout=10)
    except OSError as exc:
        raise PipelineError(
            f'Không kết nối được bộ điều phối cụm Dask "{processing.scheduler}" (khóa processing.scheduler): {exc}.'
        ) from exc
    with client:
        yield ExecutorRunner(client.get_executor(), processing.timeout_s)


def read_books(
    submissions: Sequence[Submission],
    form: Form,
    *,
    runner: Runner | None = None,
    workers: int | None = None,
    timeout_s: float = 60,
    memory_mb: int = 1024,
    limits: guard.Limits | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[WorkbookData]:
    """One `WorkbookData` per submission, in the same order; never raises because of a file's content.

    Files are `examine`d on `runner`; without one, on a `LocalRunner` of `workers` processes
    (default min(2, CPUs)) with `timeout_s` per file and each worker's address space capped at
    `memory_mb` (Linux only), closed on return. `limits` are the guard's (default `guard.Limits()`);
    `progress` is called with each file's name when that file is done.
    """
    limits = limits or guard.Limits()
    results: list[WorkbookData | None] = [None] * len(submissions)
    jobs: list[int] = []
    for i, sub in enumerate(submissions):
        if sub.kind not in _NEVER_READ:
            jobs.append(i)
            continue
        results[i] = _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)
        if progress:
            progress(sub.name)
    if jobs:
        with contextlib.ExitStack() as stack:
            if runner is None:
                runner = stack.enter_context(LocalRunner(workers, timeout_s, memory_mb))
            # The form and limits travel once as bytes, unpickled once per worker (`_examine_packed`).
            packed = pickle.dumps((form, limits))
            for j, result in runner.run([(_examine_packed, (submissions[i], packed)) for i in jobs]):
                i = jobs[j]
                sub = submissions[i]
                results[i] = _book(sub, result)
                if progress:
                    progress(sub.name)
    return [
        book if book is not None else _refused(sub, Code.READER_CRASH, "không nhận được kết quả đọc")
        for sub, book in zip(submissions, results, strict=True)
    ]


_ABORT_POLL_S = 0.25  # a wait for another thread is made of steps this long (Ctrl+C comes between)

T = TypeVar("T")


def waited(get: Callable[..., T]) -> T:
    """`get()` (a queue's or a future's, which take a timeout), waited for in short steps: on
    Windows, Ctrl+C does not interrupt a wait for a lock, only what comes between two of them."""
    while True:
        try:
            return get(timeout=_ABORT_POLL_S)
        except (queue.Empty, TimeoutError):
            continue


def _book(sub: Submission, result: Any) -> WorkbookData:
    """A worker's result for `sub`: its book, or the book of one finding for a `Failure`."""
    return result if isinstance(result, WorkbookData) else _refused(sub, result.code, result.reason)


class ReadAhead:
    """Files read on the runner's workers as they are handed over (`add`), while the caller goes on
    taking in the others: intake hands each new file over as soon as it has hashed and archived it.

    Once `start`ed, a thread of its executor drives the runner; nothing else may use the runner
    until `finish` has given every book (or `stop` was called and that thread has ended)."""

    def __init__(self, runner: Runner, form: Form, limits: guard.Limits) -> None:
        self._handed: queue.SimpleQueue[Submission | None] = queue.SimpleQueue()
        self._read: queue.SimpleQueue[tuple[Submission, WorkbookData] | None] = queue.SimpleQueue()
        self.started: float | None = None  # when the first file was handed over
        self._runner, self._packed = runner, pickle.dumps((form, limits))
        self._thread: concurrent.futures.Future[None] | None = None

    def start(self, executor: concurrent.futures.Executor) -> None:
        """Begin, on a thread of `executor` (after `stop` is set to be called however the caller ends)."""
        self._runner.prestart(1)  # the first worker imports the readers while the first file is hashed
        self._thread = executor.submit(self._run, self._runner, self._packed)

    def add(self, sub: Submission) -> None:
        if self.started is None:
            self.started = time.perf_counter()
        self._handed.put(sub)

    def finish(self) -> Iterator[tuple[Submission, WorkbookData]]:
        """Every file handed over with its book, each as soon as it is read; the runner is free
        again once the last one is given."""
        self._handed.put(None)
        if self._thread is None:
            return
        while (done := waited(self._read.get)) is not None:
            yield done
        waited(self._thread.result)  # what went wrong in the thread, if anything did

    def stop(self) -> None:
        """No more files, and the reading given up (the run is stopping)."""
        if self._thread is not None and not self._thread.done():
            self._runner.abort()
        self._handed.put(None)

    def _run(self, runner: Runner, packed: bytes) -> None:
        sent: list[Submission] = []

        def jobs() -> Iterator[Job]:
            while (sub := self._handed.get()) is not None:
                if sub.kind in _NEVER_READ:  # no reader sees it (`read_books`)
                    self._read.put((sub, _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)))
                    continue
                sent.append(sub)
                yield (_examine_packed, (sub, packed))

        try:
            for j, result in runner.run(jobs()):  # ends at once when `stop` aborts the runner
                self._read.put((sent[j], _book(sent[j], result)))
        finally:
            self._read.put(None)


_UNPACKED: dict[bytes, tuple[Form, guard.Limits]] = {}


def _examine_packed(sub: Submission, packed: bytes) -> WorkbookData:
    if packed not in _UNPACKED:
        _UNPACKED.clear()  # one run's form at a time
        _UNPACKED[packed] = pickle.loads(packed)  # our own bytes, from the parent
    return examine(sub, *_UNPACKED[packed])


def examine(sub: Submission, form: Form, limits: guard.Limits) -> WorkbookData:
    """One file, guarded then read: what a worker does with each file it is given.

    A reader's ordinary exception is already a finding (`read_workbook`); a crash, a panic or
    running out of memory is left to the caller, which runs this where that cannot hurt the run.
    """
    if sub.kind in _NEVER_READ:
        return _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)
    try:
        verdict = guard.check(sub.path, sub.kind, limits)
    except Exception as exc:  # a bug of the guard on a strange file: fail closed, keep the run
        reason = f"không kiểm tra được cấu trúc tệp ({type(exc).__name__})"
        verdict = guard.Verdict(guard.Refusal(Code.CORRUPT_FILE, reason))
    if verdict.refusal is not None:
        return _refused(sub, verdict.refusal.code, verdict.refusal.reason)
    if not sub.is_spreadsheet:
        return _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)
    # Only now, past the guard, may either reader (calamine, then the second reader) see the file;
    # what the guard's pass learnt spares the reader a search of its own.
    return read_workbook(sub.path, form, sub.name, max_cells=limits.max_cells, plain_sheets=verdict.plain_sheets)


def _refused(sub: Submission, code: Code, reason: str) -> WorkbookData:
    book = WorkbookData(sub.name, sub.path)
    # NOT_SPREADSHEET's message names the kind; every other refusal code says {reason}.
    params = {"kind": reason} if code is Code.NOT_SPREADSHEET else {"reason": reason}
    book.findings.append(make(code, Severity.ERROR, Location(sub.name), **params))
    return book


# --- the worker side ----------------------------------------------------------------------------


def _worker_main(conn: Connection, memory_mb: int, imports: Sequence[str] = ()) -> None:
    """Run the jobs the parent sends, one at a time, until it sends None or goes away; a process
    for the program's own job imports `imports` first (what fails to import there fails in the job,
    which says so)."""
    os.environ["RUST_BACKTRACE"] = "0"  # a Rust abort prints one line, not a page
    if not os.environ.get("PIPELINE_DEBUG"):
        # What a reader prints when a file makes it panic is English noise for the officer; the
        # file's finding says what happened. PIPELINE_DEBUG=1 keeps it for engineers.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    cap = _MemoryCap(memory_mb)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    import python_calamine  # noqa: F401 - loaded before the first deadline starts

    for name in imports:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, (fn, args, *limits) = job
        job_mb = limits[1] if len(limits) > 1 else memory_mb
        try:
            with cap.set(job_mb):
                result = fn(*args)
        except BaseException as exc:  # PanicException, MemoryError: anything
            result = Failure(Code.READER_CRASH, _crash_reason(exc, job_mb))
        try:
            conn.send((index, result))
        except Exception as exc:  # the result does not pickle
            conn.send((index, Failure(Code.READER_CRASH, f"không chuyển được kết quả ({type(exc).__name__})")))


class _MemoryCap:
    """The worker's address space cap (Linux): the soft limit only, so that a job that is allowed
    more (or no cap) can raise it for its own run, and the next job gets the usual cap back."""

    def __init__(self, memory_mb: int) -> None:
        self.usual = memory_mb
        self.active = sys.platform.startswith("linux")
        self._apply(memory_mb)

    @contextlib.contextmanager
    def set(self, memory_mb: int) -> Iterator[None]:
        if memory_mb == self.usual:
            yield
            return
        self._apply(memory_mb)
        try:
            yield
        finally:
            self._apply(self.usual)

    def _apply(self, memory_mb: int) -> None:
        if not self.active:
            return
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = (memory_mb << 20) if memory_mb > 0 else hard
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _crash_reason(exc: BaseException, memory_mb: int) -> str:
    if isinstance(exc, MemoryError):
        return f"hết bộ nhớ cho phép ({memory_mb} MB)" if memory_mb else "hết bộ nhớ"
    detail = clean_text(str(exc))[:150]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"lỗi nội bộ của trình đọc, {what}"


# --- the parent side ----------------------------------------------------------------------------


class _Worker:
    def __init__(self, ctx: Any, memory_mb: int, wait: bool = True, imports: Sequence[str] = ()) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, memory_mb, tuple(imports)), daemon=True)
        self.proc.start()
        child.close()
        self.job: int | None = None
        self.lifted = False  # its job runs with a memory cap of its own
        self.alone = False  # started for one job of the program's own (`_Pool.prestart_own`)
        self.deadline = 0.0
        self.timeout_s = 0.0
        self.ready = False
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until it can read, so that start-up time is not counted against the first file."""
        if self.ready:
            return
        try:
            self.ready = self.conn.poll(_STARTUP_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            self.ready = False
        if not self.ready:
            self.kill()
            raise RuntimeError(f"reader process did not start (exit code {self.proc.exitcode})")

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(_GRACE_S)
        self.conn.close()


class _Pool:
    """Long-lived workers, each given one job at a time; dead or stuck workers are replaced."""

    def __init__(self, size: int, timeout_s: float, memory_mb: int) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.size = max(1, size)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []
        self.starting: list[_Worker] = []
        self.own: _Worker | None = None  # started for the next job of the program's own (`prestart_own`)
        self.own_given: float | None = None  # the deadline of the job `give_own` gave it, until `take_own`
        self.aborted = False
        self._wake, self._waker = multiprocessing.Pipe(duplex=False)  # `abort` wakes a `run` of another thread

    def run(self, jobs: Iterable[tuple[int, Job]], at_most: Width = None) -> Iterator[tuple[int, Any]]:
        """Yield (index, result or `Failure`) as jobs finish, at most `at_most` at once (every
        worker by default; a function is asked each time a job is to be given out). Each job goes
        to the first worker ready (one job does not wait for every worker). For a list of jobs, the
        workers still to start start now, all at once; jobs from an iterator are taken as workers
        come free, and the workers start as the jobs come (an iterator may wait for its next job:
        files that are still being taken in are read as they come). Ends at once, its running jobs
        given up, when another thread calls `abort`."""

        def width() -> int:
            wanted = at_most() if callable(at_most) else at_most
            return max(1, min(self.size, wanted or self.size))

        total = len(jobs) if isinstance(jobs, Sized) else None
        if total is not None:
            own = any(len(job) > 3 for _, job in jobs) and self.own is not None  # one job has its process
            self.prestart(min(width(), total - own))
        source, given, ended = iter(jobs), 0, False

        def give() -> None:
            nonlocal given, ended
            while len(self.busy) < width() and not ended and not self.aborted:
                job = next(source, None)
                if job is None:
                    ended = True
                    return
                given += 1
                if total is None:
                    self.prestart(min(width(), given))  # the next worker starts while this one reads
                self._start(*job)

        while True:
            give()
            if self.aborted:
                for worker in list(self.busy):
                    self._retire(worker)
                return
            if not self.busy:
                return
            # Whether jobs wait for a worker: those of a list not yet given; an iterator may have more.
            done = self._collect(more=given < total if total is not None else not ended)
            give()  # the workers just freed get their next job before the results are unpickled here
            for index, received in done:
                yield index, _result(index, received)

    def abort(self) -> None:
        """Make a `run` of another thread end at once (see `run`)."""
        self.aborted = True
        with contextlib.suppress(OSError, ValueError):
            self._waker.send_bytes(b"x")

    def prestart(self, count: int | None = None) -> None:
        """Start workers now (up to `count` in all, every one by default), without waiting: they
        import the readers while the caller works."""
        wanted = self.size if count is None else min(self.size, count)
        self.starting += [_Worker(self.ctx, self.memory_mb, wait=False) for _ in range(wanted - self._count())]

    def prestart_own(self, imports: Sequence[str]) -> None:
        """Start a process for the next job of the program's own (one with a memory cap of its own:
        the report's outputs) now, without waiting; it imports `imports` without a cap while the
        caller works, takes that one job (and before it the job `give_own` may give it, which
        prepares what that one uses), and is retired after it like any worker after such a job.
        A file's job never goes to it."""
        if self.own is None:
            with contextlib.suppress(OSError):  # no process to spare: the job goes to a usual worker
                self.own = _Worker(self.ctx, 0, wait=False, imports=imports)
                self.own.alone = True

    def give_own(self, job: Job) -> bool:
        """Give the process `prestart_own` started a job before the one it is for (`Runner.give_own`).
        The other threads' `run` never touches that process: only a job of the program's own goes to it."""
        own = self.own
        if own is None or self.own_given is not None:
            return False
        try:
            own.wait_ready()
            own.conn.send((-1, job))
        except (RuntimeError, OSError, EOFError, ValueError):  # it did not start: nothing given
            own.kill()
            self.own = None
            return False
        self.own_given = time.monotonic() + (job[2] if len(job) > 2 else self.timeout_s)
        return True

    def take_own(self) -> Any:
        """The result of the job `give_own` gave, waited for (`Runner.take_own`); the process is
        given up when that job failed it."""
        own, deadline = self.own, self.own_given
        if own is None or deadline is None:
            return None
        self.own_given = None
        message: bytes | None = None
        while not self.aborted and (left := deadline - time.monotonic()) > 0:
            if wait([own.conn, own.proc.sentinel], timeout=min(left, _ABORT_POLL_S)):
                message = self._receive(own)
                break
        if message is None:  # it died, or ran out of time: the job it was started for goes to a usual worker
            alive = own.proc.is_alive()
            own.kill()
            self.own = None
            if alive:
                return Failure(Code.READER_TIMEOUT, "hết thời gian hoặc đã dừng")
            return Failure(Code.READER_CRASH, _death_reason(own.proc.exitcode))
        return _result(-1, message)

    def _count(self) -> int:
        return len(self.idle) + len(self.busy) + len(self.starting)

    def _start(self, index: int, job: Job) -> None:
        if len(job) > 3 and self.own is not None:  # the program's own job, and a process started for it
            worker, self.own = self.own, None
            try:
                worker.wait_ready()
                worker.conn.send((index, job))
            except (RuntimeError, OSError, EOFError, ValueError):  # it did not start: a usual worker takes the job
                worker.kill()
            except BaseException:  # Ctrl+C while it starts, a job that does not pickle: not left running
                worker.kill()
                raise
            else:
                self._busy(worker, index, job)
                return
        for _ in range(2):  # an idle worker may have died since its last job
            if self.idle:
                worker = self.idle.pop()
            elif self.starting:
                worker = self.starting.pop(0)
                worker.wait_ready()
            else:
                worker = _Worker(self.ctx, self.memory_mb)
            try:
                worker.conn.send((index, job))
            except (OSError, EOFError, ValueError):
                worker.kill()
                continue
            self._busy(worker, index, job)
            return
        raise RuntimeError("cannot start a worker process")

    def _busy(self, worker: _Worker, index: int, job: Job) -> None:
        worker.job = index
        worker.lifted = len(job) > 3
        worker.timeout_s = job[2] if len(job) > 2 else self.timeout_s
        worker.deadline = time.monotonic() + worker.timeout_s
        self.busy.append(worker)

    def _collect(self, more: bool) -> list[tuple[int, bytes | Failure]]:
        """The jobs that finished or ran out of time, each with its worker's message as it came
        (`_result` unpickles it) or its `Failure`; their workers are free again, or retired. `more`:
        jobs of this run are still waiting for a worker."""
        now = time.monotonic()
        wait_s = max(0.0, min(w.deadline for w in self.busy) - now)
        watched = [w.conn for w in self.busy] + [w.proc.sentinel for w in self.busy] + [self._wake]
        ready = set(wait(watched, timeout=wait_s))
        now = time.monotonic()
        done: list[tuple[int, bytes | Failure]] = []
        if self.aborted:
            return done
        for worker in list(self.busy):
            index = worker.job
            assert index is not None
            if worker.conn in ready or worker.proc.sentinel in ready:
                message = self._receive(worker)
                if message is None:
                    worker.proc.join(_GRACE_S)  # the pipe closes as it dies: wait for its exit code
                    done.append((index, Failure(Code.READER_CRASH, _death_reason(worker.proc.exitcode))))
                    self._retire(worker)
                    continue
                done.append((index, message))
                if worker.lifted:
                    # It may now hold more than the usual cap allows the next job: a new worker
                    # takes its place, starting now while the others work when jobs are waiting
                    # (a later run starts what it needs), and unless it was started for that job alone.
                    self._retire(worker)
                    if more and not worker.alone:
                        self.starting.append(_Worker(self.ctx, self.memory_mb, wait=False))
                else:
                    self._release(worker)
            elif now >= worker.deadline:
                self._retire(worker)
                done.append((index, Failure(Code.READER_TIMEOUT, f"quá {_seconds(worker.timeout_s)} giây")))
        return done

    @staticmethod
    def _receive(worker: _Worker) -> bytes | None:
        """The worker's message, still pickled; None when it died before sending one."""
        try:
            if worker.conn.poll():
                return worker.conn.recv_bytes()
        except (EOFError, OSError):
            pass
        return None

    def _release(self, worker: _Worker) -> None:
        self.busy.remove(worker)
        worker.job = None
        self.idle.append(worker)

    def _retire(self, worker: _Worker) -> None:
        self.busy.remove(worker)
        worker.kill()

    def close(self) -> None:
        for worker in self.idle:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        deadline = time.monotonic() + _GRACE_S
        for worker in self.idle:
            worker.proc.join(max(0.0, deadline - time.monotonic()))
        for worker in self.idle + self.busy + self.starting + ([self.own] if self.own else []):
            worker.kill()
        self.idle, self.busy, self.starting, self.own = [], [], [], None
        self._wake.close()
        self._waker.close()


def _result(index: int, received: bytes | Failure) -> Any:
    """The result of job `index` from its worker's message (our own bytes: a worker's job is the
    program's code), or its `Failure`."""
    if isinstance(received, Failure):
        return received
    try:
        message = pickle.loads(received)
    except Exception as exc:  # a result that pickled there and does not unpickle here
        return Failure(Code.READER_CRASH, f"không nhận được kết quả ({type(exc).__name__})")
    if not isinstance(message, tuple) or len(message) != 2 or message[0] != index:
        return Failure(Code.READER_CRASH, "kết quả không khớp với việc đã giao")
    return message[1]


def _seconds(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"tín hiệu {-exitcode}"
        return f"tiến trình đọc bị dừng đột ngột ({name})"
    return f"tiến trình đọc kết thúc bất thường (mã {exitcode})"
