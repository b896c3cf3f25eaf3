"""Where a run's time goes, stage by stage, in milliseconds of one core per file: `python -m bench.profile`
(or `make profile FILES=2000`).

`bench.run` measures what the officer waits for: wall time, with the reading on the worker
processes and the outputs side by side. This takes the same inbox through the same code in one
process, one thing after another, so that each stage's seconds are what it costs with nothing else
of the run beside it (Arrow may still use threads of its own inside a call):

* the run itself (`pipeline.stages.run`), with its jobs run in this process (no worker processes,
  no threads): cold on a new ledger, then again after one union's corrected file (incremental);
* the reading job of every file taken apart: the guard's pass, calamine parsing the sheets the
  reader uses, the reader's own conversion, and the result's trip back from a worker (pickled and
  unpickled), beside the floor (calamine reading every cell of every sheet, as `bench.run` does);
* the fixed cost of a run: `pipeline run` from the command line on an empty inbox with a roster of
  one union, and pandas, pandera and the first validation, which every run with something new pays.

Prints the table and writes every figure to `bench/profile.json`.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.generate import ROOT, ROSTER_NAME, Inbox, generate
from bench.run import WORK, add_correction, first_units, pipeline_run

PROFILE = ROOT / "bench" / "profile.json"

# The stages of a run with a per-file cost, in the order they run, and the outputs.
STAGES = ("intake", "read", "validate", "ledger", "merge", "figures")
OUTPUTS = ("dataset_parquet", "report_docx", "report_xlsx", "report_html", "audit", "dataset_csv", "findings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--out", type=Path, default=PROFILE)
    args = parser.parse_args(argv)
    inbox = generate(args.work / f"inbox-{args.files}-{args.seed}", args.files, args.seed)
    figures = profile(inbox, args.work / "profile")
    args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(figures)
    print(f"\nWritten to {args.out}")
    return 0


def profile(inbox: Inbox, work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = len(inbox.files)
    print(f"reading job, file by file ({files} files) ...", flush=True)
    job = reading_job(inbox.files)
    print("cold run, one core ...", flush=True)
    cold = serial_run(inbox.inbox, inbox.roster, work / "outbox")
    flagged = sum(1 for f in cold["files"] if f["errors"] or f["warnings"])
    print("incremental run, one core ...", flush=True)
    add_correction(inbox, work / "inbox-corrected")
    incremental = serial_run(work / "inbox-corrected", inbox.roster, work / "outbox")
    print("fixed costs ...", flush=True)
    fixed = fixed_costs(inbox, work)
    return {
        "files": files,
        "flagged_files": flagged,
        "reading_job_ms_per_file": {k: round(v * 1000 / files, 3) for k, v in job.items()},
        "cold_s": cold["seconds"],
        "cold_ms_per_file": {k: round(v * 1000 / files, 3) for k, v in cold["seconds"].items()},
        "feedback_ms_per_flagged_file": round(cold["seconds"]["feedback"] * 1000 / max(flagged, 1), 1),
        "incremental_s": incremental["seconds"],
        "fixed_s": fixed,
    }


def reading_job(paths: Sequence[Path]) -> dict[str, float]:
    """Seconds of each part of the reading job over every file, and the floor's over the same files."""
    from python_calamine import CalamineWorkbook

    from pipeline import guard
    from pipeline.form import load_form
    from pipeline.read import _wanted, read_workbook

    form, limits = load_form(), guard.Limits()
    wanted = _wanted(form)  # the sheets the reader loads (not the guide)
    spent = dict.fromkeys(("floor", "guard", "calamine_sheets_read", "reader_total", "transfer"), 0.0)
    for path in paths:
        started = time.perf_counter()
        workbook = CalamineWorkbook.from_path(str(path))
        for name in workbook.sheet_names:
            workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        spent["floor"] += time.perf_counter() - started

        started = time.perf_counter()
        verdict = guard.check(path, "xlsx", limits)
        spent["guard"] += time.perf_counter() - started

        started = time.perf_counter()
        with path.open("rb") as fh:
            workbook = CalamineWorkbook.from_filelike(fh)
            for name in [n for n in workbook.sheet_names if wanted(n)]:
                workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        spent["calamine_sheets_read"] += time.perf_counter() - started

        started = time.perf_counter()
        book = read_workbook(path, form, path.name, max_cells=limits.max_cells, plain_sheets=verdict.plain_sheets)
        spent["reader_total"] += time.perf_counter() - started

        started = time.perf_counter()
        pickle.loads(pickle.dumps(book))
        spent["transfer"] += time.perf_counter() - started
    spent["reader_own"] = spent["reader_total"] - spent["calamine_sheets_read"]
    return spent


class _Serial:
    """A runner that runs each job here, one after the other, and keeps each job's seconds."""

    def __init__(self) -> None:
        self.seconds: list[tuple[Callable[..., Any], float]] = []

    def prestart(self, count: int | None = None) -> None:
        pass

    def prestart_own(self, imports: Sequence[str]) -> None:
        pass

    def give_own(self, job: Any) -> bool:
        return False  # no process of its own: the workbook makes its dataset's rows in its job, counted there

    def take_own(self) -> Any:
        return None

    def abort(self) -> None:
        pass

    def run(self, jobs: Iterable[Any], at_most: int | None = None) -> Iterator[tuple[int, Any]]:
        for i, (fn, args, *_) in enumerate(jobs):
            started = time.perf_counter()
            result = fn(*args)
            self.seconds.append((fn, time.perf_counter() - started))
            yield i, result


class _ReadLater:
    """`pipeline.isolate.ReadAhead` on one core: the files intake hands over are read when the read
    stage asks for them, so that intake's seconds and the reading's stay apart."""

    def __init__(self, runner: Any, form: Any, limits: Any) -> None:
        self.runner, self.form, self.limits = runner, form, limits
        self.handed: list[Any] = []
        self.started = time.perf_counter()

    def start(self, executor: Any) -> None:
        pass

    def add(self, sub: Any) -> None:
        self.handed.append(sub)

    def stop(self) -> None:
        pass

    def finish(self) -> Iterator[tuple[Any, Any]]:
        from pipeline.isolate import read_books

        self.started = time.perf_counter()
        books = read_books(self.handed, self.form, runner=self.runner, limits=self.limits)
        yield from zip(self.handed, books, strict=True)


class _Here(concurrent.futures.Executor):
    """An executor that runs what it is given at once, in this thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def serial_run(inbox: Path, roster: Path, outbox: Path) -> dict[str, Any]:
    """`pipeline.stages.run` with every job and thread of it run here, one after the other: the
    seconds of each stage and output are what they cost on one core."""
    import pipeline.stages as stages
    from pipeline.api import open_period
    from pipeline.findings import Severity

    _load_everything()
    runner = _Serial()
    warm_up = stages._warm_up
    warming: list[float] = []

    def timed_warm_up(*args: Any) -> None:
        started = time.perf_counter()
        warm_up(*args)
        warming.append(time.perf_counter() - started)

    @contextlib.contextmanager
    def here_runner(settings: Any) -> Iterator[_Serial]:
        yield runner

    # The feedback is begun between validation and the ledger, in no stage; what `settle` (nothing
    # begun before it: in the merge) or `finish` (files the ledger's jobs add: in the outputs) run of
    # it is taken out of their stage.
    inside = dict.fromkeys(("merge", "outputs"), 0.0)

    def feedback_seconds() -> float:
        return sum(s for fn, s in runner.seconds if _is_feedback(fn))

    def counted_in(stage: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            before = feedback_seconds()
            try:
                return method(*args)
            finally:
                inside[stage] += feedback_seconds() - before

        return counted

    period = open_period(ROOT / "pipeline.toml", inbox=inbox, outbox=outbox, roster=roster)
    saved = stages.open_runner, concurrent.futures.ThreadPoolExecutor, stages.ReadAhead
    settle, finish = stages._Feedback.settle, stages._Feedback.finish
    stages._Feedback.settle = counted_in("merge", settle)  # type: ignore[method-assign]
    stages._Feedback.finish = counted_in("outputs", finish)  # type: ignore[method-assign]
    stages.open_runner, stages._warm_up = here_runner, timed_warm_up  # type: ignore[assignment]
    stages.ReadAhead = _ReadLater  # type: ignore[assignment,misc]
    concurrent.futures.ThreadPoolExecutor = lambda *a, **k: _Here()  # type: ignore[assignment,misc]
    try:
        started = time.perf_counter()
        result = stages.run(period.settings, period.form, period.roster)
        total = time.perf_counter() - started
    finally:
        stages.open_runner, concurrent.futures.ThreadPoolExecutor, stages.ReadAhead = saved  # type: ignore[misc]
        stages._warm_up = warm_up
        stages._Feedback.settle, stages._Feedback.finish = settle, finish  # type: ignore[method-assign]
    seconds = {k: v for k, v in result.stages.items() if k in (*STAGES, *OUTPUTS)}
    # The warm-up validation ran inside intake here (on a thread of its own in a real run).
    seconds["intake"] = round(seconds["intake"] - sum(warming), 4)
    seconds["outputs"] = round(result.stages.get("outputs", 0.0) - inside["outputs"], 4)
    seconds["merge"] = round(seconds["merge"] - inside["merge"], 4)
    # Beside the ledger, the merge and the figures, on the workers, in a real run.
    seconds["feedback"] = round(feedback_seconds(), 4)
    seconds["total"] = round(total, 4)
    files = [{"errors": r.count(Severity.ERROR), "warnings": r.count(Severity.WARNING)} for r in result.files]
    return {"seconds": seconds, "files": files}


def _load_everything() -> None:
    """Import what the stages and outputs use, and validate once, before anything is timed: those
    are fixed costs (`fixed_costs`), not a stage's."""
    import pipeline.render.feedback
    import pipeline.render.patch
    import pipeline.report.audit
    import pipeline.report.docx
    import pipeline.report.html
    import pipeline.report.xlsx  # noqa: F401
    from pipeline.config import load_settings
    from pipeline.form import load_form
    from pipeline.stages import _warm_up

    _warm_up(load_form(), load_settings(ROOT / "pipeline.toml"), None)


def _is_feedback(fn: Callable[..., Any]) -> bool:
    return getattr(getattr(fn, "func", fn), "__name__", "") == "write_feedback"


def fixed_costs(inbox: Inbox, work: Path) -> dict[str, float]:
    """What a run costs whatever its files: the command on an empty inbox (one union in the roster),
    and the first validation's imports and warm-up, in new processes."""
    empty = work / "empty-inbox"
    empty.mkdir()
    roster = first_units(inbox, 1, work / ROSTER_NAME)
    empty_run = pipeline_run(empty, roster, work / "empty-outbox").seconds
    code = (
        "import time; t = time.perf_counter(); import pipeline.cli; a = time.perf_counter(); "
        "import pipeline.validate; b = time.perf_counter(); "
        "from pipeline.config import load_settings; from pipeline.form import load_form; "
        "from pipeline.stages import _warm_up; from pathlib import Path; "
        "form, settings = load_form(), load_settings(Path('pipeline.toml')); c = time.perf_counter(); "
        "_warm_up(form, settings, None); d = time.perf_counter(); _warm_up(form, settings, None); "
        "print(a - t, b - a, d - c, time.perf_counter() - d)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    program, pandera, first, again = (float(x) for x in out.stdout.split())
    return {
        "empty_run": round(empty_run, 3),
        "program_import": round(program, 3),
        "pandas_pandera_import": round(pandera, 3),
        "first_validation": round(first, 3),
        "next_validation": round(again, 3),
    }


def print_table(p: dict[str, Any]) -> None:
    files = p["files"]
    job = p["reading_job_ms_per_file"]
    print(f"\n{files} files ({p['flagged_files']} flagged); milliseconds of one core per file\n")
    print("reading job (on a worker, per file)")
    for key, label in (
        ("guard", "guard: limits, XML prolog, extent, markers"),
        ("calamine_sheets_read", "calamine: the sheets the reader uses"),
        ("reader_own", "reader: its own conversion"),
        ("transfer", "result back to the run (pickle)"),
        ("floor", "floor: calamine, every sheet, every cell"),
    ):
        print(f"  {label:<46}{job[key]:>8.2f}")
    cold = p["cold_ms_per_file"]
    print("\ncold run, stage by stage")
    for key in (*STAGES, "feedback", *OUTPUTS):
        print(f"  {key:<46}{cold.get(key, 0.0):>8.2f}")
    print(f"  {'total':<46}{cold['total']:>8.2f}")
    print(f"  feedback per flagged file: {p['feedback_ms_per_flagged_file']} ms")
    inc = p["incremental_s"]
    print("\nincremental run (seconds): " + ", ".join(f"{k} {inc[k]:.2f}" for k in (*STAGES, "outputs", "total")))
    fixed = p["fixed_s"]
    print("fixed (seconds): " + ", ".join(f"{k} {v:.2f}" for k, v in fixed.items()))


if __name__ == "__main__":
    raise SystemExit(main())
