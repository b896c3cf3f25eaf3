"""The demo: realistic, deterministic, each planted mistake reported at its cell."""

from __future__ import annotations

import re

import pytest

from pipeline import Period, run
from pipeline.demo import MARKER, build_demo
from pipeline.errors import PipelineError
from pipeline.findings import Severity
from pipeline.read import read_workbook
from pipeline.results import Status
from tests.conftest import ROOT

# A whole demo period built and run once for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, form, settings):
    demo = build_demo(tmp_path_factory.mktemp("demo") / "demo", settings, form, seed=7)
    return demo, run(Period(demo.settings, form, demo.roster))


def _records(demo, form):
    out = {}
    for name in sorted(demo.files):
        path = demo.settings.paths.inbox / name
        if name.endswith(".xlsx") and not name.startswith("~$"):
            book = read_workbook(path, form)
            unit = {k: v.value for k, v in book.unit.items()}
            rows = [{k: (v.value, v.cell) for k, v in row.items()} for row in book.rows]
            out[name] = (unit, rows)
    return out


def test_demo_is_deterministic_for_a_seed(tmp_path, form, settings, demo_run):
    first, _ = demo_run
    again = build_demo(tmp_path / "again", settings, form, seed=7)
    other = build_demo(tmp_path / "other", settings, form, seed=8)
    assert again.files == first.files and again.mistakes == first.mistakes and again.silent == first.silent
    assert _records(again, form) == _records(first, form)
    assert (
        run(Period(again.settings, form, again.roster)).totals == run(Period(first.settings, form, first.roster)).totals
    )
    assert _records(other, form) != _records(first, form)


def test_each_planted_mistake_is_reported_at_its_cell(demo_run):
    demo, result = demo_run
    found = {
        (f.location.file, f.location.sheet, f.location.cell, f.code, f.severity)
        for r in result.files
        for f in r.findings
    }
    planted = {m.code.value for m in demo.mistakes}
    assert planted == {"required", "not-in-list", "two-digit-year", "out-of-window", "duplicate-initiative"}
    for m in demo.mistakes:
        assert (m.file, m.sheet, m.cell, m.code, m.severity) in found, m


def test_correct_files_pass_and_the_rest_is_sorted_out(demo_run, roster):
    demo, result = demo_run
    by_name = {r.name: r for r in result.files}
    with_mistakes = {m.file for m in demo.mistakes if m.severity is Severity.ERROR}
    for r in result.files:
        if r.name.endswith(".xlsx") and not r.name.startswith("~$") and r.name not in with_mistakes:
            assert r.status is not Status.REJECTED, (r.name, [f.message for f in r.findings])
    for name in with_mistakes:
        assert by_name[name].status is Status.REJECTED
    pdf = [r for r in result.files if r.name.endswith(".pdf")]
    # A cover letter beside the union's accepted workbook: noted and set aside, no rejection, no reply.
    assert len(pdf) == 1 and pdf[0].status is Status.IGNORED and pdf[0].findings == [] and pdf[0].message is None
    assert pdf[0].unit_code and "gửi kèm bảng tính" in (pdf[0].reason or "")
    lock = [r for r in result.files if r.name.startswith("~$")]
    assert len(lock) == 1 and lock[0].status is Status.IGNORED
    reported = {r.unit_code for r in result.files if r.unit_code}
    assert set(demo.silent).isdisjoint(reported) and len(demo.silent) >= 3
    assert len(reported) >= len(roster.active) - len(demo.silent) - 1
    # The corrected resubmission: the same union twice, the later file accepted.
    codes = [r.unit_code for r in result.files if r.unit_code and r.name.endswith(".xlsx")]
    twice = [c for c in set(codes) if codes.count(c) == 2]
    assert len(twice) == 1
    statuses = {r.status for r in result.files if r.unit_code == twice[0]}
    assert statuses == {Status.REJECTED, Status.ACCEPTED}


def test_demo_totals_are_realistic(demo_run):
    demo, result = demo_run
    assert 60 <= len(demo.roster) <= 80
    assert 2000 <= sum(u.members for u in demo.roster) <= 2400
    assert len({u.sector for u in demo.roster}) == 5 and len({u.commune for u in demo.roster}) == 8
    initiatives = sum(r.initiatives for r in result.files if r.status is not Status.REJECTED)
    assert 50 <= initiatives <= 200
    notices = [f for r in result.files for f in r.findings if f.severity is Severity.NOTICE]
    assert {"text-normalised", "text-date-read", "text-number-read"} <= {f.code.value for f in notices}


def test_demo_never_writes_over_a_real_folder(tmp_path, form, settings):
    real = tmp_path / "hộp thư thật"
    real.mkdir()
    (real / "báo cáo.xlsx").write_bytes(b"keep")
    with pytest.raises(PipelineError, match="không phải của bản chạy thử") as other:
        build_demo(real, settings, form)
    assert (real / "báo cáo.xlsx").read_bytes() == b"keep" and not (real / MARKER).exists()
    with pytest.raises(PipelineError, match="hộp thư hoặc cấu hình thật") as protected:
        build_demo(settings.paths.inbox, settings, form)
    # The officer's guide quotes both messages as they are printed, the folder written "…".
    guide = (ROOT / "docs" / "huong-dan-su-dung.md").read_text(encoding="utf-8")
    for refusal in (other, protected):
        assert re.sub(r'"[^"]*"', '"…"', str(refusal.value)) in guide


def test_the_demo_folder_has_its_own_configuration(demo_run, form):
    from pipeline.config import load_settings

    demo, _ = demo_run
    own = load_settings(demo.folder / "pipeline.toml")
    assert own.paths.inbox == demo.folder / "inbox" and own.paths.outbox == demo.folder / "outbox"
    assert own.paths.roster == demo.folder / "danh-sach-cdcs.csv" and own.paths.roster.is_file()
    assert own.as_of == demo.settings.as_of and own.organisation == demo.settings.organisation


def test_running_again_gives_the_same_totals_and_one_correction_changes_only_its_union(demo_run, form, tmp_path):
    import datetime as dt
    import json
    import os

    import openpyxl
    import pandas as pd

    from pipeline.template import INITIATIVE_HEADER_ROW, UNIT_FIRST_ROW

    demo, first = demo_run
    outbox = demo.settings.paths.outbox
    again = run(Period(demo.settings, form, demo.roster))
    assert again.totals == first.totals
    assert not any(r.new for r in again.files)

    before = pd.read_parquet(outbox / "du-lieu-tong-hop.parquet").groupby("ma_cdcs").size()
    state = next(s for s in again.units.values() if s.current is not None and s.current.initiatives >= 1)
    source = next(r.path for r in again.files if r.sha256 == state.current.sha256)  # the archived original
    wb = openpyxl.load_workbook(source)
    unit_ws, rows_ws = wb[form.sheets["unit"]], wb[form.sheets["initiatives"]]
    as_of_row = UNIT_FIRST_ROW + [f.key for f in form.unit].index("tinh_den_ngay")
    unit_ws.cell(as_of_row, 2).value = demo.settings.as_of
    unit_ws.cell(as_of_row + 9, 2).value = demo.settings.as_of  # "Ngày lập"
    new_row = INITIATIVE_HEADER_ROW + 1 + state.current.initiatives
    for col, _f in enumerate(form.initiative, start=1):
        rows_ws.cell(new_row, col).value = rows_ws.cell(INITIATIVE_HEADER_ROW + 1, col).value
    rows_ws.cell(new_row, 1).value = state.current.initiatives + 1
    rows_ws.cell(new_row, 2).value = "Sáng kiến bổ sung khi gửi lại báo cáo"
    corrected = demo.settings.paths.inbox / "bản sửa.xlsx"
    wb.save(corrected)
    stamp = dt.datetime.combine(demo.settings.as_of, dt.time(9)).timestamp()
    os.utime(corrected, (stamp, stamp))

    third = run(Period(demo.settings, form, demo.roster))
    after = pd.read_parquet(outbox / "du-lieu-tong-hop.parquet").groupby("ma_cdcs").size()
    assert after[state.code] == before[state.code] + 1
    assert after.drop(state.code).equals(before.drop(state.code))
    assert third.totals["initiatives"] == first.totals["initiatives"] + 1
    assert third.totals["units_reported"] == first.totals["units_reported"]
    summary = json.loads((outbox / "run.json").read_text(encoding="utf-8"))
    unit = next(u for u in summary["units"] if u["code"] == state.code)
    assert unit["current_file"] == "bản sửa.xlsx" and state.current.name in unit["superseded_files"]
    assert unit["changes"]["added"] == ["Sáng kiến bổ sung khi gửi lại báo cáo"]
    statuses = {f["name"]: f["status"] for f in summary["files"]}
    assert statuses["bản sửa.xlsx"] in ("accepted", "accepted_with_warnings")
    assert statuses[state.current.name] == "superseded"
