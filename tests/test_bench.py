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
