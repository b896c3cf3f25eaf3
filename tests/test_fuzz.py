"""The fuzz script (tests/fuzz.py) on a fixed number of files: mutated templates through the guard,
the isolated readers and validation, and mutated saved messages through the mail reader and the same
check, with no crash, no hang and no file lost. The same seed and number give the same files on any
machine, busy or not (FUZZ_FILES, FUZZ_MAIL_FILES and FUZZ_SEED change them)."""

from __future__ import annotations

import os

import pytest

from tests.fuzz import BATCH, fuzz, fuzz_mail

FILES = int(os.environ.get("FUZZ_FILES", str(40 * BATCH)))
MAIL_FILES = int(os.environ.get("FUZZ_MAIL_FILES", str(10 * BATCH)))
SEED = int(os.environ.get("FUZZ_SEED", "1"))


@pytest.mark.slow
def test_mutated_templates_never_crash_hang_or_get_lost(tmp_path):
    report = fuzz(files=FILES, seed=SEED, keep=tmp_path / "failed")
    assert report.files == -(-FILES // BATCH) * BATCH, report  # every batch tried, whatever the time it took
    assert report.failures == [], f"kept in {tmp_path / 'failed'}: {report.failures}"
    # The mutations reach past the guard: some files are read, others refused for several reasons.
    assert len(report.outcomes) >= 4, report.outcomes


@pytest.mark.slow
def test_mutated_messages_never_crash_hang_or_get_lost(tmp_path):
    report = fuzz_mail(files=MAIL_FILES, seed=SEED, keep=tmp_path / "failed")
    assert report.files == -(-MAIL_FILES // BATCH) * BATCH, report
    assert report.failures == [], f"kept in {tmp_path / 'failed'}: {report.failures}"
    # The mutations reach both ends: messages refused or without a file, each with its reason, and
    # attachments read and judged like any file.
    refused = {outcome for outcome in report.outcomes if outcome.startswith("thư: ")}
    assert len(refused) >= 2 and len(set(report.outcomes) - refused) >= 3, report.outcomes
