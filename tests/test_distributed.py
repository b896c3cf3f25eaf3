"""The per-file stages on other executors: a Dask cluster gives the same run as local processes.

`processing.scheduler` in the configuration sends reading and feedback to a Dask cluster
(`isolate.ExecutorRunner` over `Client.get_executor()`); here a `LocalCluster` of two worker
processes stands in for a province's machines. Also: what a failing or hanging job becomes on an
executor, and the messages when the cluster cannot be used.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline import Period, run
from pipeline.config import Processing, Settings
from pipeline.demo import build_demo
from pipeline.errors import PipelineError
from pipeline.findings import Code
from pipeline.form import Form
from pipeline.isolate import ExecutorRunner, Failure, open_runner
from pipeline.roster import load_roster
from pipeline.stages import RUN_JSON


def _summary(outbox: Path) -> dict[str, Any]:
    data = json.loads((outbox / RUN_JSON).read_text(encoding="utf-8"))
    files = sorted((f["name"], f["status"], f["initiatives"], len(f["findings"])) for f in data["files"])
    return {"totals": data["totals"], "files": files}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning", "ignore::UserWarning")
def test_a_dask_cluster_gives_the_same_run_as_local_processes(tmp_path: Path, settings: Settings, form: Form) -> None:
    from distributed import LocalCluster

    demo = build_demo(tmp_path / "demo", settings, form)
    local = demo.settings.with_paths(outbox=tmp_path / "local")
    roster = load_roster(demo.settings.paths.roster, form)
    run(Period(local, form, roster))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = replace(
            demo.settings.with_paths(outbox=tmp_path / "cluster"),
            processing=Processing(scheduler=cluster.scheduler_address),
        )
        result = run(Period(remote, form, roster))
    expected, got = _summary(tmp_path / "local"), _summary(tmp_path / "cluster")
    assert got["totals"] == expected["totals"]
    assert got["files"] == expected["files"]
    assert got["totals"]["initiatives"] > 50 and got["totals"]["units_rejected"] > 0
    # The feedback for the rejected files was written by the cluster's workers too.
    flagged = [r for r in result.files if r.message is not None]
    assert flagged and all(r.message.exists() for r in flagged if r.message)
    assert sorted(p.name for p in (tmp_path / "cluster" / "phan-hoi").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "phan-hoi").iterdir()
    )


def _boom(x: int) -> int:
    raise ValueError(f"hỏng {x}")


def _same(x: float) -> float:
    return x


def test_an_executor_job_that_raises_or_hangs_is_a_failure_not_an_exception() -> None:
    release = threading.Event()

    def stuck() -> str:  # hangs until the test is over (or says it was never stopped)
        return "released" if release.wait(30) else "not stopped"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runner = ExecutorRunner(pool, timeout_s=0.5)
        try:
            results = dict(runner.run([(_same, (0.0,)), (_boom, (7,)), (stuck, ())]))
        finally:
            release.set()  # the pool's shutdown then has no thread to wait for
    assert results[0] == 0.0
    crash, late = results[1], results[2]
    assert isinstance(crash, Failure) and crash.code is Code.READER_CRASH and "hỏng 7" in crash.reason
    assert isinstance(late, Failure) and late.code is Code.READER_TIMEOUT and late.reason == "quá 0,5 giây", late


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_clear_error(settings: Settings) -> None:
    unreachable = replace(settings, processing=Processing(scheduler="tcp://127.0.0.1:9"))
    with pytest.raises(PipelineError, match="Không kết nối được bộ điều phối cụm Dask"):  # noqa: SIM117
        with open_runner(unreachable):
            pass
