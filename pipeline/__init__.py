"""Turns the Excel reports of grassroots trade unions into one checked dataset and report.

The public API (see `pipeline.api`):

    import pipeline

    period = pipeline.open_period("pipeline.toml")
    result = pipeline.run(period)

`open_period`, `Period`, `run`, `check`, `status`, `templates`; the mail (`fetch_mail`,
`draft_replies`, `draft_reminders`, `send_drafts`); the results (`RunResult`,
`FileResult`, `Status`), the findings (`Finding`, `Location`, `Severity`, `Code`), where a union
stands (`UnitState`, `Reporting`), `Progress` and `PipelineError`. The names are loaded on first
use, so that `import pipeline` stays light for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Period": "pipeline.api",
    "open_period": "pipeline.api",
    "run": "pipeline.api",
    "check": "pipeline.api",
    "status": "pipeline.api",
    "templates": "pipeline.api",
    "fetch_mail": "pipeline.api",
    "draft_replies": "pipeline.api",
    "draft_reminders": "pipeline.api",
    "send_drafts": "pipeline.api",
    "RunResult": "pipeline.results",
    "FileResult": "pipeline.results",
    "Status": "pipeline.results",
    "Finding": "pipeline.findings",
    "Location": "pipeline.findings",
    "Severity": "pipeline.findings",
    "Code": "pipeline.findings",
    "UnitState": "pipeline.merge",
    "Reporting": "pipeline.merge",
    "Progress": "pipeline.stages",
    "PipelineError": "pipeline.errors",
}
__all__ = [
    "Code",
    "FileResult",
    "Finding",
    "Location",
    "Period",
    "PipelineError",
    "Progress",
    "Reporting",
    "RunResult",
    "Severity",
    "Status",
    "UnitState",
    "__version__",
    "check",
    "draft_reminders",
    "draft_replies",
    "fetch_mail",
    "open_period",
    "run",
    "send_drafts",
    "status",
    "templates",
]

if TYPE_CHECKING:
    from pipeline.api import (
        Period,
        check,
        draft_reminders,
        draft_replies,
        fetch_mail,
        open_period,
        run,
        send_drafts,
        status,
        templates,
    )
    from pipeline.errors import PipelineError
    from pipeline.findings import Code, Finding, Location, Severity
    from pipeline.merge import Reporting, UnitState
    from pipeline.results import FileResult, RunResult, Status
    from pipeline.stages import Progress


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
