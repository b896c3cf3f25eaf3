"""Where every figure of the report comes from, in a workbook of its own: `ho-so-so-lieu.xlsx`.

The signed document carries what the province reads; this file carries the lineage behind it, for
the officer and anyone who checks: the files the figures come from (with their SHA-256), every
initiative with the file, sheet and row it was read from, the outstanding initiatives with theirs,
and for each union whose report was rejected, its file and the errors at their cells. The report
workbook's "Sáng kiến" and "Nguồn" sheets hold the same lineage beside the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.figures import GapKind
from pipeline.form import Form
from pipeline.report.model import Report
from pipeline.report.rows import SheetRows
from pipeline.report.xlsx import (
    FIRST_ROW,
    HEADER_ROW,
    Book,
    Column,
    cut_to_sheet,
    values_frame,
    write_sources,
    write_workbook,
)

SHEETS = ("Tệp nguồn", "Từng sáng kiến", "Sáng kiến tiêu biểu", "Tệp bị trả lại")
INITIATIVE_COLUMNS = (
    Column("Mã CĐCS", 9),
    Column("Công đoàn cơ sở", 28),
    Column("Tên sáng kiến", 40),
    Column("Tác giả", 20),
    Column("Tệp nguồn", 30),
    Column("Trang", 12),
    Column("Dòng", 7, "int"),
    Column("SHA-256 của tệp", 68),
)
OUTSTANDING_COLUMNS = (
    Column("STT", 5, "int"),
    Column("Mã CĐCS", 9),
    Column("Tên sáng kiến", 40),
    Column("Tệp nguồn", 30),
    Column("Trang", 12),
    Column("Dòng", 7, "int"),
    Column("SHA-256 của tệp", 68),
)
REJECTED_COLUMNS = (
    Column("Mã CĐCS", 9),
    Column("Công đoàn cơ sở", 28),
    Column("Tệp", 30),
    Column("Lỗi, tại ô", 90),
)


def write_audit(path: Path, report: Report, frame: pd.DataFrame, form: Form) -> Path:
    """The audit workbook at `path` (written to a temporary file, then renamed); returns `path`."""
    return write_workbook(path, lambda wb: _write_sheets(wb, report, frame, form))


def _write_sheets(wb: Any, report: Report, frame: pd.DataFrame, form: Form) -> list[SheetRows]:
    """Every sheet; the rows of the sources, of the initiatives and of those proposed for commendation
    come back to be put into the saved package."""
    figures = report.figures
    wb.set_properties({"title": f"Hồ sơ số liệu – {report.document_title}", "subject": report.period})
    book = Book(wb, report)
    sources, initiatives, outstanding, rejected = (wb.add_worksheet(name) for name in SHEETS)
    files = write_sources(book, sources, figures)

    keys = [*map(form.key, ("unit_code", "unit_name", "title", "author")), "tep_nguon", "trang_nguon", "dong_nguon",
            "sha256_nguon"]  # fmt: skip
    lineage, note = cut_to_sheet(frame[keys])
    book.sheet(initiatives, "Nguồn của từng sáng kiến được tổng hợp", INITIATIVE_COLUMNS, note=note)
    last = FIRST_ROW + len(lineage) - 1
    initiatives.autofilter(HEADER_ROW, 0, max(last, HEADER_ROW), len(INITIATIVE_COLUMNS) - 1)
    initiatives.freeze_panes(FIRST_ROW, 0)
    rows = book.rows(initiatives, lineage, INITIATIVE_COLUMNS)

    book.sheet(outstanding, "Nguồn của các sáng kiến tiêu biểu đề nghị khen thưởng (Phụ lục II)",
               OUTSTANDING_COLUMNS)  # fmt: skip
    chosen = [(i, o.code, o.title, o.source.file, o.source.sheet, o.source.row, o.source.sha256)
              for i, o in enumerate(figures.outstanding, start=1)]  # fmt: skip
    listed = book.rows(outstanding, values_frame(chosen, len(OUTSTANDING_COLUMNS)), OUTSTANDING_COLUMNS)

    r = book.sheet(rejected, "Các CĐCS có báo cáo bị trả lại: tệp và lỗi tại ô (Phụ lục III)", REJECTED_COLUMNS)
    for g in figures.gaps:
        if g.kind is GapKind.REJECTED:
            book.row(rejected, r, (g.code, g.name, g.file or "", "\n".join(g.problems)), REJECTED_COLUMNS)
            r += 1
    return [files, rows, listed]
