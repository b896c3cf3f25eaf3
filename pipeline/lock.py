"""One run at a time: an operating-system lock on a file beside the ledger.

The lock is released by the operating system when the process ends, however it ends, so a killed
run never leaves a stale lock behind. A second run refuses at once with a clear message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PipelineError

LOCK_NAME = "so-theo-doi.lock"


class BusyError(PipelineError):
    """Another run holds the ledger."""

    exit_code = 6


@contextlib.contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
    try:
        fh.seek(0)  # Windows locks from the current position
        if not _try_lock(fh):
            try:
                holder = fh.read().strip() or "không rõ"
            except OSError:  # Windows does not let us read a locked region
                holder = "không rõ"
            raise BusyError(
                f'Một lần chạy khác đang dùng sổ theo dõi trong "{folder}" ({holder}). '
                "Hãy đợi lần chạy đó xong rồi chạy lại."
            )
        fh.seek(0)
        fh.truncate()
        fh.write(f"tiến trình {os.getpid()}, bắt đầu lúc {dt.datetime.now():%H:%M:%S %d/%m/%Y}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def _try_lock(fh: object) -> bool:
    fd = fh.fileno()  # type: ignore[attr-defined]
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
