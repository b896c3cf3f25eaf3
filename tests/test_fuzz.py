"""The fuzz script (tests/fuzz.py) on a fixed number of files: mutated templates through the guard,
the isolated readers and validation, with no crash, no hang and no file lost. The same seed and
number give the same files on any machine, busy or not (FUZZ_FILES and FUZZ_SEED change them)."""

from __future__ import annotations

import os

import pytest

from tests.fuzz import BATCH, fuzz

FILES = int(os.environ.get("FUZZ_FILES", str(40 * BATCH)))


@pytest.mark.slow
def test_mutated_templates_never_crash_hang_or_get_lost(tmp_path):
    report = fuzz(files=FILES, seed=int(os.environ.get("FUZZ_SEED", "1")), keep=tmp_path / "failed")
    assert report.files == -(-FILES // BATCH) * BATCH, report  # every batch tried, whatever the time it took
    assert report.failures == [], f"kept in {tmp_path / 'failed'}: {report.failures}"
    # The mutations reach past the guard: some files are read, others refused for several reasons.
    assert len(report.outcomes) >= 4, report.outcomes
