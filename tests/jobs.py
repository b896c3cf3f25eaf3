"""Small jobs for the worker-pool tests: importable in a worker process, standard library only."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def allocate(mb: int) -> int:
    """Take `mb` megabytes at once and give back how many bytes that was."""
    return len(bytearray(mb << 20))


_HELD: list[bytearray] = []


def hold(mb: int) -> int:
    """Take `mb` megabytes and keep them for the life of the process (as a cache would)."""
    _HELD.append(bytearray(mb << 20))
    return mb


def hang(pid_file: str, seconds: float) -> str:
    """A reader stuck on a file: write this process's id to `pid_file`, then sleep for `seconds`
    (far past any deadline under test) and say that it was never stopped."""
    Path(pid_file).write_text(str(os.getpid()), encoding="ascii")
    time.sleep(seconds)
    return "not stopped"


def loaded(module: str) -> tuple[int, bool]:
    """This process's id, and whether `module` was imported here before the job."""
    return os.getpid(), module in sys.modules
