"""The benchmark's scripts keep working (what they measure is read from `make bench`, not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.district import PIPELINE, district


@pytest.mark.slow
def test_a_districts_day_runs_three_times_from_the_command_line_and_the_page(tmp_path: Path):
    assert PIPELINE.exists()
    day = district(tmp_path)
    assert day["district_files"] >= 60
    for where in ("", "web_"):
        for step in ("cold", "incremental", "nothing_new"):
            assert day[f"district_{where}{step}_s"] > 0
    assert day["district_nothing_new_rewrote"] == []  # the run with nothing new wrote no output


@pytest.mark.slow
def test_the_profile_takes_a_small_inbox_apart_stage_by_stage(tmp_path: Path):
    from bench.generate import generate
    from bench.profile import OUTPUTS, STAGES, profile

    inbox = generate(tmp_path / "inbox", 24, seed=7)
    figures = profile(inbox, tmp_path / "profile")
    assert figures["files"] == 24 and figures["flagged_files"] >= 1
    job = figures["reading_job_ms_per_file"]
    assert all(job[k] > 0 for k in ("floor", "guard", "calamine_sheets_read", "reader_total", "transfer"))
    cold = figures["cold_ms_per_file"]
    assert all(cold[k] > 0 for k in (*STAGES, *OUTPUTS[:-1], "feedback"))
    assert cold["total"] >= sum(cold[k] for k in STAGES)
    incremental = figures["incremental_s"]
    assert incremental["read"] < figures["cold_s"]["read"]  # one file read, not 24
    assert figures["fixed_s"]["empty_run"] > 0 and figures["fixed_s"]["first_validation"] > 0
