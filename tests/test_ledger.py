"""The ledger: resubmissions, duplicates, incremental runs, crashes, concurrency, the dataset."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline import Period, merge, run
from pipeline import ledger as ledger_module
from pipeline import stages as run_module
from pipeline.demo import demo_roster_path
from pipeline.intake import Submission
from pipeline.isolate import LocalRunner
from pipeline.ledger import LEDGER_NAME, MIGRATIONS, Ledger, LedgerError, NewFile, Records
from pipeline.lock import BusyError, exclusive
from pipeline.merge import dataset, unit_states
from pipeline.results import Status
from tests.conftest import ROOT
from tests.jobs import hang

ROSTER = demo_roster_path()


@pytest.fixture
def period(tmp_path, settings, form, roster):
    """An inbox and outbox, and a function that drops files in and runs the pipeline."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")

    def drop(name: str, path: Path, received: dt.datetime = dt.datetime(2022, 6, 1, 9, 0)) -> Path:
        target = inbox / name
        target.write_bytes(path.read_bytes())
        os.utime(target, (received.timestamp(), received.timestamp()))
        return target

    def go():
        result = run(Period(s, form, roster))
        summary = json.loads((tmp_path / "outbox" / "run.json").read_text(encoding="utf-8"))
        return result, summary

    return drop, go, s


def _unit(summary, code):
    return next(u for u in summary["units"] if u["code"] == code)


def _file(summary, name):
    return next(f for f in summary["files"] if f["name"] == name)


ROW_A = {"ten_sang_kien": "Sổ tay điện tử cho tổ chuyên môn", "tac_gia": "Phạm Văn Dũng"}
ROW_B = {"ten_sang_kien": "Vườn rau sạch cho bữa ăn bán trú", "tac_gia": "Võ Thị Hạnh", "stt": 2}


@pytest.mark.slow
def test_a_later_submission_replaces_the_earlier_one_and_changes_are_shown(period, filled):
    drop, go, _ = period
    drop("lần 1.xlsx", filled(rows=[{}, ROW_B], name="a.xlsx"))
    _, first = go()
    assert first["totals"]["initiatives"] == 2 and first["totals"]["units_reported"] == 1

    later = {"tinh_den_ngay": dt.date(2022, 6, 2), "ngay_lap": dt.date(2022, 6, 2)}
    edited = {**ROW_B, "gia_tri_lam_loi": 9_000_000}
    drop("lần 2.xlsx", filled(unit=later, rows=[ROW_A, edited], name="b.xlsx"), dt.datetime(2022, 6, 2, 10))
    result, second = go()
    assert {f["name"]: f["status"] for f in second["files"]} == {"lần 1.xlsx": "superseded", "lần 2.xlsx": "accepted"}
    unit = _unit(second, "VT021")
    assert unit["current_file"] == "lần 2.xlsx" and unit["superseded_files"] == ["lần 1.xlsx"]
    assert unit["changes"] == {
        "previous": "lần 1.xlsx",
        "current": "lần 2.xlsx",
        "added": [ROW_A["ten_sang_kien"]],
        "removed": [dt_example_title()],
        "edited": [{"title": ROW_B["ten_sang_kien"], "fields": ["Giá trị làm lợi ước tính (đồng)"]}],
    }
    assert second["totals"]["initiatives"] == 2  # replaced, not added
    frame = pd.read_parquet(result.outputs["dataset_parquet"])
    assert sorted(frame["ten_sang_kien"]) == sorted([ROW_A["ten_sang_kien"], ROW_B["ten_sang_kien"]])
    assert set(frame["tep_nguon"]) == {"lần 2.xlsx"}


def dt_example_title() -> str:
    from pipeline.form import load_form

    return str(load_form().example["ten_sang_kien"])


@pytest.mark.slow
def test_the_latest_by_data_date_wins_not_the_latest_to_arrive(period, filled):
    drop, go, _ = period
    later = {"tinh_den_ngay": dt.date(2022, 6, 2), "ngay_lap": dt.date(2022, 6, 2)}
    drop("mới.xlsx", filled(unit=later, rows=[{}, ROW_B], name="a.xlsx"))
    go()
    drop("cũ gửi sau.xlsx", filled(rows=[{}], name="b.xlsx"), dt.datetime(2022, 6, 3))
    _, summary = go()
    assert _unit(summary, "VT021")["current_file"] == "mới.xlsx"
    assert _file(summary, "cũ gửi sau.xlsx")["status"] == "superseded"
    assert summary["totals"]["initiatives"] == 2


@pytest.mark.slow
def test_a_rejected_correction_keeps_the_accepted_data_and_is_reported(period, filled):
    drop, go, _s = period
    drop("đúng.xlsx", filled(rows=[{}, ROW_B], name="a.xlsx"))
    _, first = go()
    later = {"tinh_den_ngay": dt.date(2022, 6, 2), "ngay_lap": dt.date(2022, 6, 2)}
    drop("sửa sai.xlsx", filled(unit=later, rows=[{"tac_gia": "An"}], name="b.xlsx"), dt.datetime(2022, 6, 2))
    _, second = go()
    assert _file(second, "sửa sai.xlsx")["status"] == "rejected"
    unit = _unit(second, "VT021")
    assert unit["current_file"] == "đúng.xlsx" and unit["latest_file_rejected"] == "sửa sai.xlsx"
    assert second["totals"] == first["totals"]


# Files of one union whose names sort in the reverse of their arrival: "later" is the arrival time
# (the file's modification time when first seen), then the order of arrival, never the name.
TOGETHER, IN_ORDER, REVERSED = "one run", "two runs in arrival order", "two runs, the later arrival first"


def _drop_in(order, drop, go, files):
    """Drop (name, path, received) files and run: all in one run, or one run each (in the order
    of `files`, or the reverse)."""
    if order == TOGETHER:
        for f in files:
            drop(*f)
        return go()[1]
    for f in files if order == IN_ORDER else files[::-1]:
        drop(*f)
        summary = go()[1]
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("order", [TOGETHER, IN_ORDER, REVERSED])
def test_a_rejected_file_and_its_later_correction_in_any_name_order(period, filled, order):
    drop, go, _ = period
    rejected = filled(rows=[{"tac_gia": "An"}], name="x.xlsx")
    corrected = filled(rows=[{}], name="y.xlsx")
    summary = _drop_in(
        order,
        drop,
        go,
        [
            ("z-ban-loi.xlsx", rejected, dt.datetime(2022, 6, 3, 9)),
            ("a-ban-sua.xlsx", corrected, dt.datetime(2022, 6, 4, 9)),
        ],
    )
    unit = _unit(summary, "VT021")
    assert unit["current_file"] == "a-ban-sua.xlsx"
    assert unit["latest_file_rejected"] is None  # the rejected file came first: it is corrected
    assert unit["reporting"] == "late"  # its first accepted file arrived 04/06, after the 03/06 deadline


@pytest.mark.slow
@pytest.mark.parametrize("order", [TOGETHER, IN_ORDER, REVERSED])
def test_of_two_files_with_the_same_data_date_the_later_arrival_is_current(period, filled, order):
    drop, go, _ = period
    first = filled(rows=[{}], name="x.xlsx")
    second = filled(rows=[{}, ROW_B], name="y.xlsx")
    summary = _drop_in(
        order,
        drop,
        go,
        [("z-ban-dau.xlsx", first, dt.datetime(2022, 6, 2, 9)), ("a-ban-sua.xlsx", second, dt.datetime(2022, 6, 3, 9))],
    )
    unit = _unit(summary, "VT021")
    assert unit["current_file"] == "a-ban-sua.xlsx" and unit["superseded_files"] == ["z-ban-dau.xlsx"]
    assert _file(summary, "z-ban-dau.xlsx")["status"] == "superseded"
    assert summary["totals"]["initiatives"] == 2
    assert unit["received_at"] == "2022-06-02T09:00:00"  # on time: the first accepted file


@pytest.mark.slow
@pytest.mark.parametrize("order", [TOGETHER, REVERSED])
def test_a_rejected_file_that_arrived_after_the_current_one_is_reported_in_any_name_order(period, filled, order):
    drop, go, _ = period
    good = filled(rows=[{}], name="x.xlsx")
    bad = filled(unit={"tinh_den_ngay": dt.date(2022, 6, 2)}, rows=[{"tac_gia": "An"}], name="y.xlsx")
    summary = _drop_in(
        order,
        drop,
        go,
        [("z-dung.xlsx", good, dt.datetime(2022, 6, 2, 9)), ("a-sai.xlsx", bad, dt.datetime(2022, 6, 3, 9))],
    )
    unit = _unit(summary, "VT021")
    assert unit["current_file"] == "z-dung.xlsx" and unit["latest_file_rejected"] == "a-sai.xlsx"


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[Submission]:
    """The files the runs read from now on: those handed over while intake goes on, and the others."""
    read: list[Submission] = []
    add, read_books = run_module.ReadAhead.add, run_module.read_books
    monkeypatch.setattr(run_module.ReadAhead, "add", lambda self, sub: read.append(sub) or add(self, sub))
    monkeypatch.setattr(run_module, "read_books", lambda subs, *a, **k: read.extend(subs) or read_books(subs, *a, **k))
    return read


def test_new_files_are_read_while_intake_takes_in_the_others(period, filled, monkeypatch):
    """Each new file goes to the workers as soon as intake has hashed and archived it, before intake
    has taken the next; every file is read once, and the run's results are as always."""
    drop, go, _ = period
    for i, code in enumerate(("VT021", "VT030", "VT031")):
        drop(f"{code}.xlsx", filled(rows=[{**ROW_A, "tac_gia": f"Tác Giả {i}"}], name=f"{code}.xlsx", code=code))
    events: list[tuple[str, str]] = []
    take, add = run_module.take, run_module.ReadAhead.add
    monkeypatch.setattr(
        run_module, "take", lambda path, name, *a: events.append(("taken", name)) or take(path, name, *a)
    )
    monkeypatch.setattr(
        run_module.ReadAhead, "add", lambda self, sub: events.append(("handed", sub.name)) or add(self, sub)
    )
    read = _reads(monkeypatch)
    _, summary = go()
    assert events == [(what, f"{code}.xlsx") for code in ("VT021", "VT030", "VT031") for what in ("taken", "handed")]
    assert sorted(s.name for s in read) == ["VT021.xlsx", "VT030.xlsx", "VT031.xlsx"]
    assert [_file(summary, f"{c}.xlsx")["status"] for c in ("VT021", "VT030", "VT031")] == ["accepted"] * 3


def test_of_two_files_with_one_content_the_first_to_arrive_is_read_under_its_name(period, filled, monkeypatch):
    """Intake hands over the first of a content it meets (by name); when the other copy arrived
    first, that one is the file of the period and is read under its own name."""
    drop, go, _ = period
    book = filled(rows=[{"ten_sang_kien": ""}], code="VT021")
    drop("a.xlsx", book, dt.datetime(2022, 6, 2, 9))
    drop("b.xlsx", book, dt.datetime(2022, 6, 1, 9))  # arrived first
    read = _reads(monkeypatch)
    result, summary = go()
    assert [s.name for s in read] == ["a.xlsx", "b.xlsx"]  # handed over, then read again under its name
    (first,) = [r for r in result.files if r.name == "b.xlsx"]
    assert first.status is Status.REJECTED and {f.location.file for f in first.findings} == {"b.xlsx"}
    assert _file(summary, "a.xlsx")["status"] == "duplicate"


class _Stuck(LocalRunner):
    """The run's runner, where every job of the function named `stuck` hangs (`tests.jobs.hang`)
    instead of doing its work; each hung job writes its process id into `pids`."""

    def __init__(self, stuck: str, pids: Path) -> None:
        super().__init__(2, timeout_s=60)
        self.stuck, self.pids, self.hung = stuck, pids, 0

    def run(self, jobs, at_most=None):
        def hung(job):
            fn = getattr(job[0], "func", job[0])
            if fn.__name__ != self.stuck:
                return job
            self.hung += 1
            return (hang, (str(self.pids / f"{self.hung}.pid"), 60.0))

        yield from super().run([hung(job) for job in jobs] if isinstance(jobs, list) else map(hung, jobs), at_most)


def _ends_soon(go, error: type[BaseException]) -> BaseException:
    """Run `go` in a thread: it must raise `error` within a few seconds (its jobs hang for a minute)."""
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            go()
        except error as exc:
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the run did not end"
    assert time.monotonic() - started < 20, "the run waited for the jobs that hung"
    return outcome[0]


def _hung(pids: Path, count: int) -> None:
    """Wait (half a minute at most) until `count` jobs hang, each with its process id in `pids`."""
    deadline = time.monotonic() + 30
    while len(list(pids.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _stuck(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, function: str) -> Path:
    """Make the run's jobs of `function` hang (`_Stuck`); the folder where they write their ids."""
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setattr(run_module, "open_runner", lambda settings: _Stuck(function, pids))
    return pids


def _dead(pids: Path) -> int:
    """How many processes wrote their id into `pids`, when every one of them is gone (else 0)."""
    for pid_file in pids.iterdir():
        try:
            os.kill(int(pid_file.read_text(encoding="ascii")), 0)
        except ProcessLookupError:
            continue
        return 0
    return len(list(pids.iterdir()))


def test_a_run_that_fails_while_files_are_read_ahead_ends_at_once(period, filled, monkeypatch, tmp_path):
    """Intake fails on the third file while the first two are being read (and their reading hangs):
    the run raises at once, the reading thread stops, and the workers are gone."""
    drop, go, _ = period
    for code in ("VT021", "VT030", "VT031"):
        drop(f"{code}.xlsx", filled(rows=[ROW_A], name=f"{code}.xlsx", code=code))
    take = run_module.take

    def failing(path, name, *args):
        if name == "VT031.xlsx":
            _hung(pids, 2)  # both files are being read
            raise OSError("the disk went away")
        return take(path, name, *args)

    pids = _stuck(monkeypatch, tmp_path, "_examine_packed")
    monkeypatch.setattr(run_module, "take", failing)
    assert str(_ends_soon(go, OSError)) == "the disk went away"
    assert _dead(pids) == 2


def test_a_run_that_fails_while_its_feedback_is_written_ends_at_once(period, filled, monkeypatch, tmp_path):
    """The merge fails while the flagged files' feedback is written (and its writing hangs): the run
    raises at once and the feedback's worker is gone."""
    drop, go, _ = period
    drop("VT030.xlsx", filled(rows=[{"ten_sang_kien": ""}], name="VT030.xlsx", code="VT030"))

    def failing(*args, **kwargs):
        _hung(pids, 1)  # the feedback is being written
        raise RuntimeError("the merge failed")

    pids = _stuck(monkeypatch, tmp_path, "write_feedback")
    monkeypatch.setattr(run_module, "dataset", failing)
    assert str(_ends_soon(go, RuntimeError)) == "the merge failed"
    assert _dead(pids) == 1


@pytest.mark.slow
def test_the_same_file_again_changes_nothing_and_is_not_read_again(period, filled, monkeypatch):
    drop, go, _ = period
    good = filled(rows=[{}])
    drop("báo cáo.xlsx", good)
    _, first = go()
    read = _reads(monkeypatch)
    drop("báo cáo (1).xlsx", good)  # the same attachment saved twice
    _, second = go()
    assert read == []
    assert _file(second, "báo cáo (1).xlsx")["status"] == "duplicate"
    assert second["totals"] == first["totals"]
    with Ledger(period[2].paths.outbox / LEDGER_NAME) as ledger:
        assert len(ledger.files()) == 1 and len(ledger.runs()) == 2


@pytest.mark.slow
def test_an_incremental_run_reads_and_validates_only_the_new_file(period, filled, monkeypatch):
    drop, go, _ = period
    for i, code in enumerate(("VT021", "VT030", "VT031")):
        drop(f"{code}.xlsx", filled(rows=[{**ROW_A, "tac_gia": f"Tác Giả {i}"}], name=f"{code}.xlsx", code=code))
    go()
    read, validated = _reads(monkeypatch), []
    original_check = run_module.check_books
    monkeypatch.setattr(
        run_module, "check_books", lambda subs, *a, **k: validated.extend(subs) or original_check(subs, *a, **k)
    )
    # A fourth union sends the same initiative as VT021 did earlier: the rule across files still sees it.
    drop("VT032.xlsx", filled(rows=[{**ROW_A, "tac_gia": "Tác Giả 0"}], name="VT032.xlsx", code="VT032"))
    _result, summary = go()
    assert [s.name for s in read] == ["VT032.xlsx"] and [s.name for s in validated] == ["VT032.xlsx"]
    assert [f["name"] for f in summary["files"] if f["new"]] == ["VT032.xlsx"]
    (warning,) = _file(summary, "VT032.xlsx")["findings"]
    assert (
        warning["rule"] == "duplicate-initiative" and 'tệp "VT021.xlsx" (dòng 4, trang Sáng kiến)' in warning["message"]
    )
    assert summary["totals"]["initiatives"] == 4
    assert set(summary["stages"]) >= {"intake", "read", "validate", "ledger", "merge", "feedback", "outputs"}


@pytest.mark.slow
def test_an_exception_mid_run_leaves_the_ledger_whole_and_the_next_run_completes(period, filled, monkeypatch):
    drop, go, s = period
    for code in ("VT021", "VT030", "VT031"):
        drop(f"{code}.xlsx", filled(rows=[{**ROW_A, "tac_gia": f"Người {code}"}], name=f"{code}.xlsx", code=code))
    calls = []
    original = ledger_module._insert_records

    def failing(db, sha256, *args):
        calls.append(sha256)
        if len(calls) == 3:  # the third file's row is in, its records are not
            raise OSError(28, "No space left on device")
        return original(db, sha256, *args)

    monkeypatch.setattr(ledger_module, "FILES_PER_COMMIT", 2)  # the first two files committed together
    monkeypatch.setattr(ledger_module, "_insert_records", failing)
    with pytest.raises(OSError):
        go()
    with Ledger(s.paths.outbox / LEDGER_NAME) as ledger:
        assert [f.name for f in ledger.files()] == ["VT021.xlsx", "VT030.xlsx"]
        assert len(ledger.db.execute("SELECT * FROM record_sets").fetchall()) == 2
    monkeypatch.setattr(ledger_module, "_insert_records", original)
    _, summary = go()
    assert summary["totals"]["initiatives"] == 3 and summary["totals"]["units_reported"] == 3
    with Ledger(s.paths.outbox / LEDGER_NAME) as ledger:
        assert [r["status"] for r in ledger.runs()] == ["interrupted", "done"]


KILLER = """
import os, signal, sys
from pathlib import Path
from pipeline.config import load_settings
from pipeline.form import load_form
from pipeline.ledger import Ledger
from pipeline.roster import load_roster
from pipeline import Period, run

inbox, outbox, roster_path, config = map(Path, sys.argv[1:5])
mode = sys.argv[5]
import pipeline.ledger as ledger_module

ledger_module.FILES_PER_COMMIT = 2  # files 1-2 in the first transaction, 3-4 in the second
written = []
insert_file, add = Ledger._insert_file, Ledger._add

def killing_insert(db, run_id, new):
    if len(written) == 3 and mode == "inside":  # the second transaction has written a file and more
        db.execute("INSERT INTO runs (started_at, as_of, inbox, status) VALUES ('x', 'x', 'x', 'running')")
        os.kill(os.getpid(), signal.SIGKILL)
    insert_file(db, run_id, new)
    written.append(new.name)

def killing_add(self, run_id, files):
    if len(written) == 2 and mode == "between":  # the first transaction committed, the next not begun
        os.kill(os.getpid(), signal.SIGKILL)
    add(self, run_id, files)

Ledger._insert_file = staticmethod(killing_insert)
Ledger._add = killing_add
form = load_form()
settings = load_settings(config).with_paths(inbox=inbox, outbox=outbox)
run(Period(settings, form, load_roster(roster_path, form)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["between", "inside"])
def test_a_run_killed_with_sigkill_is_followed_by_a_clean_run(period, filled, tmp_path, mode):
    if sys.platform == "win32":
        pytest.fail("SIGKILL is POSIX; this test runs in CI on Linux")
    drop, go, s = period
    codes = ("VT021", "VT030", "VT031", "VT032", "VT033")
    for code in codes:
        drop(f"{code}.xlsx", filled(rows=[{**ROW_A, "tac_gia": f"Người {code}"}], name=f"{code}.xlsx", code=code))
    args = [str(s.paths.inbox), str(s.paths.outbox), str(ROSTER), str(ROOT / "pipeline.toml"), mode]
    child = subprocess.run([sys.executable, "-c", KILLER, *args], cwd=ROOT, capture_output=True, timeout=300)
    assert child.returncode == -9, child.stderr.decode()
    db = sqlite3.connect(s.paths.outbox / LEDGER_NAME)
    assert db.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 2  # the committed transaction's
    assert db.execute("SELECT COUNT(*) FROM runs WHERE inbox = 'x'").fetchone()[0] == 0
    db.close()
    assert not (s.paths.outbox / "run.json").exists()

    _, summary = go()  # the next run: no lock left behind, the rest read, nothing counted twice
    assert summary["totals"]["initiatives"] == len(codes) and summary["totals"]["units_reported"] == len(codes)
    assert sorted(f["name"] for f in summary["files"]) == sorted(f"{c}.xlsx" for c in codes)
    assert sum(f["new"] for f in summary["files"]) == 3
    frame = pd.read_parquet(s.paths.outbox / "du-lieu-tong-hop.parquet")
    assert len(frame) == len(codes) and frame["sha256_nguon"].is_unique


@pytest.mark.slow
def test_a_second_run_at_the_same_time_refuses_and_corrupts_nothing(period, filled):
    drop, go, s = period
    drop("a.xlsx", filled(rows=[{}]))
    _, first = go()
    drop("b.xlsx", filled(rows=[ROW_A], name="b.xlsx", code="VT030"))
    with exclusive(s.paths.outbox), pytest.raises(BusyError) as info:
        go()
    assert "Một lần chạy khác đang dùng sổ theo dõi" in str(info.value) and info.value.exit_code == 6
    with Ledger(s.paths.outbox / LEDGER_NAME) as ledger:
        assert len(ledger.files()) == 1 and [r["status"] for r in ledger.runs()] == ["done"]
    _, second = go()
    assert second["totals"]["initiatives"] == first["totals"]["initiatives"] + 1


def test_dataset_holds_each_initiative_once_with_its_source_and_no_formula(period, filled):
    drop, go, _ = period
    payload = {"ten_sang_kien": '=HYPERLINK("http://x";"bấm") mẫu', "tom_tat": "+cmd|' /C calc'!A0 và nội dung dài"}
    drop("VT021.xlsx", filled(rows=[{}, {**ROW_A, **payload}]))
    result, summary = go()
    frame = pd.read_parquet(result.outputs["dataset_parquet"])
    assert len(frame) == 2 == summary["totals"]["initiatives"]
    assert list(frame["dong_nguon"]) == [4, 5] and set(frame["trang_nguon"]) == {"Sáng kiến"}
    assert frame["gia_tri_lam_loi"].dtype == "Int64" and frame["gia_tri_lam_loi"].iloc[0] == 15_000_000
    assert frame["ten_sang_kien"].iloc[1] == payload["ten_sang_kien"]  # the data as sent
    assert list(frame["giai_doan"]) == ["Giai đoạn 1", "Giai đoạn 1"]
    text = result.outputs["dataset_csv"].read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    csv = pd.read_csv(result.outputs["dataset_csv"], encoding="utf-8-sig", dtype=str)
    assert csv["ten_sang_kien"].iloc[1].startswith("'=HYPERLINK")
    assert csv["tom_tat"].iloc[1].startswith("'+cmd")
    assert csv["gia_tri_lam_loi"].iloc[0] == "15000000" and csv["ngay_ap_dung"].iloc[0] == "2022-03-15"


def test_ledger_schema_is_versioned_and_a_newer_ledger_is_refused(tmp_path):
    path = tmp_path / LEDGER_NAME
    with Ledger(path) as ledger:
        assert ledger.version == len(MIGRATIONS)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(LedgerError, match="phiên bản mới hơn"):
        Ledger(path)


@pytest.mark.slow
def test_completeness_and_timeliness_against_the_roster(period, filled):
    drop, go, _s = period
    drop("đúng hạn.xlsx", filled(rows=[{}]), dt.datetime(2022, 6, 3, 16, 0))
    drop("trễ.xlsx", filled(rows=[ROW_A], name="b.xlsx", code="VT030"), dt.datetime(2022, 6, 4, 8, 0))
    drop("sai.xlsx", filled(rows=[{"tac_gia": "An"}], name="c.xlsx", code="VT031"))
    _, summary = go()
    reporting = {u["code"]: u["reporting"] for u in summary["units"]}
    assert (reporting["VT021"], reporting["VT030"], reporting["VT031"], reporting["VT001"]) == (
        "on_time",
        "late",
        "rejected",
        "missing",
    )
    totals = summary["totals"]
    assert (totals["units_on_time"], totals["units_late"], totals["units_rejected"], totals["units_missing"]) == (
        1,
        1,
        1,
        64,
    )
    assert totals["units_in_roster"] == 67 and totals["units_reported"] == 2
    assert Status.SUPERSEDED.label == "Đã có bản mới hơn"


def test_a_run_writes_the_report_in_every_format_and_lists_it_in_run_json(period, filled):
    drop, go, s = period
    drop("VT021.xlsx", filled(rows=[{}, ROW_A]))
    _result, summary = go()
    for key, suffix in (("report_docx", ".docx"), ("report_html", ".html"), ("report_xlsx", ".xlsx")):
        path = Path(summary["outputs"][key])
        assert path.suffix == suffix and path.stat().st_size > 1000 and path.parent == s.paths.outbox
    for stage in ("outputs", "report_docx", "report_html", "report_xlsx"):
        assert summary["stages"][stage] > 0
    assert "report_pdf" not in summary["outputs"]
    html = Path(summary["outputs"]["report_html"]).read_text(encoding="utf-8")
    assert "Sổ tay điện tử cho tổ chuyên môn" in html and html.count("<svg") >= 4


def test_a_version_1_ledger_gets_the_record_keys_filled(tmp_path):
    path = tmp_path / LEDGER_NAME
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs VALUES (1, '2022-06-05T08:00:00', NULL, '2022-06-05', 'inbox', 'done')")
    db.execute(
        "INSERT INTO files VALUES ('abc', 1, 'a.xlsx', 'xlsx', 10, '2022-06-04T08:00:00', 1, 'accepted', 1, "
        "'VT021', 'x', '2022-06-01', 0, 0, 1, '{}', '{}', NULL, NULL)"
    )
    data = '{"ten_sang_kien": "Số hóa  sổ công văn", "tac_gia": "Lê Văn Tám"}'
    db.execute("INSERT INTO records VALUES ('abc', 'Sáng kiến', 4, ?)", (data,))
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert ledger.version == len(MIGRATIONS) == 5
        [row] = ledger.rows_with_keys(["abc"], ["so hoa so cong van|le van tam"])
        assert row.row == 4 and row.data["tac_gia"] == "Lê Văn Tám"
        assert ledger.rows_with_keys(["abc"], ["khac|le van tam"]) == []
        # Migration 3: a file from before mail came in no message.
        [stored] = ledger.files()
        assert stored.message_id is None and stored.sender is None and ledger.messages() == []


# `pipeline run` through the CLI, whose run, once it holds the ledger, waits at its first write
# until the file argv[2] exists: the test decides when it goes on, whatever the machine's speed.
HOLDER = """
import sys, time
from pathlib import Path
from pipeline.cli import main
from pipeline.ledger import Ledger

holding, go = Path(sys.argv[1]), Path(sys.argv[2])
original = Ledger.add_files

def add_files(self, run_id, files):
    holding.touch()
    deadline = time.monotonic() + 120  # a test gone wrong still ends
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    original(self, run_id, files)

Ledger.add_files = add_files
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_two_processes_started_together_one_runs_the_other_refuses(period, filled, tmp_path):
    """Two officers (or a double click) start `pipeline run` on the same inbox and ledger at once.

    Whichever takes the ledger first holds it until the other has ended: the other must end on its
    own, at once, with exit code 6 (neither may have finished before the other started)."""
    from pipeline.demo import demo_roster_path

    drop, _, s = period
    for i, code in enumerate(["VT021", "VT030", "VT052"]):
        drop(
            f"{code}.xlsx",
            filled(rows=[{"ten_sang_kien": f"Sáng kiến số {i} của đơn vị"}], name=f"{code}.xlsx", code=code),
        )
    holding, go = tmp_path / "holding", tmp_path / "go"
    paths = ["--inbox", str(s.paths.inbox), "--outbox", str(s.paths.outbox), "--roster", str(demo_roster_path())]
    command = [sys.executable, "-c", HOLDER, str(holding), str(go), "run", "--config", str(ROOT / "pipeline.toml")]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    runs = [
        subprocess.Popen([*command, *paths], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(2)
    ]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ends = {pool.submit(p.communicate, timeout=300): p for p in runs}
        done, _ = concurrent.futures.wait(ends, timeout=120, return_when=concurrent.futures.FIRST_COMPLETED)
        go.touch()  # let the holder go on, whatever happened
        outcomes = []
        for f in [*done, *(f for f in ends if f not in done)]:
            output = b"".join(f.result()).decode("utf-8")  # waits for that process to end
            outcomes.append((ends[f].returncode, output))
    (refused_code, refused), (ran_code, ran) = outcomes
    assert len(done) == 1 and refused_code == 6, outcomes  # one stopped while the other held the ledger
    assert "Một lần chạy khác đang dùng sổ theo dõi" in refused
    assert ran_code == 0 and holding.exists(), ran
    with Ledger(s.paths.outbox / LEDGER_NAME) as ledger:
        assert [r["status"] for r in ledger.runs()] == ["done"] and len(ledger.files()) == 3
    summary = json.loads((s.paths.outbox / "run.json").read_text(encoding="utf-8"))
    assert summary["totals"]["initiatives"] == 3 and not list(s.paths.outbox.rglob(".tmp*"))


# --- records by column -------------------------------------------------------------------------------

A, B = "a" * 64, "b" * 64


def _new(sha: str, code: str, records: Records | None, status: str = "accepted") -> NewFile:
    return NewFile(
        sha256=sha, name=f"{code}.xlsx", kind="xlsx", size=1, received_at=dt.datetime(2022, 6, 1, 9), status=status,
        readable=True, unit_code=code, unit_name=None, as_of_date=dt.date(2022, 6, 1), unit_record={}, columns={},
        findings=[], records=records,
    )  # fmt: skip


def _columns(n: int) -> dict[str, list[object]]:
    """Initiatives of every type: whole numbers with blanks, text with leading zeros, dates."""
    return {
        "stt": [i + 1 if i % 7 else None for i in range(n)],
        "ten_sang_kien": [f"Sáng kiến cải tiến số {i:05d}" for i in range(n)],
        "tac_gia": [f"Nguyễn Văn {chr(65 + i % 26)} {i // 26}" for i in range(n)],
        "dong_tac_gia": ["Lê Thị Hoa; Trần Văn Nam" if i % 3 == 0 else None for i in range(n)],
        "so_qd_cong_nhan": ["007" if i % 2 else "0012/QĐ" for i in range(n)],
        "gia_tri_lam_loi": [i * 1_000 if i % 4 else None for i in range(n)],
        "ngay_dang_ky": [dt.date(2022, 2, 1) + dt.timedelta(days=i % 200) if i % 5 else None for i in range(n)],
    }


def _records(form, n: int, first_row: int = 4) -> Records:
    columns = _columns(n)
    keys = [form.record_key({k: v[i] for k, v in columns.items()}) for i in range(n)]
    return Records("Sáng kiến", [first_row + 2 * i for i in range(n)], columns, keys)  # rows with gaps


def _as_stored(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.mark.parametrize("preload", [1_000, 5_000], ids=["large-file-column-by-column", "all-in-one-query"])
def test_records_by_column_come_back_by_row_with_their_place_and_types(
    tmp_path, form, settings, roster, monkeypatch, preload
):
    """Every record of a large file and a small one: none lost, each at its Excel row and sheet, its
    whole numbers, text with leading zeros and dates as they were; by row, by key and in the dataset.
    Whether their columns' text is read in one query or a column at a time (a file larger than
    `PRELOAD_ROWS`)."""
    monkeypatch.setattr(ledger_module, "PRELOAD_ROWS", preload)
    big, small = _records(form, 2_500), _records(form, 3, first_row=10)
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        run_id = ledger.start_run(settings.as_of, tmp_path)
        ledger.add_file(run_id, _new(A, "VT021", big))
        ledger.add_file(run_id, _new(B, "VT030", small))
        ledger.add_file(run_id, _new("c" * 64, "VT031", None, status="rejected"))
        assert {f.sha256: f.initiatives for f in ledger.files()} == {A: 2_500, B: 3, "c" * 64: 0}
        rows = ledger.rows([B, A, "c" * 64, A])
        expected = [
            (sha, "Sáng kiến", stored.rows[i], {k: _as_stored(v[i]) for k, v in stored.columns.items()})
            for sha, stored in ((B, small), (A, big))
            for i in range(len(stored))
        ]
        assert [(r.sha256, r.sheet, r.row, r.data) for r in rows] == expected
        assert all(type(r.data["so_qd_cong_nhan"]) is str for r in rows)
        assert list(ledger.iter_rows([B, A])) == rows
        [twin] = ledger.rows_with_keys([A, B], [big.keys[1_234]])
        assert (twin.sha256, twin.row, twin.data) == (A, big.rows[1_234], expected[3 + 1_234][3])
        assert ledger.rows_with_keys([B], [big.keys[1_234]]) == []

        states = unit_states(ledger.files(), roster, settings)
        monkeypatch.setattr(merge, "DATASET_CHUNK_ROWS", 1_000)  # the large file alone, the small one in a chunk
        frame = dataset(states, ledger.iter_rows([A, B]), form, settings)
        by_rows = dataset(states, list(ledger.iter_rows([A, B])), form, settings)
    pd.testing.assert_frame_equal(frame, by_rows)
    assert len(frame) == 2_503
    assert list(zip(frame["sha256_nguon"], frame["trang_nguon"], frame["dong_nguon"], strict=True)) == [
        (sha, "Sáng kiến", row) for sha, stored in ((A, big), (B, small)) for row in stored.rows
    ]
    both = {k: [*big.columns[k], *small.columns[k]] for k in big.columns}
    assert frame["so_qd_cong_nhan"].tolist() == both["so_qd_cong_nhan"]
    assert frame["stt"].dtype == "Int64" and frame["gia_tri_lam_loi"].dtype == "Int64"
    assert [None if pd.isna(v) else v for v in frame["gia_tri_lam_loi"]] == both["gia_tri_lam_loi"]
    assert [None if pd.isna(v) else v for v in frame["stt"]] == both["stt"]
    assert [None if pd.isna(v) else v for v in frame["ngay_dang_ky"]] == both["ngay_dang_ky"]
    assert all(isinstance(v, dt.date) for v in frame["ngay_dang_ky"] if not pd.isna(v))
    assert frame["ma_cdcs"].tolist() == ["VT021"] * 2_500 + ["VT030"] * 3


def test_a_version_3_ledger_keeps_every_record_by_column(tmp_path, form, settings, roster):
    """A ledger written before records were kept by column: after the migration, the same rows,
    in the same order, with the same values, found by key, and the same dataset."""
    path = tmp_path / LEDGER_NAME
    db = sqlite3.connect(path)
    for version in range(3):
        for statement in MIGRATIONS[version]:
            if statement != "fill record keys":
                db.execute(statement)
    db.execute("PRAGMA user_version = 3")
    db.execute("INSERT INTO runs VALUES (1, '2022-06-05T08:00:00', NULL, '2022-06-05', 'inbox', 'done')")
    stored = {A: _records(form, 40), B: _records(form, 2, first_row=7)}
    for seq, (sha, code) in enumerate(((A, "VT021"), (B, "VT030")), start=1):
        records = stored[sha]
        db.execute(
            "INSERT INTO files VALUES (?, ?, ?, 'xlsx', 10, '2022-06-04T08:00:00', 1, 'accepted', 1, ?, NULL, "
            "'2022-06-01', 0, 0, ?, '{}', '{}', NULL, NULL, NULL, NULL)",
            (sha, seq, f"{code}.xlsx", code, len(records)),
        )
        for i in reversed(range(len(records))):  # stored in any order: read back by row
            data = json.dumps({k: _as_stored(v[i]) for k, v in records.columns.items()}, ensure_ascii=False)
            db.execute(
                "INSERT INTO records VALUES (?, 'Sáng kiến', ?, ?, ?)", (sha, records.rows[i], data, records.keys[i])
            )
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert ledger.version == len(MIGRATIONS)
        rows = ledger.rows([A, B])
        assert [(r.sha256, r.row, r.data) for r in rows] == [
            (sha, stored[sha].rows[i], {k: _as_stored(v[i]) for k, v in sorted(stored[sha].columns.items())})
            for sha in (A, B)
            for i in range(len(stored[sha]))
        ]
        twins = ledger.rows_with_keys([A, B], [stored[B].keys[1]])  # the same initiative in both files
        assert [(r.sha256, r.row) for r in twins] == [(A, stored[A].rows[1]), (B, stored[B].rows[1])]
        frame = dataset(unit_states(ledger.files(), roster, settings), ledger.iter_rows([A, B]), form, settings)
    assert frame["dong_nguon"].tolist() == [*stored[A].rows, *stored[B].rows]
    assert frame["so_qd_cong_nhan"].tolist() == [*stored[A].columns["so_qd_cong_nhan"], "0012/QĐ", "007"]


def test_the_names_a_file_arrived_under_each_once_first_seen_first(tmp_path, settings):
    """Every run sights every file of the inbox again: a name counts once, in the order first seen,
    and the files in the order their first name was seen."""
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        for sightings in (
            [(B, "b.xlsx"), (A, "a.xlsx")],
            [(A, "a.xlsx"), (B, "b.xlsx"), (A, "a (2).xlsx")],
            [(A, "a (2).xlsx"), (B, "b.xlsx"), (A, "a.xlsx"), (B, "Báo cáo.xlsx")],
        ):
            ledger.add_sightings(ledger.start_run(settings.as_of, tmp_path), sightings)
        names = ledger.names()
    assert list(names.items()) == [(B, ["b.xlsx", "Báo cáo.xlsx"]), (A, ["a.xlsx", "a (2).xlsx"])]


@pytest.mark.parametrize("large", [False, True], ids=["small-period-here", "large-period-on-workers"])
def test_the_report_is_written_here_for_a_small_period_and_on_workers_for_a_large_one(
    period, filled, monkeypatch, large
):
    """A worker's start costs more than a district's report: below `WORKER_OUTPUT_ROWS` the DOCX
    and the workbook are written in the run's process; at or above it, on the workers, side by side
    with the others, begun before the feedback is recorded (here the recording waits until the
    workbook's job is sent). The same files either way; the flagged file's feedback is on a worker
    always."""
    from pipeline.isolate import LocalRunner

    drop, go, _ = period
    drop("VT021.xlsx", filled(rows=[ROW_A, ROW_B], name="VT021.xlsx", code="VT021"))
    drop("VT030.xlsx", filled(rows=[{"ten_sang_kien": ""}], name="VT030.xlsx", code="VT030"))
    sent: list[str] = []
    taken: list[object] = []

    def name(job) -> str:  # an output's key, or the function a job runs
        if len(job) > 3:  # (timed, (write it, (key, context)), deadline, memory cap)
            return job[1][1][0]
        return getattr(job[0], "func", job[0]).__name__

    class Recording(LocalRunner):
        def run(self, jobs, at_most=None):
            def note(job):
                sent.append(name(job))
                return job

            yield from super().run([note(job) for job in jobs] if isinstance(jobs, list) else map(note, jobs), at_most)

        def prestart_own(self, imports):
            sent.append("prestart_own")
            super().prestart_own(imports)

        def give_own(self, job):
            sent.append(f"give_own {job[0].__name__}")
            return super().give_own(job)

        def take_own(self):
            taken.append(super().take_own())
            return taken[-1]

    check_books = run_module.check_books

    def validating(*args, **kwargs):
        sent.append("validate")
        return check_books(*args, **kwargs)

    monkeypatch.setattr(run_module, "open_runner", lambda settings: Recording(1))
    monkeypatch.setattr(run_module, "check_books", validating)
    if large:
        monkeypatch.setattr(run_module, "WORKER_OUTPUT_ROWS", 0)
        set_feedback = Ledger.set_feedback

        def once_the_workbook_is_sent(self, *args):
            deadline = time.monotonic() + 30
            while "report_xlsx" not in sent:
                assert time.monotonic() < deadline, "the feedback was recorded before the reports were begun"
                time.sleep(0.01)
            return set_feedback(self, *args)

        monkeypatch.setattr(Ledger, "set_feedback", once_the_workbook_is_sent)
    result, summary = go()
    reports = {k: v for k, v in result.outputs.items() if k in ("report_docx", "report_xlsx")}
    assert sorted(reports) == ["report_docx", "report_xlsx"] and all(p.exists() for p in reports.values())
    outputs_sent = [name for name in sent if name.startswith("report_")]
    # The workbook first, to the process started for it as validation began (it imports its writer
    # on the core that validation leaves idle).
    assert outputs_sent == (["report_xlsx", "report_docx"] if large else [])
    assert sent.count("prestart_own") == (1 if large else 0)
    if large:
        assert sent.index("prestart_own") < sent.index("validate")
        # While this process made the figures, the workbook's made its dataset rows (the accepted file's two).
        assert "give_own _xlsx_rows" in sent and taken == [2]
    else:
        assert not any(name.startswith("give_own") for name in sent)
    assert sent.count("_examine_packed") == 2 and sent.count("write_feedback") >= 1
    assert _file(summary, "VT030.xlsx")["status"] == "rejected"
    assert any(p.suffix == ".xlsx" for p in result.outputs["feedback"].iterdir())


def test_the_columns_of_many_files_at_once_are_each_files_column(tmp_path, form, settings, monkeypatch):
    """`columns_of` (one JSON decoding for a column of many files, as the merge reads them) gives
    each file's `column`: for files read in one query and a large one read column by column, a
    field a file has no column of, and text that needs JSON's escapes."""
    monkeypatch.setattr(ledger_module, "PRELOAD_ROWS", 4)
    odd = Records("Sáng kiến", [4, 5], {"ten_sang_kien": ['"trích" \\ \n\t😀', None], "stt": [1, 2]}, ["a", "b"])
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        run_id = ledger.start_run(settings.as_of, tmp_path)
        ledger.add_file(run_id, _new(A, "VT021", _records(form, 9)))  # larger than PRELOAD_ROWS
        ledger.add_file(run_id, _new(B, "VT030", odd))
        ledger.add_file(run_id, _new("c" * 64, "VT031", _records(form, 2)))
        sets = list(ledger.record_sets([A, B, "c" * 64]))
        assert [s._data is None for s in sets] == [True, False, False]
        for field in (*_columns(1), "khong_co"):
            assert ledger_module.columns_of(sets, field) == [s.column(field) for s in sets]
        assert ledger_module.columns_of(sets, "ten_sang_kien")[1] == ['"trích" \\ \n\t😀', None]


def test_record_sets_of_any_number_of_files_come_in_the_order_asked(tmp_path, form, settings, monkeypatch):
    """Asked for more files than one query may name (`SQL_BATCH`), unknown ones among them."""
    monkeypatch.setattr(ledger_module, "SQL_BATCH", 2)
    monkeypatch.setattr(ledger_module, "PRELOAD_ROWS", 4)  # the file of 5 records: a column at a time
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        run_id = ledger.start_run(settings.as_of, tmp_path)
        ledger.add_file(run_id, _new(A, "VT021", _records(form, 5)))
        ledger.add_file(run_id, _new(B, "VT030", _records(form, 2, first_row=10)))
        asked = [B, "z" * 64, A, B, "y" * 64, A]
        queries: list[str] = []
        ledger.db.set_trace_callback(queries.append)
        got = [(s.sha256, list(s.rows), s.column("ten_sang_kien")) for s in ledger.record_sets(asked)]
        ledger.db.set_trace_callback(None)
    assert max(q.count("'") // 2 for q in queries if " IN (" in q) <= 2  # each query names two files at most
    rows = {A: [4, 6, 8, 10, 12], B: [10, 12]}
    titles = {A: _columns(5)["ten_sang_kien"], B: _columns(2)["ten_sang_kien"]}
    assert got == [(sha, rows[sha], titles[sha]) for sha in (B, A, B, A)]
