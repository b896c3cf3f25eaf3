"""Exceptions that mean "cannot go on", each with its exit code and a Vietnamese message.

Problems inside a submitted file are never exceptions: they are findings (`pipeline.findings`).
"""

from __future__ import annotations

import re

# A sentence closed twice, where a message ends with a part that has its own punctuation
# ('... "report.deadline"?.', '... lỗi.).'): one mark is enough. An ellipsis stays.
_DOUBLED = re.compile(r"(?<=[?!:])\.(?=\s|$)|(?<![.])\.(?=\.(?:\s|$))")


def one_stop(message: str) -> str:
    """`message` without doubled end punctuation."""
    return _DOUBLED.sub("", message)


class PipelineError(Exception):
    """An operational failure: the command stops and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(one_stop(message))


class ConfigError(PipelineError):
    """The configuration file is missing, malformed, or has a wrong or missing key."""

    exit_code = 3


class RosterError(PipelineError):
    """The roster of unions cannot be read."""

    exit_code = 4
