"""The outputs of a run, as one registry: what each is, where it is written, where it runs, what it needs.

`OUTPUTS` lists every file a run writes into the outbox beside the feedback (`pipeline.render.
feedback`), in the order people look at them. A new format is one module that writes it and one
entry here: `pipeline.stages` writes the entries side by side (those marked "worker" on the runner's
worker processes when the period is large enough to pay for them, the others in a thread of the
run's own process), the CLI prints each by its label, and a test holds the README's table of
outputs to this list.

A writer takes the `Context` of the run and returns the paths it wrote, by key. A worker's context
carries the dataset as its Parquet file, never as a frame (costly to send).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipeline.config import Settings
from pipeline.form import Form
from pipeline.results import RunResult

if TYPE_CHECKING:  # a run with nothing new imports neither
    import pandas as pd

    from pipeline.report.model import Report


@dataclass(frozen=True)
class Context:
    """What the writers need: the run's results, its dataset (a frame here, its Parquet file on a
    worker) and, with a roster, the report."""

    outbox: Path
    result: RunResult
    settings: Settings
    form: Form
    parquet: Path
    report: Report | None = None
    frame: pd.DataFrame | None = None
    pdf: bool = False

    def dataset(self) -> pd.DataFrame:
        import pandas as pd

        return self.frame if self.frame is not None else pd.read_parquet(self.parquet)


@dataclass(frozen=True)
class Output:
    key: str  # in run.json's "outputs" and RunResult.outputs
    file: str  # its name in the outbox
    label: str  # what the CLI calls it (Vietnamese)
    what: str  # what it holds, for the README (English)
    where: Literal["here", "worker"]
    report: bool  # made from the report (only when there is a roster)
    write: Callable[[Context], dict[str, Path]]
    also: tuple[str, ...] = ()  # the keys of what it may write besides (the PDF beside the DOCX)
    # For the longest output on a worker: what its process imports from validation on, so that it
    # starts ready (`Runner.prestart_own`); its job is sent first. And what that process may make
    # of the dataset's Parquet file while the run makes the figures (`Runner.give_own`), for the
    # output to use.
    ahead: tuple[str, ...] = ()
    prepare: Callable[[Path, Form], Any] | None = None


def _findings(ctx: Context) -> dict[str, Path]:
    from pipeline.render.outputs import write_findings_csv

    findings = (f for r in ctx.result.files for f in r.findings)
    return {"findings": write_findings_csv(findings, ctx.outbox / FINDINGS_CSV)}


def _dataset_csv(ctx: Context) -> dict[str, Path]:
    from pipeline.render.outputs import write_dataset_csv

    return {"dataset_csv": write_dataset_csv(ctx.dataset(), ctx.outbox / DATASET_CSV)}


def _docx(ctx: Context) -> dict[str, Path]:
    from pipeline.report import write_report_docx

    assert ctx.report is not None
    return write_report_docx(ctx.outbox, ctx.report, ctx.pdf)


def _html(ctx: Context) -> dict[str, Path]:
    from pipeline.report import REPORT_STEM, write_report_html

    assert ctx.report is not None
    return {"report_html": write_report_html(ctx.outbox / f"{REPORT_STEM}.html", ctx.report)}


def _xlsx(ctx: Context) -> dict[str, Path]:
    from pipeline.report import REPORT_STEM, write_report_xlsx

    assert ctx.report is not None
    path = ctx.outbox / f"{REPORT_STEM}.xlsx"
    frame = ctx.frame if ctx.frame is not None else ctx.parquet
    return {"report_xlsx": write_report_xlsx(path, ctx.report, frame, ctx.result, ctx.settings, ctx.form)}


def _xlsx_rows(parquet: Path, form: Form) -> int:
    from pipeline.report.xlsx import make_dataset_rows

    return make_dataset_rows(parquet, form)


def _audit(ctx: Context) -> dict[str, Path]:
    from pipeline.report import AUDIT_STEM, write_audit

    assert ctx.report is not None
    frame = ctx.frame if ctx.frame is not None else ctx.parquet
    return {"audit": write_audit(ctx.outbox / f"{AUDIT_STEM}.xlsx", ctx.report, frame, ctx.form)}


FINDINGS_CSV = "ket-qua-kiem-tra.csv"
DATASET_CSV = "du-lieu-tong-hop.csv"
DATASET_PARQUET = "du-lieu-tong-hop.parquet"
RUN_JSON = "run.json"

# In the order people look at them; those marked "worker" start first, on the workers.
OUTPUTS: tuple[Output, ...] = (
    Output(
        "report_docx",
        "bao-cao-tong-hop.docx",
        "Văn bản Word (để sửa, ký, đóng dấu)",
        "the consolidated report as the official document to sign (and `bao-cao-tong-hop.pdf` with `--pdf`)",
        "worker",
        True,
        _docx,
        ("report_pdf",),
    ),
    Output(
        "report_html",
        "bao-cao-tong-hop.html",
        "Trang web (xem trên điện thoại, in được)",
        "the same report as one self-contained page, with charts",
        "here",
        True,
        _html,
    ),
    Output(
        "report_xlsx",
        "bao-cao-tong-hop.xlsx",
        "Bảng tính Excel (các bảng, biểu đồ, dữ liệu và nguồn)",
        "the report's text and tables, native charts, the dataset with its sources, the findings",
        "worker",
        True,
        _xlsx,
        ahead=("pipeline.report", "pipeline.report.xlsx", "pyarrow.parquet"),
        prepare=_xlsx_rows,
    ),
    Output(
        "audit",
        "ho-so-so-lieu.xlsx",
        "Hồ sơ số liệu (tệp, trang, dòng và mã băm của từng số liệu)",
        "where every figure comes from: files with their SHA-256, every initiative's file, sheet and row",
        "here",
        True,
        _audit,
    ),
    Output(
        "dataset_csv",
        DATASET_CSV,
        "Dữ liệu tổng hợp",
        "one row per initiative of each union's current file, with its source (and the same as `.parquet`)",
        "here",
        False,
        _dataset_csv,
    ),
    Output(
        "findings",
        FINDINGS_CSV,
        "Danh sách lỗi của từng tệp",
        "every finding of every file of the period",
        "here",
        False,
        _findings,
    ),
)


def outputs_for(report: bool) -> tuple[Output, ...]:
    """The outputs of a run: all of them with a report, the others without."""
    return tuple(o for o in OUTPUTS if report or not o.report)


def run_output(output: Output, ctx: Context) -> dict[str, Path]:
    """Write one output (the function a worker process is given)."""
    return output.write(ctx)


__all__ = ["OUTPUTS", "Context", "Output", "outputs_for", "run_output"]
