"""File-system helpers for outputs: safe file names and atomic writes.

Names built from untrusted text (a union's name) keep their Vietnamese letters but can never leave
the target folder or upset Windows; every output is written to a temporary file beside its target
and renamed, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME = 120


def safe_filename(name: str, suffix: str = "", reserve: int = 0) -> str:
    """A file name (no folder part) that is valid on Windows and Linux, NFC, at most 120 chars,
    `suffix` included (and `reserve` more, for an extension the caller adds)."""
    text = unicodedata.normalize("NFC", name)
    text = _FORBIDDEN.sub("-", text)
    text = re.sub(r"\s+", " ", text).strip(" .-")
    if not text or text.split(".")[0].rstrip(" ").upper() in _RESERVED:  # Windows ignores "nul .x"'s space
        text = f"_{text}"
    return text[: MAX_NAME - len(suffix) - reserve].rstrip(" .") + suffix


def numbered(name: str, taken: Callable[[str], bool]) -> str:
    """`name`, or else "stem (2).ext", "stem (3).ext" and on: the first that `taken` does not hold
    (another file in the folder, another attachment of the message)."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, n = name, 2
    while taken(candidate):
        candidate, n = f"{stem} ({n}){dot}{suffix}", n + 1
    return candidate


_TEMPORARY = ".tmp-"  # the start of `atomic_path`'s temporary names


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` in one step."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TEMPORARY, suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_unfinished(folder: Path) -> None:
    """Remove the temporary files that `atomic_path` left in `folder` when the process writing
    them was killed before it could (a worker past its deadline, a run stopped with Ctrl+C). Only
    for a folder that nothing else writes into at the time; a file still open elsewhere (Windows)
    stays."""
    for path in folder.glob(f"{_TEMPORARY}*"):
        with contextlib.suppress(OSError):
            path.unlink()
