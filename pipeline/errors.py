"""Exceptions that mean "cannot go on", each with its exit code and a Vietnamese message.

Problems inside a submitted file are never exceptions: they are findings (`pipeline.findings`).
"""

from __future__ import annotations


class PipelineError(Exception):
    """An operational failure: the command stops and exits with `exit_code`."""

    exit_code = 1


class ConfigError(PipelineError):
    """The configuration file is missing, malformed, or has a wrong or missing key."""

    exit_code = 3


class RosterError(PipelineError):
    """The roster of unions cannot be read."""

    exit_code = 4
