"""A single workbook of 50,000 initiatives goes through reading and validation whole.

How fast and in how much memory is measured by the benchmark (`make bench`, its "large file"
line), not here: this test only checks that nothing is lost or refused on the way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.generate import large_workbook
from pipeline import Period, check
from pipeline.config import Settings
from pipeline.findings import Severity
from pipeline.form import Form
from pipeline.results import Status
from pipeline.roster import Roster

ROWS = 50_000


@pytest.mark.slow
def test_a_workbook_of_50000_initiatives_is_read_and_validated_whole(
    filled: Callable[..., Path], tmp_path: Path, form: Form, settings: Settings, roster: Roster
) -> None:
    source = filled(rows=[{"ten_sang_kien": "Mẫu"}])
    big = large_workbook(source, tmp_path / "Báo cáo 50.000 sáng kiến.xlsx", ROWS, form)
    [result] = check(Period(settings, form, roster), [big]).files
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    assert errors == []
    assert result.status in (Status.ACCEPTED, Status.ACCEPTED_WITH_WARNINGS)
    assert result.initiatives == ROWS
