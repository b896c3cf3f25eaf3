"""Intake stage: the files in the inbox -> `Submission`s, each with its fingerprint and real format.

Lock, hidden and temporary files are set aside with a reason; every other file is identified by
its SHA-256 (the same file under two names is one submission), its format is read from its bytes
rather than its extension, and an untouched copy is kept in the archive before anything else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipeline.sheets import ZIP_ERRORS

SPREADSHEET_KINDS = ("xlsx", "xlsm", "xls", "ods")
_KIND_WORDS = {
    "pdf": "tệp PDF",
    "docx": "văn bản Word",
    "doc": "văn bản Word",
    "zip": "tệp nén ZIP",
    "msg": "thư Outlook",
    "empty": "tệp rỗng",
    "unknown": "không rõ định dạng",
}


def kind_words(kind: str) -> str:
    """A file's format in words ("tệp PDF")."""
    return _KIND_WORDS.get(kind, kind)


@dataclass(frozen=True)
class Submission:
    path: Path
    name: str  # path relative to the inbox, as the officer sees it
    sha256: str
    size: int
    kind: str  # xlsx | xlsm | xls | ods | pdf | docx | doc | zip | empty | unknown
    # When it arrived: the file's modification time when first seen (when the officer saved the
    # attachment); a message's own date for a file taken from an e-mail.
    received_at: dt.datetime | None = None
    # For an attachment of an e-mail: the message's Message-ID and its sender's address.
    message_id: str | None = None
    sender: str | None = None

    @property
    def is_spreadsheet(self) -> bool:
        return self.kind in SPREADSHEET_KINDS

    @property
    def extension_matches(self) -> bool:
        suffix = self.path.suffix.lower().lstrip(".")
        return suffix == self.kind or (self.kind == "xlsx" and suffix == "xlsm")

    @property
    def kind_words(self) -> str:
        return kind_words(self.kind)


@dataclass(frozen=True)
class Skipped:
    path: Path
    name: str
    reason: str  # Vietnamese


# Files that folders hold by themselves: placeholders of the project's own empty folders, and what
# Windows, macOS and version control leave behind. They are no one's submission and are not listed.
_FOLDER_LITTER = frozenset({".gitkeep", ".keep", ".gitignore", "desktop.ini", "thumbs.db", ".ds_store"})


def is_litter(path: Path) -> bool:
    name = path.name.casefold()
    return name in _FOLDER_LITTER or name.startswith("._")  # "._x.xlsx": macOS's resource fork


def skip_reason(path: Path) -> str | None:
    name = path.name
    if name.startswith("~$") or name.startswith(".~lock"):
        return "tệp khóa tạm của Excel/LibreOffice (tạo ra khi đang mở tệp), không phải bài nộp"
    if name.startswith("."):
        return "tệp ẩn"
    if name.endswith("~") or path.suffix.lower() in (".tmp", ".crdownload", ".part"):
        return "tệp tạm"
    return None


def scan_inbox(inbox: Path) -> tuple[list[Path], list[Skipped]]:
    """All files below the inbox, sorted; lock, hidden and temporary files set aside with a reason;
    folder litter (`is_litter`) and hidden folders left out altogether."""
    files, skipped = [], []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        name = path.relative_to(inbox).as_posix()
        if any(part.startswith(".") for part in path.relative_to(inbox).parts[:-1]) or is_litter(path):
            continue  # inside a hidden folder (our own archive, a sync tool's folder), or a folder's own file
        reason = skip_reason(path)
        if reason:
            skipped.append(Skipped(path, name, reason))
        else:
            files.append(path)
    return files, skipped


# A file up to this size is read once into memory, hashed, sniffed and archived from there; a larger
# one is hashed and copied in chunks.
_IN_ONE_READ = 32 << 20


def fingerprint(
    path: Path, name: str, archive_dir: Path | None = None, stat: os.stat_result | None = None
) -> Submission:
    """The file as a submission: its hash, size, kind and arrival time. With `archive_dir`, its
    untouched copy is kept there too (`archive`), from the same read: the archive holds exactly the
    bytes that were hashed, even if the file changes meanwhile. `stat`: the file's, when taken already."""
    stat = stat or path.stat()
    received = dt.datetime.fromtimestamp(stat.st_mtime).replace(microsecond=0)
    if stat.st_size > _IN_ONE_READ:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            head = fh.read(8)
            digest.update(head)
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        submission = Submission(path, name, digest.hexdigest(), stat.st_size, sniff(path, head), received)
        if archive_dir is not None:
            archive(submission, archive_dir)
        return submission
    data = path.read_bytes()
    submission = Submission(path, name, hashlib.sha256(data).hexdigest(), len(data), sniff_bytes(data), received)
    if archive_dir is not None:
        _keep(archive_dir, submission, lambda tmp: tmp.write_bytes(data))
    return submission


# What intake found at a name of the inbox: the file's size, modification time (ns), hash and kind.
Stamp = tuple[int, int, str, str]


def stamped(path: Path, name: str, stamps: Mapping[str, Stamp]) -> bool:
    """Whether the file at `name` has the size and modification time intake found there last."""
    return _seen(path.stat(), name, stamps) is not None


def _seen(stat: os.stat_result, name: str, stamps: Mapping[str, Stamp]) -> Stamp | None:
    """What intake found at `name` last, when the file there has the same size and modification time."""
    seen = stamps.get(name)
    return seen if seen is not None and seen[:2] == (stat.st_size, stat.st_mtime_ns) else None


def take(
    path: Path, name: str, archive_dir: Path, stamps: Mapping[str, Stamp]
) -> tuple[Submission, tuple[str, int, int, str, str]]:
    """The inbox's file at `name` as a submission, kept in the archive (`fingerprint`), and its
    stamp for the next run. A file with the size and modification time that intake found at this
    name before, whose archived copy is there, is that file: it is not read again (as backup and
    sync tools judge a file unchanged); any other is read."""
    stat = path.stat()
    seen = _seen(stat, name, stamps)
    if seen is not None and archived_path(archive_dir, seen[2], name).exists():
        received = dt.datetime.fromtimestamp(stat.st_mtime).replace(microsecond=0)
        submission = Submission(path, name, seen[2], stat.st_size, seen[3], received)
    else:
        submission = fingerprint(path, name, archive_dir, stat)
    return submission, (name, stat.st_size, stat.st_mtime_ns, submission.sha256, submission.kind)


def by_arrival(submissions: list[Submission]) -> list[Submission]:
    """Submissions in the order they arrived; for files that arrived in the same second, by folder,
    then in the order given (the inbox's by name, a message's in the order it carries them)."""
    order = {id(s): i for i, s in enumerate(submissions)}
    return sorted(
        submissions, key=lambda s: (s.received_at or dt.datetime.min, s.name.rpartition("/")[0], order[id(s)])
    )


def sniff(path: Path, head: bytes) -> str:
    """The kind of the file at `path`, whose first bytes are `head`."""
    return _sniff(head, lambda: path)


def sniff_bytes(data: bytes) -> str:
    """The kind of a file held in memory."""
    return _sniff(data[:8], lambda: io.BytesIO(data))


def _sniff(head: bytes, source: Callable[[], Path | BinaryIO]) -> str:
    if not head:
        return "empty"
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _cfb_kind(source())
    if head.startswith(b"PK"):
        return _zip_kind(source())
    return "unknown"


_MAIN_TYPES = {
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    b"application/vnd.ms-excel.sheet.macroenabled.main+xml": "xlsm",
}


def _zip_kind(source: Path | BinaryIO) -> str:
    try:
        with zipfile.ZipFile(source) as zf:
            # Excel accepts "\" in part names and any case; so do we, when deciding the kind.
            names = {n.replace("\\", "/").lower(): n for n in zf.namelist()}
            macros = "xl/vbaproject.bin" in names
            if "xl/workbook.xml" in names:
                return "xlsm" if macros else "xlsx"
            if "mimetype" in names:
                with zf.open(names["mimetype"]) as fh:  # read a little, never inflate a whole part here
                    mimetype = fh.read(100)
                return "ods" if b"opendocument.spreadsheet" in mimetype else "unknown"
            if "word/document.xml" in names:
                return "docx"
            if "[content_types].xml" in names:
                with zf.open(names["[content_types].xml"]) as fh:
                    types = fh.read(64 * 1024).lower()
                for main, kind in _MAIN_TYPES.items():
                    if main in types:
                        return "xlsm" if macros and kind == "xlsx" else kind
            return "zip"
    except ZIP_ERRORS:
        return "unknown"


def _cfb_kind(source: Path | BinaryIO) -> str:
    """An OLE2 compound file: an Excel 97-2003 workbook, or something else (Word, Outlook)."""
    with open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source) as fh:
        data = fh.read(1 << 22).lower()  # stream names in the directory, in any case
    if "workbook".encode("utf-16-le") in data or "book".encode("utf-16-le") in data:
        return "xls"
    if "worddocument".encode("utf-16-le") in data:
        return "doc"
    if "__substg1.0_".encode("utf-16-le") in data:
        return "msg"  # an Outlook message saved as a file
    return "unknown"


def archived_path(archive_dir: Path, sha256: str, name: str) -> Path:
    """Where the archive keeps a file: named by its hash, with the extension it arrived with."""
    return archive_dir / f"{sha256}{Path(name).suffix.lower()[:8]}"


def archive(submission: Submission, archive_dir: Path) -> Path:
    """An untouched copy of the original, named by its hash, written once."""
    return _keep(archive_dir, submission, lambda tmp: shutil.copyfile(submission.path, tmp))


def _keep(archive_dir: Path, submission: Submission, write: Callable[[Path], object]) -> Path:
    target = archived_path(archive_dir, submission.sha256, submission.path.name)
    if not target.exists():
        tmp = target.with_name(f".tmp-{target.name}")
        try:
            write(tmp)
        except FileNotFoundError:  # the archive's first file: its folder comes first
            archive_dir.mkdir(parents=True, exist_ok=True)
            write(tmp)
        tmp.replace(target)
    return target
