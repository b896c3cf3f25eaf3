"""The consolidated report for the provincial federation, from one model in every format.

`pipeline.report.model` builds the `Report` from the figures and the officer's text
(`pipeline.report.officer`); `docx`, `html` and `xlsx` render it, the PDF comes from the DOCX
through LibreOffice, and `audit` writes where every figure comes from. The functions here are the
entry points a run gives to worker processes (they take plain, picklable arguments) and writes side
by side (`pipeline.stages`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the package is light: the officer's text is read by runs that render nothing
    import pandas as pd

    from pipeline.config import Settings
    from pipeline.form import Form
    from pipeline.report.model import Report
    from pipeline.results import RunResult

REPORT_STEM = "bao-cao-tong-hop"
AUDIT_STEM = "ho-so-so-lieu"


def write_report_docx(outbox: Path, report: Report, pdf: bool = False) -> dict[str, Path]:
    """The DOCX and, on request, the PDF made from it."""
    from pipeline.report.docx import ConversionError, docx_to_pdf
    from pipeline.report.docx import write_report_docx as write

    written = {"report_docx": write(outbox / f"{REPORT_STEM}.docx", report)}
    # A PDF made from an earlier DOCX is never left beside this one, to be signed by mistake
    # (unless a viewer holds it open on Windows: then the conversion could not replace it either).
    with contextlib.suppress(OSError):
        (outbox / f"{REPORT_STEM}.pdf").unlink(missing_ok=True)
    if pdf:
        # A failed conversion costs the PDF only: the DOCX it comes from is there to print.
        with contextlib.suppress(ConversionError):
            converted = docx_to_pdf(written["report_docx"], outbox)
            if converted is not None:
                written["report_pdf"] = converted
    return written


def write_report_html(path: Path, report: Report) -> Path:
    from pipeline.report.html import write_report_html as write

    return write(path, report)


def write_report_xlsx(
    path: Path, report: Report, frame: pd.DataFrame | Path, result: RunResult, settings: Settings, form: Form
) -> Path:
    """The report's workbook (give a worker the dataset's Parquet file rather than the frame, which
    is costly to send)."""
    from pipeline.report.xlsx import made_rows
    from pipeline.report.xlsx import write_report_xlsx as write

    made = made_rows(frame) if isinstance(frame, Path) else None  # by this process, while the figures were made
    return write(path, report, _frame(frame), result, settings, form, made)


def write_audit(path: Path, report: Report, frame: pd.DataFrame | Path, form: Form) -> Path:
    """Where every figure comes from: the files, sheets, rows and hashes (`pipeline.report.audit`)."""
    from pipeline.report.audit import write_audit as write

    return write(path, report, _frame(frame), form)


def _frame(frame: pd.DataFrame | Path) -> pd.DataFrame:
    """The dataset: given, or read from its Parquet file (on a worker)."""
    if isinstance(frame, Path):
        import pandas as pd

        return pd.read_parquet(frame)
    return frame
