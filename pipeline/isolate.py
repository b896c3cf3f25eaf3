"""Reading received workbooks where a reader that crashes or hangs cannot take the run down.

`read_books` first asks `guard.inspect` about each file (in this process: it only looks at bytes,
within budgets). A refused file becomes a `WorkbookData` holding one error finding. The others are
read by a small pool of long-lived worker processes ("spawn", so the same code runs on Windows),
each reading many files. On Linux a worker's address space is capped (RLIMIT_AS), so a runaway
allocation fails inside the worker instead of exhausting the machine. Each file has a deadline.

What can happen to a file in a worker, and what the run records:

* read: the reader's normal `WorkbookData` (with its findings: missing sheet, bad values ...);
* the reader raises an ordinary exception: PASSWORD_PROTECTED for calamine's PasswordError,
  CORRUPT_FILE otherwise, with the reader's words as the reason;
* the worker runs out of memory, a Rust panic surfaces (PanicException is a BaseException, which
  `read_workbook` does not catch), or the worker dies (SIGABRT from a Rust abort, SIGSEGV):
  READER_CRASH; a dead worker is replaced and the run goes on;
* the deadline passes: READER_TIMEOUT; the worker is killed and replaced.

Non-spreadsheet submissions (`Submission.is_spreadsheet` false) are never given to a reader: they
come back with one finding, the guard's refusal when it has a more precise word (an encrypted
workbook, an .xlsb, a CSV, a raw Excel 4 file, a picture) or NOT_SPREADSHEET. So a caller may pass
every submission. Results come back in the order of `submissions`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from pipeline import guard
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


def read_books(
    submissions: Sequence[Submission],
    form: Form,
    *,
    workers: int | None = None,
    timeout_s: float = 60,
    memory_mb: int = 1024,
    limits: guard.Limits | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[WorkbookData]:
    """One `WorkbookData` per submission, in the same order; never raises because of a file's content.

    `workers` defaults to min(2, CPUs); `timeout_s` is per file; `memory_mb` caps each worker's
    address space (Linux only); `limits` are the guard's (default `guard.Limits()`); `progress` is
    called with each file's name when that file is done.
    """
    limits = limits or guard.Limits()
    results: list[WorkbookData | None] = [None] * len(submissions)
    jobs: list[int] = []
    for i, sub in enumerate(submissions):
        early = _before_reading(sub, limits)
        if early is None:
            jobs.append(i)
            continue
        results[i] = early
        if progress:
            progress(sub.name)
    if jobs:
        pool = _Pool(form, workers or default_workers(), timeout_s, memory_mb)
        try:
            for i, book in pool.run([(i, submissions[i]) for i in jobs]):
                results[i] = book
                if progress:
                    progress(submissions[i].name)
        finally:
            pool.close()
    return [
        book if book is not None else _refused(sub, Code.READER_CRASH, "không nhận được kết quả đọc")
        for sub, book in zip(submissions, results, strict=True)
    ]


def _before_reading(sub: Submission, limits: guard.Limits) -> WorkbookData | None:
    """The result of a file that is not given to a reader, or None when it must be read."""
    if sub.kind in _NEVER_READ:
        return _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)
    try:
        refusal = guard.inspect(sub.path, sub.kind, limits)
    except Exception as exc:  # a bug of the guard on a strange file: fail closed, keep the run
        refusal = guard.Refusal(Code.CORRUPT_FILE, f"không kiểm tra được cấu trúc tệp ({type(exc).__name__})")
    if refusal is not None:
        return _refused(sub, refusal.code, refusal.reason)
    if not sub.is_spreadsheet:
        return _refused(sub, Code.NOT_SPREADSHEET, sub.kind_words)
    return None


def _refused(sub: Submission, code: Code, reason: str) -> WorkbookData:
    book = WorkbookData(sub.name, sub.path)
    # NOT_SPREADSHEET's message names the kind; every other refusal code says {reason}.
    params = {"kind": reason} if code is Code.NOT_SPREADSHEET else {"reason": reason}
    book.findings.append(make(code, Severity.ERROR, Location(sub.name), **params))
    return book


# --- the worker side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    code: Code
    reason: str


def _worker_main(conn: Connection, form: Form, memory_mb: int) -> None:
    """Read the files the parent sends, one at a time, until it sends None or goes away."""
    os.environ["RUST_BACKTRACE"] = "0"  # a Rust abort prints one line, not a page
    if not os.environ.get("PIPELINE_DEBUG"):
        # What a reader prints when a file makes it panic is English noise for the officer; the
        # file's finding says what happened. PIPELINE_DEBUG=1 keeps it for engineers.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    if sys.platform.startswith("linux") and memory_mb > 0:
        import resource

        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    import python_calamine  # noqa: F401 - loaded before the first deadline starts

    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, path, name = job
        try:
            result: WorkbookData | _Failure = _read(Path(path), name, form, memory_mb)
        except BaseException as exc:  # PanicException, MemoryError: anything
            result = _Failure(Code.READER_CRASH, _crash_reason(exc, memory_mb))
        try:
            conn.send((index, result))
        except Exception as exc:  # the result does not pickle
            conn.send((index, _Failure(Code.READER_CRASH, f"không chuyển được kết quả ({type(exc).__name__})")))


def _read(path: Path, name: str, form: Form, memory_mb: int) -> WorkbookData:
    return read_workbook(path, form, name)


def _crash_reason(exc: BaseException, memory_mb: int) -> str:
    if isinstance(exc, MemoryError):
        return f"hết bộ nhớ cho phép ({memory_mb} MB)"
    detail = clean_text(str(exc))[:150]
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"lỗi nội bộ của trình đọc, {what}"


# --- the parent side ----------------------------------------------------------------------------


class _Worker:
    def __init__(self, ctx: Any, form: Form, memory_mb: int) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, form, memory_mb), daemon=True)
        self.proc.start()
        child.close()
        self.job: int | None = None
        self.deadline = 0.0
        # Wait until it can read, so that start-up time is not counted against the first file.
        try:
            ready = self.conn.poll(_STARTUP_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(f"reader process did not start (exit code {self.proc.exitcode})")

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(_GRACE_S)
        self.conn.close()


class _Pool:
    """Long-lived workers, each given one file at a time; dead or stuck workers are replaced."""

    def __init__(self, form: Form, size: int, timeout_s: float, memory_mb: int) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.form = form
        self.size = max(1, size)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []

    def run(self, jobs: list[tuple[int, Submission]]) -> Iterator[tuple[int, WorkbookData]]:
        """Yield (index, WorkbookData) as files finish."""
        subs = dict(jobs)
        pending = deque(i for i, _ in jobs)
        while pending or self.busy:
            while pending and len(self.busy) < self.size:
                self._start(pending.popleft(), subs)
            yield from self._collect(subs)

    def _start(self, index: int, subs: dict[int, Submission]) -> None:
        sub = subs[index]
        for _ in range(2):  # an idle worker may have died since its last file
            worker = self.idle.pop() if self.idle else _Worker(self.ctx, self.form, self.memory_mb)
            try:
                worker.conn.send((index, str(sub.path), sub.name))
            except (OSError, EOFError, ValueError):
                worker.kill()
                continue
            worker.job, worker.deadline = index, time.monotonic() + self.timeout_s
            self.busy.append(worker)
            return
        raise RuntimeError("cannot start a reader process")

    def _collect(self, subs: dict[int, Submission]) -> Iterator[tuple[int, WorkbookData]]:
        now = time.monotonic()
        wait_s = max(0.0, min(w.deadline for w in self.busy) - now)
        ready = set(wait([w.conn for w in self.busy] + [w.proc.sentinel for w in self.busy], timeout=wait_s))
        now = time.monotonic()
        for worker in list(self.busy):
            index = worker.job
            assert index is not None
            sub = subs[index]
            if worker.conn in ready or worker.proc.sentinel in ready:
                message = self._receive(worker)
                if message is None or message[0] != index:
                    worker.proc.join(_GRACE_S)  # the pipe closes as it dies: wait for its exit code
                    book = _refused(sub, Code.READER_CRASH, _death_reason(worker.proc.exitcode))
                    self._retire(worker)
                else:
                    _, result = message
                    book = result if isinstance(result, WorkbookData) else _refused(sub, result.code, result.reason)
                    self._release(worker)
                yield index, book
            elif now >= worker.deadline:
                self._retire(worker)
                yield index, _refused(sub, Code.READER_TIMEOUT, f"quá {self.timeout_s:g} giây".replace(".", ","))

    @staticmethod
    def _receive(worker: _Worker) -> tuple[int, WorkbookData | _Failure] | None:
        try:
            if worker.conn.poll():
                message: tuple[int, WorkbookData | _Failure] = worker.conn.recv()
                return message
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
        for worker in self.idle + self.busy:
            worker.kill()
        self.idle, self.busy = [], []


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"tín hiệu {-exitcode}"
        return f"tiến trình đọc bị dừng đột ngột ({name})"
    return f"tiến trình đọc kết thúc bất thường (mã {exitcode})"
