"""A district's day, as the officer lives it: `python -m bench.district` (part of `make bench`).

On the demo's period (`pipeline.demo`: 67 unions, 65 files, some in saved e-mails), three runs one
after the other, each timed as the officer waits for it:

* cold: the first `pipeline run` of the period, every file read and every output written;
* incremental: one union sends a corrected file, and `pipeline run` again;
* nothing new: `pipeline run` once more, with nothing changed (three times: the middle one counts).

Each is measured from the command line (a new process each time, as the officer types it) and
from the officer's page (`pipeline serve`: one warm process; the run is started as the page's
button does, with POST /chay, and waited for on its progress stream until it is done), each on
its own copy of the period.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.generate import ROOT, corrected, officer_env

PIPELINE = Path(sys.executable).with_name("pipeline")
WORK = ROOT / "bench" / ".work"


def district(work: Path) -> dict[str, Any]:
    """The three runs from the command line and from the page: seconds each, and what each did."""
    cli_folder, web_folder = _periods(work)
    out: dict[str, Any] = {"district_files": sum(1 for p in (cli_folder / "inbox").rglob("*") if p.is_file())}
    cli = _cli_day(cli_folder)
    web = _web_day(web_folder)
    for step in ("cold", "incremental", "nothing_new"):
        out[f"district_{step}_s"] = cli[step]
        out[f"district_web_{step}_s"] = web[step]
    out["district_nothing_new_rewrote"] = cli["rewrote"]
    return out


def _periods(work: Path) -> tuple[Path, Path]:
    """The demo's period built once, not run, and a copy of it for the page."""
    from pipeline.config import load_settings
    from pipeline.demo import build_demo
    from pipeline.form import load_form

    base = work / "district"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    cli_folder, web_folder = base / "cli", base / "web"
    build_demo(cli_folder, load_settings(ROOT / "pipeline.toml"), load_form())
    shutil.copytree(cli_folder, web_folder, copy_function=shutil.copy2)  # the files' times are their arrival
    return cli_folder, web_folder


def _correction(folder: Path) -> Path:
    """One union's corrected file, arriving after everything else: its accepted file with one more
    news item, under a new name."""
    run = json.loads((folder / "outbox" / "run.json").read_text(encoding="utf-8"))
    name = next(f["name"] for f in run["files"] if f["status"] == "accepted" and "/" not in f["name"])
    return corrected(folder / "inbox" / name, folder / "inbox" / name.replace(".xlsx", " (sửa lại).xlsx"))


def _outputs_stamp(folder: Path) -> dict[str, int]:
    outbox = folder / "outbox"
    return {
        p.relative_to(outbox).as_posix(): p.stat().st_mtime_ns
        for p in outbox.rglob("*")
        if p.is_file() and not p.name.startswith("so-theo-doi")
    }


def _cli_day(folder: Path) -> dict[str, Any]:
    def run() -> float:
        started = time.perf_counter()
        done = subprocess.run([str(PIPELINE), "run"], cwd=folder, capture_output=True, env=officer_env())
        seconds = time.perf_counter() - started
        if done.returncode not in (0, 1):
            raise RuntimeError(f"pipeline run failed: {done.stderr.decode('utf-8', 'replace')[-2000:]}")
        return round(seconds, 3)

    out: dict[str, Any] = {"cold": run()}
    _correction(folder)
    out["incremental"] = run()
    before = _outputs_stamp(folder)
    out["nothing_new"] = statistics.median(run() for _ in range(3))  # a fraction of a second: the middle of three
    out["rewrote"] = sorted(k for k, v in _outputs_stamp(folder).items() if before.get(k) != v)
    return out


class _Page:
    """`pipeline serve` in the period's folder, driven as its page drives it."""

    def __init__(self, folder: Path) -> None:
        self.server = subprocess.Popen(
            [str(PIPELINE), "serve", "--no-browser"],
            cwd=folder,
            env=officer_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        assert self.server.stdout is not None
        url = ""
        for line in self.server.stdout:
            if "http://127.0.0.1:" in line:
                url = next(w for w in line.split() if w.startswith("http://127.0.0.1:"))
                break
        if not url:
            raise RuntimeError("pipeline serve did not print its address")
        # What it prints from now on is read and dropped, so that it never waits on a full pipe.
        self.drain = threading.Thread(target=self.server.stdout.read, daemon=True)
        self.drain.start()
        self.origin = url.split("/?", 1)[0].rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with self.opener.open(url, timeout=120) as answer:  # the token becomes this client's cookie
            answer.read()

    def run(self) -> float:
        """Seconds from the button to the run's "done" on the progress stream."""
        started = time.perf_counter()
        request = urllib.request.Request(
            f"{self.origin}/chay", data=b"", method="POST", headers={"Origin": self.origin}
        )
        with self.opener.open(request, timeout=60) as answer:
            answer.read()
        with self.opener.open(f"{self.origin}/tien-do", timeout=3600) as stream:
            for raw in stream:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event["kind"] == "error":
                    raise RuntimeError(f"the page's run failed: {event['message']}")
                if event["kind"] == "done":
                    return round(time.perf_counter() - started, 3)
        raise RuntimeError("the progress stream ended without the run being done")

    def close(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=60)
        self.drain.join(timeout=60)
        if self.server.stdout is not None:
            self.server.stdout.close()


def _web_day(folder: Path) -> dict[str, float]:
    page = _Page(folder)
    try:
        out = {"cold": page.run()}
        _correction(folder)
        out["incremental"] = page.run()
        out["nothing_new"] = page.run()
        return out
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    print(json.dumps(district(args.work), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
