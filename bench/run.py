"""The provincial-scale benchmark: `python -m bench.run --files 2000` (or `make bench FILES=2000`).

On one generated inbox (`bench.generate`), in one run, side by side:

* floor: python-calamine reading every cell of every sheet of every file, serially, nothing else;
* naive: what a typical script does (per file `pandas.read_excel(engine="openpyxl")` and one
  pandera validation, then `concat` and `to_excel` with openpyxl);
* cold: `pipeline run` end to end on a new ledger (a separate process, as the officer runs it),
  every output written;
* incremental: `pipeline run` again after one union sends a corrected file;
* scaling: the cold run at 10% and 50% of the files as well (seconds per file);
* large file: `pipeline run` on one workbook of 50,000 initiatives;
* a district's day (`bench.district`): on the demo's period, a cold run, a run after one corrected
  file and a run that finds nothing new, as the officer waits for each from the command line and
  from the page's warm process;
* peak memory: the largest resident set of any process of the cold run, and of all its processes
  together (sampled).

Prints a table and the ratios against the targets of the benchmark's README, and writes every
figure to `bench/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.generate import ROOT, ROSTER_NAME, Inbox, corrected, file_name, generate, officer_env

RESULTS = ROOT / "bench" / "results.json"
WORK = ROOT / "bench" / ".work"
PIPELINE = Path(sys.executable).with_name("pipeline")


@dataclass
class RunFigures:
    seconds: float
    stages: dict[str, float]
    peak_rss_mb: float  # largest single process
    peak_tree_rss_mb: float  # all processes of the run together (sampled every 50 ms)
    totals: dict[str, Any]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000, help="number of workbooks (default 2000)")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--work", type=Path, default=WORK, help="where inboxes are generated (kept between runs)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not PIPELINE.exists():
        print(f"pipeline is not installed beside {sys.executable}", file=sys.stderr)
        return 2

    print(f"Generating {args.files} workbooks (kept in {args.work} for later runs) ...", flush=True)
    started = time.perf_counter()
    inbox = generate(args.work / f"inbox-{args.files}-{args.seed}", args.files, args.seed)
    print(f"  {len(inbox.files)} files, {inbox.initiatives} initiatives ({time.perf_counter() - started:.0f} s)")

    print("floor: calamine, every cell, serially ...", flush=True)
    floor_s = _apart(floor, inbox.files)
    print("cold: pipeline run on a new ledger ...", flush=True)
    runs = args.work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    cold = pipeline_run(inbox.inbox, inbox.roster, runs / "full")
    print("incremental: one corrected file, then pipeline run again ...", flush=True)
    added = add_correction(inbox, runs / "full-inbox")
    incremental = pipeline_run(runs / "full-inbox", inbox.roster, runs / "full")
    if incremental.totals.get("initiatives") is None or added is None:
        print("the incremental run did not complete", file=sys.stderr)
        return 1
    scaling = {len(inbox.files): cold.seconds / max(len(inbox.files), 1)}
    for size in sorted({s for s in (args.files // 10, args.files // 2) if s >= 20}):
        print(f"scaling: cold run on the first {size} files ...", flush=True)
        part = subset(inbox, size, runs / f"inbox-{size}")
        scaling[size] = pipeline_run(part, part.parent / ROSTER_NAME, runs / f"out-{size}").seconds / size
    print(f"large file: one workbook of {LARGE_ROWS} initiatives ...", flush=True)
    large = pipeline_run(large_inbox(inbox, runs / "large-inbox"), inbox.roster, runs / "large")
    print("district: cold, one corrected file, nothing new (command line and page) ...", flush=True)
    from bench.district import district

    day = district(args.work)
    print("naive: pandas.read_excel(openpyxl) + pandera per file, concat, to_excel ...", flush=True)
    from bench.naive import naive

    naive_s = naive(inbox.files, runs / "naive.xlsx")

    results = summarise(inbox, floor_s, naive_s, cold, incremental, scaling, large) | day
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    print(f"\nWritten to {args.out}")
    return 0


def floor(paths: list[Path]) -> float:
    """python-calamine reading every cell of every sheet of every file, one after the other."""
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    cells = 0
    for path in paths:
        workbook = CalamineWorkbook.from_path(str(path))
        for name in workbook.sheet_names:
            for row in workbook.get_sheet_by_name(name).to_python(skip_empty_area=False):
                cells += len(row)
    return time.perf_counter() - started


def _apart(measure: Any, paths: list[Path]) -> float:
    """`measure(paths)` in a process of its own, so that what it loads (calamine's workbooks, say)
    is not this process's memory when it starts the pipeline's runs (see `large_inbox`)."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return float(pool.submit(measure, paths).result())


def pipeline_run(inbox: Path, roster: Path, outbox: Path) -> RunFigures:
    """`pipeline run` as the officer runs it, in its own process; wall time and memory."""
    command = [
        str(PIPELINE),
        "run",
        "--config",
        str(ROOT / "pipeline.toml"),
        "--inbox",
        str(inbox),
        "--outbox",
        str(outbox),
        "--roster",
        str(roster),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=officer_env())
    sampler = _TreeSampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = ""
    if proc.stderr is not None:
        with proc.stderr:
            stderr = proc.stderr.read().decode("utf-8", "replace")
    if proc.returncode not in (0, 1):  # 1: some files were returned to their unions
        raise RuntimeError(f"pipeline run failed ({proc.returncode}): {stderr[-2000:]}")
    summary = json.loads((outbox / "run.json").read_text(encoding="utf-8"))
    return RunFigures(
        seconds=round(seconds, 3),
        stages=summary.get("stages", {}),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # kB on Linux; includes waited-for children
        peak_tree_rss_mb=round(sampler.peak_kb / 1024, 1),
        totals=summary.get("totals", {}),
    )


class _TreeSampler(threading.Thread):
    """The summed resident memory of a process and its descendants, sampled (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self._stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _tree_rss_kb(root: int) -> int:
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(rss.get(pid, 0) for pid in tree)


def add_correction(inbox: Inbox, folder: Path) -> Path | None:
    """The inbox again (hard links) plus one union's corrected file: the incremental run's input."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(inbox.inbox, folder, copy_function=os.link)
    original = folder / file_name(inbox.units[0])
    target = corrected(original, folder / original.name.replace(".xlsx", " (bổ sung).xlsx"))
    os.unlink(original)  # replaced by its correction (a link to the original inbox: read, never written)
    return target


LARGE_ROWS = 50_000


def large_inbox(inbox: Inbox, folder: Path) -> Path:
    """An inbox holding one workbook of `LARGE_ROWS` initiatives, made from a correct generated file.

    Made in a process of its own: writing it takes openpyxl a few hundred MB, and a process that
    starts `pipeline run` while that large counts its own memory of the moment in the run's peak
    (the child's resident set before it loads the program is the parent's)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    source = next(
        p for p, u in zip(inbox.files, inbox.units, strict=True) if u.code not in inbox.rejected and _has_rows(p)
    )
    code = "import sys; from pathlib import Path; from bench.generate import large_workbook; "
    code += "large_workbook(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))"
    made = [str(source), str(folder / source.name), str(LARGE_ROWS)]
    subprocess.run([sys.executable, "-c", code, *made], check=True, cwd=ROOT)
    return folder


def _has_rows(path: Path) -> bool:
    from pipeline.form import load_form
    from pipeline.read import read_workbook

    return read_workbook(path, load_form()).count > 0


def subset(inbox: Inbox, size: int, folder: Path) -> Path:
    """The first `size` files (hard links) and a roster of their unions."""
    shutil.rmtree(folder.parent / folder.name, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in inbox.files[:size]:
        os.link(path, folder / path.name)
    first_units(inbox, size, folder.parent / ROSTER_NAME)
    return folder


def first_units(inbox: Inbox, size: int, roster: Path) -> Path:
    """A roster of the inbox's first `size` unions at `roster`."""
    lines = inbox.roster.read_text(encoding="utf-8-sig").splitlines()
    roster.write_text("\ufeff" + "\n".join(lines[: size + 1]) + "\n", encoding="utf-8")
    return roster


def summarise(
    inbox: Inbox,
    floor_s: float,
    naive_s: float,
    cold: RunFigures,
    incremental: RunFigures,
    scaling: dict[int, float],
    large: RunFigures,
) -> dict[str, Any]:
    read_validate = ("read", "validate")
    cold_rv = sum(cold.stages.get(s, 0.0) for s in read_validate)
    incremental_rv = sum(incremental.stages.get(s, 0.0) for s in read_validate)
    per_file = [scaling[k] for k in sorted(scaling)]
    return {
        "files": len(inbox.files),
        "initiatives": inbox.initiatives,
        "rejected_files": len(inbox.rejected),
        "floor_s": round(floor_s, 3),
        "naive_s": round(naive_s, 3),
        "cold_s": cold.seconds,
        "incremental_s": incremental.seconds,
        "cold_over_floor": round(cold.seconds / floor_s, 3),
        "naive_over_cold": round(naive_s / cold.seconds, 3),
        "incremental_over_cold": round(incremental.seconds / cold.seconds, 3),
        "incremental_read_validate_share": round(incremental_rv / cold_rv, 4) if cold_rv else None,
        "peak_rss_mb": cold.peak_rss_mb,
        "peak_tree_rss_mb": cold.peak_tree_rss_mb,
        "scaling": {str(k): round(v, 5) for k, v in sorted(scaling.items())},
        "scaling_spread": round(max(per_file) / min(per_file) - 1, 3) if per_file else None,
        "large_file_rows": LARGE_ROWS,
        "large_file_s": large.seconds,
        "large_file_peak_rss_mb": large.peak_rss_mb,
        "large_file_stages_s": large.stages,
        "cold_stages_s": cold.stages,
        "incremental_stages_s": incremental.stages,
        "cold_totals": cold.totals,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": _processor(),
            "memory_gb": _memory_gb(),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
        },
        "date": time.strftime("%Y-%m-%d"),
    }


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


TARGETS = (
    ("cold_over_floor", "cold / floor", "<=", 1.5),
    ("naive_over_cold", "naive / cold", ">=", 10),
    ("incremental_read_validate_share", "incremental read+validate / cold read+validate", "<=", 0.02),
    ("incremental_over_cold", "incremental / cold", "<=", 0.40),
    ("scaling_spread", "per-file cost spread over sizes", "<=", 0.20),
    ("peak_rss_mb", "peak memory of one process (MB)", "<=", 500),
    ("large_file_peak_rss_mb", "large file: peak memory of one process (MB)", "<=", 500),
    ("district_nothing_new_s", "district: run with nothing new, command line (s)", "<=", 0.5),
)


def print_table(r: dict[str, Any]) -> None:
    print(f"\n{r['files']} files, {r['initiatives']} initiatives, {r['rejected_files']} files with errors")
    print(f"machine: {r['machine']['cpus']} CPUs, {r['machine']['processor']}, {r['machine']['memory_gb']} GB\n")
    print(f"{'measure':<32}{'seconds':>10}")
    for key, label in (
        ("floor_s", "floor (calamine, serial)"),
        ("naive_s", "naive script"),
        ("cold_s", "pipeline run, cold"),
    ):
        print(f"{label:<32}{r[key]:>10.2f}")
    print(f"{'pipeline run, incremental':<32}{r['incremental_s']:>10.2f}")
    print("\nstages (s)" + "".join(f"{s:>10}" for s in r["cold_stages_s"]))
    for name in ("cold", "incremental"):
        stages = r[f"{name}_stages_s"]
        print(f"{name:<10}" + "".join(f"{stages.get(s, 0):>10.2f}" for s in r["cold_stages_s"]))
    print("\nscaling (s per file): " + ", ".join(f"{k} files: {v * 1000:.1f} ms" for k, v in r["scaling"].items()))
    print(f"peak memory: {r['peak_rss_mb']} MB (one process), {r['peak_tree_rss_mb']} MB (all processes)")
    print(
        f"large file: {r['large_file_rows']} initiatives in one workbook, {r['large_file_s']:.1f} s, "
        f"peak {r['large_file_peak_rss_mb']} MB\n"
    )
    if "district_cold_s" in r:
        print(f"a district's day ({r['district_files']} files)   command line   page")
        for step, label in (("cold", "cold"), ("incremental", "one corrected file"), ("nothing_new", "nothing new")):
            print(f"  {label:<30}{r[f'district_{step}_s']:>10.2f} s{r[f'district_web_{step}_s']:>8.2f} s")
        print(f"  outputs rewritten by the run with nothing new: {r['district_nothing_new_rewrote'] or 'none'}\n")
    print(f"{'target':<50}{'value':>10}{'goal':>10}  met")
    for key, label, op, goal in TARGETS:
        value = r.get(key)
        met = value is not None and (value <= goal if op == "<=" else value >= goal)
        shown = "-" if value is None else f"{value:.3f}"
        print(f"{label:<50}{shown:>10}{op + ' ' + str(goal):>10}  {'yes' if met else 'NO'}")


if __name__ == "__main__":
    raise SystemExit(main())
