"""The public API (`import pipeline`): one way to load a period and run, check or ask for status."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline.demo import demo_roster_path
from tests.conftest import ROOT


class Counted:
    """A `pipeline.Progress` that counts what it is told."""

    def __init__(self) -> None:
        self.totals: list[int] = []
        self.names: list[str] = []

    def start(self, total: int) -> None:
        self.totals.append(total)

    def advance(self, name: str) -> None:
        self.names.append(name)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A period's folder as the officer has it: pipeline.toml, the roster, an empty inbox."""
    shutil.copyfile(ROOT / "pipeline.toml", tmp_path / "pipeline.toml")
    shutil.copyfile(demo_roster_path(), tmp_path / "danh-sach-cdcs.csv")
    (tmp_path / "inbox").mkdir()
    return tmp_path


def test_every_public_name_resolves_and_says_what_it_does():
    for name in pipeline.__all__:
        value = getattr(pipeline, name)
        if name == "__version__":
            continue
        assert inspect.getdoc(value), name
    assert set(pipeline.__all__) - {"__version__"} == set(pipeline._EXPORTS)
    assert {"open_period", "run", "check", "status", "RunResult", "FileResult", "Finding"} <= set(pipeline.__all__)


def test_importing_the_package_stays_light():
    """The command line starts fast: the API's heavy modules load on first use."""
    code = "import sys, pipeline; print(sorted(m for m in ('pandas', 'pandera', 'openpyxl') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_open_period_loads_settings_form_and_roster_once_with_overrides(folder: Path, tmp_path: Path):
    period = pipeline.open_period(folder / "pipeline.toml", outbox=tmp_path / "elsewhere", as_of=dt.date(2022, 6, 5))
    assert period.settings.paths.inbox == folder / "inbox"
    assert period.settings.paths.outbox == tmp_path / "elsewhere"
    assert period.settings.as_of == dt.date(2022, 6, 5)
    assert period.roster is not None and period.roster.find("VT021") is not None
    assert period.form.key("unit_code") == period.form.unit[0].key


def test_a_period_without_its_roster_can_template_and_check_but_not_run(folder: Path, filled):
    (folder / "danh-sach-cdcs.csv").unlink()
    period = pipeline.open_period(folder / "pipeline.toml")
    assert period.roster is None
    [blank] = pipeline.templates(period)
    assert blank.parent == folder / "outbox" / "bieu-mau"
    [result] = pipeline.check(period, [filled()]).files
    assert result.status is pipeline.Status.ACCEPTED
    with pytest.raises(pipeline.PipelineError, match="Không tìm thấy danh sách CĐCS"):
        pipeline.run(period)
    with pytest.raises(pipeline.PipelineError, match="Không tìm thấy danh sách CĐCS"):
        pipeline.open_period(folder / "pipeline.toml", roster=folder / "khong-co.csv")


def test_progress_counts_the_files_the_run_will_read(folder: Path, filled):
    period = pipeline.open_period(folder / "pipeline.toml")
    for name in ("a.xlsx", "b.xlsx"):
        shutil.copyfile(filled(name=name, code="VT021" if name == "a.xlsx" else "VT022"), folder / "inbox" / name)
    (folder / "inbox" / "ghi chú.txt").write_text("không phải bảng tính", encoding="utf-8")
    first = Counted()
    pipeline.run(period, progress=first)
    assert first.totals == [3] and sorted(first.names) == ["a.xlsx", "b.xlsx", "ghi chú.txt"]
    # The next run reads only what is new: one file, a copy of another under a new name is not read.
    shutil.copyfile(filled(name="c.xlsx", code="VT023"), folder / "inbox" / "c.xlsx")
    shutil.copyfile(folder / "inbox" / "a.xlsx", folder / "inbox" / "a (bản sao).xlsx")
    second = Counted()
    result = pipeline.run(period, progress=second)
    assert second.totals == [1] and second.names == ["c.xlsx"]
    assert {r.name: r.status for r in result.files}["a (bản sao).xlsx"] is pipeline.Status.DUPLICATE


def test_check_reads_each_content_once_and_names_missing_files(folder: Path, filled):
    period = pipeline.open_period(folder / "pipeline.toml")
    path = filled()
    copy = folder / "copy.xlsx"
    shutil.copyfile(path, copy)
    counted = Counted()
    result = pipeline.check(period, [path, copy, path], progress=counted)
    assert counted.totals == [1] and len(counted.names) == 1
    statuses = {(r.name, r.status) for r in result.files}
    assert statuses == {
        (str(path), pipeline.Status.ACCEPTED),
        (str(copy), pipeline.Status.DUPLICATE),
        (str(path), pipeline.Status.DUPLICATE),  # the same file given twice
    }
    with pytest.raises(pipeline.PipelineError, match=r"Không tìm thấy tệp: .*khong-co\.xlsx"):
        pipeline.check(period, [folder / "khong-co.xlsx"])


def test_status_needs_a_run_then_tells_where_each_union_stands(folder: Path, filled):
    period = pipeline.open_period(folder / "pipeline.toml")
    with pytest.raises(pipeline.PipelineError, match="hãy chạy lệnh run trước"):
        pipeline.status(period)
    received = dt.datetime(2022, 6, 1, 9, 0).timestamp()  # before the deadline
    shutil.copyfile(filled(), folder / "inbox" / "VT021.xlsx")
    os.utime(folder / "inbox" / "VT021.xlsx", (received, received))
    pipeline.run(period)
    states = pipeline.status(period)
    assert states["VT021"].reporting is pipeline.Reporting.ON_TIME
    assert states["VT021"].current is not None and states["VT021"].current.name == "VT021.xlsx"
    assert {s.reporting for code, s in states.items() if code != "VT021"} == {pipeline.Reporting.MISSING}
