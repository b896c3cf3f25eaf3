"""The consolidated report in every format: DOCX (the official document), HTML, XLSX, and PDF.

Each format has its function here, so that a run can give the long ones to worker processes and
write them side by side (`pipeline.run`). The PDF comes from the DOCX through LibreOffice when asked
for; without LibreOffice it is simply not written and the caller says so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from pipeline.config import Settings
from pipeline.figures import Figures
from pipeline.form import Form

if TYPE_CHECKING:
    from pipeline.run import RunResult

REPORT_STEM = "bao-cao-tong-hop"


def write_report_docx(outbox: Path, figures: Figures, settings: Settings, pdf: bool = False) -> dict[str, Path]:
    """The DOCX and, on request, the PDF made from it."""
    from pipeline.render.docx import ConversionError, docx_to_pdf
    from pipeline.render.docx import write_report_docx as write

    written = {"report_docx": write(outbox / f"{REPORT_STEM}.docx", figures, settings)}
    if pdf:
        # A failed conversion costs the PDF only: the DOCX it comes from is there to print.
        with contextlib.suppress(ConversionError):
            converted = docx_to_pdf(written["report_docx"], outbox)
            if converted is not None:
                written["report_pdf"] = converted
    return written


def write_report_html(path: Path, figures: Figures, settings: Settings) -> Path:
    from pipeline.render.html import write_report_html as write

    return write(path, figures, settings)


def write_report_xlsx(
    path: Path, figures: Figures, frame: pd.DataFrame | Path, result: RunResult, settings: Settings, form: Form
) -> Path:
    """The report's workbook (the functions of this module can be given to a worker process; give
    it the dataset's Parquet file rather than the frame, which is costly to send)."""
    from pipeline.render.xlsx import write_report_xlsx as write

    if isinstance(frame, Path):
        import pandas as pd

        frame = pd.read_parquet(frame)
    return write(path, figures, frame, result, settings, form)
