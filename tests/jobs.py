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


def _restored(value: int) -> tuple[int, float]:
    """What a `Slow` result becomes where it is unpickled: its value and when that happened."""
    time.sleep(0.3)
    return value, time.time()


class Slow:
    """A result that takes 0.3 s to unpickle (in the parent, for a worker's result)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return _restored, (self.value,)


def slow_result(value: int) -> Slow:
    return Slow(value)


def started_at() -> float:
    return time.time()


def span(seconds: float) -> tuple[float, float]:
    """Sleep `seconds`; when this job began and ended."""
    begun = time.time()
    time.sleep(seconds)
    return begun, time.time()


_KEPT: dict[str, object] = {}


def keep(key: str, value: object) -> int:
    """Keep `value` in this process under `key` (as a job that prepares what the next one uses)."""
    _KEPT[key] = value
    return os.getpid()


def kept(key: str) -> tuple[int, object]:
    """This process's id, and what `keep` kept here under `key` (None: nothing)."""
    return os.getpid(), _KEPT.get(key)


def die() -> None:
    """A job whose process dies under it."""
    os._exit(3)
