"""Intake: every file found, lock and temporary files set aside, formats read from the bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from pipeline import Period, intake, run
from pipeline.intake import archive, fingerprint, scan_inbox, sniff
from pipeline.results import Status
from tests.conftest import soffice


def test_scan_skips_lock_hidden_and_temporary_files(tmp_path):
    names = [
        "a.xlsx",
        "Tháng 6/b.xlsx",
        "~$a.xlsx",
        ".~lock.a.xlsx#",
        ".ẩn.xlsx",
        "c.xlsx~",
        "~WRL1234.tmp",
        ".sync/d.xlsx",
        ".gitkeep",  # the project's own placeholder of an empty inbox
        "Tháng 6/Thumbs.db",
        "desktop.ini",
        "._a.xlsx",
    ]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    files, skipped = scan_inbox(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["Tháng 6/b.xlsx", "a.xlsx"]
    reasons = {s.name: s.reason for s in skipped}
    assert set(reasons) == {"~$a.xlsx", ".~lock.a.xlsx#", ".ẩn.xlsx", "c.xlsx~", "~WRL1234.tmp"}
    assert "tệp khóa" in reasons["~$a.xlsx"] and "tệp khóa" in reasons[".~lock.a.xlsx#"]


def test_format_is_read_from_the_bytes(tmp_path, filled):
    good = filled()
    cases = {
        "ok.xlsx": good.read_bytes(),
        "pdf.xlsx": b"%PDF-1.7\n...",
        "empty.xlsx": b"",
        "text.xls": b"Ma CDCS,Ten\nVT001,x\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    kinds = {name: fingerprint(tmp_path / name, name).kind for name in cases}
    assert kinds == {"ok.xlsx": "xlsx", "pdf.xlsx": "pdf", "empty.xlsx": "empty", "text.xls": "unknown"}
    # A file too large to be read at once is sniffed from the disk, the same way.
    assert {name: sniff(tmp_path / name, data[:8]) for name, data in cases.items()} == kinds


def test_a_large_file_is_hashed_and_archived_in_chunks_with_the_same_result(tmp_path, filled, monkeypatch):
    good = filled()
    small = fingerprint(good, "a", tmp_path / "a")
    monkeypatch.setattr(intake, "_IN_ONE_READ", 1024)
    large = fingerprint(good, "a", tmp_path / "b")
    assert (
        (small.sha256, small.size, small.kind)
        == (large.sha256, large.size, large.kind)
        == (
            hashlib.sha256(good.read_bytes()).hexdigest(),
            good.stat().st_size,
            "xlsx",
        )
    )
    assert [p.read_bytes() for p in (tmp_path / "a").iterdir()] == [good.read_bytes()]
    assert [p.read_bytes() for p in (tmp_path / "b").iterdir()] == [good.read_bytes()]


@pytest.mark.slow
def test_renamed_formats_are_read_by_content(tmp_path, filled, form, settings, roster):
    good = filled(rows=[{}])
    lo = tmp_path / "lo"
    profile = f"-env:UserInstallation=file://{tmp_path / 'profile'}"
    for fmt in ("xls", "ods"):
        subprocess.run(
            [soffice(), "--headless", "--norestore", profile, "--convert-to", fmt, "--outdir", str(lo), str(good)],
            check=True,
            timeout=180,
            capture_output=True,
        )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(lo / "filled.xls", inbox / "xls đổi tên.xlsx")
    shutil.copy(lo / "filled.ods", inbox / "ods đổi tên.xlsx")
    shutil.copy(good, inbox / "thật.xlsx")
    # A Word document with a spreadsheet's name is refused with its real kind.
    docx = tmp_path / "w.docx"
    shutil.make_archive(str(tmp_path / "w"), "zip", root_dir=_word_tree(tmp_path))
    (tmp_path / "w.zip").rename(docx)
    shutil.copy(docx, inbox / "văn bản.xlsx")
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    results = {r.name: r for r in run(Period(s, form, roster)).files}
    assert results["xls đổi tên.xlsx"].kind == "xls" and results["ods đổi tên.xlsx"].kind == "ods"
    for name in ("xls đổi tên.xlsx", "ods đổi tên.xlsx"):
        assert results[name].status in (Status.ACCEPTED, Status.SUPERSEDED), [f.message for f in results[name].findings]
        assert [f.code for f in results[name].findings] == ["extension-mismatch"]
        assert results[name].initiatives == 1
    assert results["văn bản.xlsx"].status is Status.REJECTED
    assert "văn bản Word" in results["văn bản.xlsx"].findings[0].message


def _word_tree(tmp_path):
    root = tmp_path / "word-tree"
    (root / "word").mkdir(parents=True)
    (root / "word" / "document.xml").write_text("<w:document/>")
    (root / "[Content_Types].xml").write_text("<Types/>")
    return root


def test_same_bytes_under_two_names_is_one_submission_and_originals_stay_identical(
    tmp_path, filled, form, settings, roster
):
    good = filled(rows=[{}]).read_bytes()
    inbox = tmp_path / "inbox"
    (inbox / "thư cũ").mkdir(parents=True)
    (inbox / "Báo cáo.xlsx").write_bytes(good)
    (inbox / "thư cũ" / "Báo cáo (1).xlsx").write_bytes(good)
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    statuses = sorted((r.name, r.status) for r in run(Period(s, form, roster)).files)
    assert statuses == [("Báo cáo.xlsx", Status.ACCEPTED), ("thư cũ/Báo cáo (1).xlsx", Status.DUPLICATE)]
    digest = hashlib.sha256(good).hexdigest()
    archived = list((tmp_path / "outbox" / "luu-tru").iterdir())
    assert [p.name for p in archived] == [f"{digest}.xlsx"] and archived[0].read_bytes() == good
    assert (inbox / "Báo cáo.xlsx").read_bytes() == good
    # Archiving again writes nothing new and keeps the first copy.
    assert archive(fingerprint(inbox / "Báo cáo.xlsx", "x"), tmp_path / "outbox" / "luu-tru") == archived[0]


def test_a_file_unchanged_since_the_last_run_is_not_read_again(tmp_path, filled, settings, form, roster, monkeypatch):
    """Intake knows a file by its name, size and modification time from the run before; a file
    touched, replaced, or whose archived copy is gone is read again."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.xlsx").write_bytes(filled(name="x.xlsx").read_bytes())
    (inbox / "b.xlsx").write_bytes(filled(name="y.xlsx", code="VT022").read_bytes())
    period = Period(settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), form, roster)
    read: list[str] = []
    real = intake.fingerprint

    def counted(path, name, archive_dir=None, stat=None):
        read.append(name)
        return real(path, name, archive_dir, stat)

    monkeypatch.setattr(intake, "fingerprint", counted)
    first = {r.name: r.sha256 for r in run(period).files}
    assert sorted(read) == ["a.xlsx", "b.xlsx"]

    read.clear()
    assert {r.name: r.sha256 for r in run(period).files} == first
    assert read == []

    # Touched (saved again): read again, the same content.
    later = (inbox / "a.xlsx").stat().st_mtime + 60
    os.utime(inbox / "a.xlsx", (later, later))
    read.clear()
    assert {r.name: r.sha256 for r in run(period).files} == first
    assert read == ["a.xlsx"]

    # Another content of the same size under the same name, with a new time: the new content.
    data = bytearray((inbox / "b.xlsx").read_bytes())
    data[-30] ^= 1  # one bit of the zip's directory: another file, of the same size
    (inbox / "b.xlsx").write_bytes(bytes(data))
    read.clear()
    after = {r.name: r.sha256 for r in run(period).files if r.name == "b.xlsx"}
    assert read == ["b.xlsx"] and after["b.xlsx"] == hashlib.sha256(bytes(data)).hexdigest() != first["b.xlsx"]

    # The archived copy gone: read again, and archived again.
    archived = tmp_path / "outbox" / "luu-tru" / f"{first['a.xlsx']}.xlsx"
    archived.unlink()
    read.clear()
    run(period)
    assert read == ["a.xlsx"] and archived.exists()
