"""A run that finds nothing new rewrites nothing and answers from the ledger; anything that changes
what the outputs are made of (a new file, the officer's text, the roster, the report date, the
configuration, an output touched by hand) makes them again."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline.demo import demo_roster_path
from tests.conftest import ROOT, soffice

AS_OF = dt.date(2022, 6, 10)


@pytest.fixture
def period(tmp_path: Path, filled) -> pipeline.Period:
    """A period with two unions' files (one rejected, so there is feedback), run once."""
    shutil.copyfile(ROOT / "pipeline.toml", tmp_path / "pipeline.toml")
    shutil.copyfile(demo_roster_path(), tmp_path / "danh-sach-cdcs.csv")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.move(filled(name="VT021.xlsx"), inbox / "VT021.xlsx")
    shutil.move(filled(name="VT022.xlsx", code="VT022", unit={"tong_doan_vien": "nhiều"}), inbox / "VT022.xlsx")
    period = pipeline.open_period(tmp_path / "pipeline.toml", as_of=AS_OF)
    first = pipeline.run(period)
    assert not first.unchanged
    assert first.counts[pipeline.Status.REJECTED] == 1
    return period


def _outbox(period: pipeline.Period) -> dict[str, int]:
    """Every file of the outbox but the ledger and its lock, with its modification time."""
    outbox = period.settings.paths.outbox
    return {
        p.relative_to(outbox).as_posix(): p.stat().st_mtime_ns
        for p in outbox.rglob("*")
        if p.is_file() and not p.name.startswith("so-theo-doi")
    }


def test_a_run_with_nothing_new_rewrites_nothing_and_says_the_same(period: pipeline.Period):
    before = _outbox(period)
    assert {"bao-cao-tong-hop.docx", "bao-cao-tong-hop.xlsx", "run.json"} <= before.keys()
    assert any(name.startswith("phan-hoi/") for name in before)
    full = json.loads((period.settings.paths.outbox / "run.json").read_text(encoding="utf-8"))

    again = pipeline.run(period)

    assert again.unchanged
    assert _outbox(period) == before  # not one output written, run.json neither
    assert {r.name: r.status for r in again.files} == {f["name"]: pipeline.Status(f["status"]) for f in full["files"]}
    assert not any(r.new for r in again.files)
    assert again.totals == full["totals"]
    assert list(again.unfilled) == full["report"]["unfilled"]
    assert {k: str(v) for k, v in again.outputs.items()} == full["outputs"]
    [rejected] = [r for r in again.files if r.status is pipeline.Status.REJECTED]
    assert rejected.findings and rejected.message is not None and rejected.message.exists()
    assert again.units.keys() == pipeline.status(period).keys()


@pytest.mark.slow
@pytest.mark.parametrize(
    "change",
    ["officer_text", "roster", "as_of", "configuration", "output_edited", "output_deleted", "new_file"],
)
def test_whatever_the_outputs_are_made_of_makes_them_again(period: pipeline.Period, change: str, filled):
    settings = period.settings
    outbox = settings.paths.outbox
    docx = outbox / "bao-cao-tong-hop.docx"
    config = settings.paths.report_text.parent / "pipeline.toml"
    if change == "officer_text":
        text = settings.paths.report_text
        text.write_text(text.read_text(encoding="utf-8") + "\nMột dòng cán bộ viết thêm.\n", encoding="utf-8")
    elif change == "roster":
        roster = settings.paths.roster
        lines = roster.read_text(encoding="utf-8-sig").splitlines()
        roster.write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")  # two unions fewer
    elif change == "as_of":
        period = pipeline.open_period(config, as_of=AS_OF + dt.timedelta(days=1))
    elif change == "configuration":
        config.write_text(
            config.read_text(encoding="utf-8").replace('signatory = "Nguyễn Văn Mẫu"', 'signatory = "Lê Văn Ký"'),
            encoding="utf-8",
        )
    elif change == "output_edited":  # opened and saved by hand
        (outbox / "bao-cao-tong-hop.xlsx").write_bytes((outbox / "bao-cao-tong-hop.xlsx").read_bytes() + b"\0")
    elif change == "output_deleted":
        (outbox / "du-lieu-tong-hop.csv").unlink()
    elif change == "new_file":
        shutil.move(filled(name="VT023.xlsx", code="VT023"), settings.paths.inbox / "VT023.xlsx")
    if change != "as_of":
        period = pipeline.open_period(config, as_of=AS_OF)
    os.utime(docx, ns=(0, 0))  # so that a rewrite shows, however coarse the clock

    again = pipeline.run(period)

    assert not again.unchanged
    assert docx.stat().st_mtime_ns != 0
    assert (outbox / "du-lieu-tong-hop.csv").exists()
    assert pipeline.run(period).unchanged  # and the run after it has nothing to do again


def test_a_run_with_nothing_new_loads_neither_pandas_nor_the_validation(period: pipeline.Period):
    """What makes a run with nothing new answer at once: it imports no dataframe library, starts no
    worker and renders nothing."""
    config = period.settings.paths.report_text.parent / "pipeline.toml"
    code = (
        "import sys, datetime as dt, multiprocessing, pipeline\n"
        f"period = pipeline.open_period({str(config)!r}, as_of=dt.date.fromisoformat({AS_OF.isoformat()!r}))\n"
        "result = pipeline.run(period)\n"
        "heavy = ('pandas', 'pandera', 'numpy', 'openpyxl', 'docxtpl', 'xlsxwriter')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print(result.unchanged, heavy, 'multiprocessing.popen_spawn_posix' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "[]", "False"]


@pytest.mark.slow
def test_the_pdf_is_made_when_asked_for_and_then_stands(period: pipeline.Period):
    soffice()  # the PDF comes from LibreOffice
    with_pdf = pipeline.run(period, pdf=True)  # the first run made none: everything is made again
    assert not with_pdf.unchanged and with_pdf.outputs["report_pdf"].exists()
    written = with_pdf.outputs["report_pdf"].stat().st_mtime_ns
    assert pipeline.run(period).unchanged  # a run without --pdf: the PDF there is still the report's
    assert pipeline.run(period, pdf=True).unchanged
    assert with_pdf.outputs["report_pdf"].stat().st_mtime_ns == written
    # Then the report changes and a run without --pdf makes the DOCX again: the earlier PDF goes.
    text = period.settings.paths.report_text
    text.write_text(text.read_text(encoding="utf-8") + "\nThêm một dòng.\n", encoding="utf-8")
    without = pipeline.run(period)
    assert "report_pdf" not in without.outputs and not with_pdf.outputs["report_pdf"].exists()
