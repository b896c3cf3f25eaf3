"""Small jobs for the worker-pool tests: importable in a worker process, standard library only."""

from __future__ import annotations


def allocate(mb: int) -> int:
    """Take `mb` megabytes at once and give back how many bytes that was."""
    return len(bytearray(mb << 20))


_HELD: list[bytearray] = []


def hold(mb: int) -> int:
    """Take `mb` megabytes and keep them for the life of the process (as a cache would)."""
    _HELD.append(bytearray(mb << 20))
    return mb
