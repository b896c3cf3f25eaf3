"""Report stage, the official document: `Figures` -> the DOCX the officer edits, signs and stamps.

`write_report_docx(path, figures, settings)` fills the Word template `bao-cao.docx` (built by
pipeline/templates/make_docx_template.py, in the format of Nghị định 30/2020/NĐ-CP that spec §5 describes)
with docxtpl and writes it atomically; it returns the path. `docx_to_pdf(docx, out_dir)` converts it
with LibreOffice and returns the PDF, or None when LibreOffice is not installed (`NO_LIBREOFFICE` is
the message to show then).

The template holds only loops and conditions: `report_context` turns the figures into ready-made
strings, every number through `pipeline.numbers` ("1.234", "23,2%"). The jinja environment
autoescapes, so text from the unions ("<script>", "A & B", "=cmd") appears in Word as typed, and is
strict about undefined names, so a template that drifts from the context fails loudly.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from docxtpl import DocxTemplate
from jinja2 import Environment, StrictUndefined

from pipeline import numbers
from pipeline.config import RATE_MEASURES, Settings
from pipeline.errors import PipelineError
from pipeline.figures import Figures, Outstanding, ShareTable, Tally, TargetRow
from pipeline.files import atomic_path

TEMPLATE_NAME = "bao-cao.docx"
PDF_TIMEOUT = 180  # seconds: a first start of LibreOffice with a fresh profile takes a few
NO_LIBREOFFICE = (
    "Không tìm thấy LibreOffice (lệnh soffice) nên chưa tạo được bản PDF của báo cáo. "
    "Hãy cài LibreOffice rồi chạy lại, hoặc mở tệp DOCX bằng Word và lưu thành PDF."
)
RATE_SHORT = {RATE_MEASURES[0]: "Tỷ lệ ĐV tham gia", RATE_MEASURES[1]: "Tỷ lệ SK/ĐV"}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
# Characters XML cannot hold (and docxtpl would turn into breaks): dropped; line breaks: spaces.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_BREAKS = re.compile(r"[\t\n\r]+")


T = TypeVar("T")


class ConversionError(PipelineError):
    """LibreOffice is installed but could not turn the report into a PDF."""


# --- the document --------------------------------------------------------------------------------------


def template_path() -> Path:
    """The Word template, in the package (pipeline/templates)."""
    candidate = Path(__file__).resolve().parent.parent / "templates" / TEMPLATE_NAME
    if candidate.is_file():
        return candidate
    raise PipelineError(
        f'Không tìm thấy mẫu báo cáo "{TEMPLATE_NAME}" (trong thư mục pipeline/templates). '
        "Hãy cài lại công cụ, hoặc tạo lại mẫu bằng lệnh: python pipeline/templates/make_docx_template.py"
    )


def environment() -> Environment:
    """The house jinja2 environment: autoescaped, strict about undefined names."""
    return Environment(autoescape=True, undefined=StrictUndefined)


def write_report_docx(path: Path, figures: Figures, settings: Settings, *, template: Path | None = None) -> Path:
    """Render the report into `path` (written to a temporary file, then renamed); return `path`."""
    document = DocxTemplate(str(template or template_path()))
    document.render(report_context(figures, settings), environment(), autoescape=True)
    props = document.docx.core_properties
    props.title = _clean(f"Báo cáo kết quả thực hiện {settings.programme.name}")
    props.author = props.last_modified_by = _clean(settings.organisation.full_name)
    props.created = props.modified = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    props.revision = 1
    with atomic_path(path) as tmp:
        document.save(tmp)
    return path


# --- the context: every value a ready-made string ----------------------------------------------------


def report_context(figures: Figures, settings: Settings) -> dict[str, Any]:
    """What the template shows, as strings (numbers formatted the Vietnamese way), lists and dicts."""
    org, programme = settings.organisation, settings.programme
    as_of = numbers.date(figures.as_of)
    total = figures.totals
    commended = [r for r in figures.commendations.rows if r.count]
    context: dict[str, Any] = {
        "parent_name": org.parent_name,
        "org_name": org.name,
        "org_full_name": org.full_name,
        "document_number": org.document_number,
        "dateline": numbers.place_and_date(org.place, figures.as_of),
        "programme_name": programme.name,
        "plan_reference": programme.plan_reference,
        "period": f"(Số liệu tính đến ngày {as_of})",
        "as_of": as_of,
        "units_reported": numbers.number(total.units_reported),
        "activities": _listed(figures.activities, lambda c: {"label": c.label, "value": numbers.number(c.value)}),
        "targets": [_target_row(i, t, figures, settings) for i, t in enumerate(figures.targets, start=1)],
        "targets_note": (
            f"Ghi chú: tỷ lệ chính thức là {figures.official_rate_label[0].lower()}{figures.official_rate_label[1:]}, "
            f"chỉ tiêu {numbers.percent(figures.rate_target)}. Cột “Tỷ lệ đạt” so kết quả với chỉ tiêu kế hoạch; "
            "ở các dòng không có chỉ tiêu là tỷ lệ trên tổng số."
        ),
        "rate_short": RATE_SHORT[figures.official_rate],
        "by_sector": {
            "rows": [{"sector": r.sector, **_tally(r.tally)} for r in figures.by_sector.rows],
            "total": _tally(figures.by_sector.total),
        },
        "by_field": _share_table(figures.by_field),
        "by_kind": _share_table(figures.by_kind),
        "outstanding": [_outstanding(i, o, n) for i, (o, n) in enumerate(_with_end(figures.outstanding), start=1)],
        "outstanding_count": numbers.number(len(figures.outstanding)),
        "commendations": _listed(commended, lambda r: {"label": r.label, "count": numbers.number(r.count)}),
        "commendations_count": numbers.number(figures.commendations.total.count),
        "strengths": [p.text(numbers.number, numbers.percent) for p in figures.assessment.strengths],
        "shortcomings": [p.text(numbers.number, numbers.percent) for p in figures.assessment.shortcomings],
        "signatory_on_behalf": org.signatory_on_behalf,
        "signatory_title": org.signatory_title,
        "signatory": org.signatory,
        "attached": f"(Kèm theo Báo cáo số {org.document_number} ngày {as_of} của {org.full_name})",
        "units": _units(figures),
        "units_note": (
            "Tỷ lệ ĐV tham gia = số người tham gia (tác giả, đồng tác giả) / số đoàn viên; "
            f"Tỷ lệ SK/ĐV = số sáng kiến / số đoàn viên; chỉ tiêu {numbers.percent(figures.rate_target)}."
        ),
        "gaps": [
            {
                "no": str(i),
                "code": g.code,
                "name": g.name,
                "sector": g.sector,
                "kind": g.kind.label,
                "reason": g.reason,
                "problems": list(g.problems),
            }
            for i, g in enumerate(figures.gaps, start=1)
        ],
        "sources": [
            {
                "no": str(i),
                "code": f.code,
                "unit": f.unit,
                "file": f.file,
                "received": f.received_at.strftime("%d/%m/%Y %H:%M"),
                "as_of": numbers.date(f.as_of_date),
                "initiatives": numbers.number(f.initiatives),
                "sha256": f.sha256,
            }
            for i, f in enumerate(figures.sources, start=1)
        ],
    }
    cleaned: dict[str, Any] = _clean(context)
    return cleaned


def _with_end(items: Sequence[T]) -> Iterable[tuple[T, str]]:
    """Items of a Vietnamese list end with ";", the last with "."."""
    return ((item, "." if i == len(items) - 1 else ";") for i, item in enumerate(items))


def _listed(items: Sequence[T], fields: Callable[[T], dict[str, str]]) -> list[dict[str, str]]:
    return [{**fields(item), "end": end} for item, end in _with_end(items)]


def _verdict(row: TargetRow, figures: Figures, settings: Settings) -> str:
    if row.reached is True:
        return "Đạt"
    if row.reached is False:
        return "Chưa đạt"
    if row.target is None:
        return ""
    phases = {f"phase-{i}": p for i, p in enumerate(settings.programme.phases, start=1)}
    if row.key in phases and phases[row.key].start > figures.as_of:
        return "Chưa bắt đầu"
    return "Đang thực hiện"


def _target_row(no: int, row: TargetRow, figures: Figures, settings: Settings) -> dict[str, str]:
    """A row of Bảng 1: result, target, ratio and verdict, formatted."""
    if row.kind == "rate":
        actual = numbers.percent(row.actual)
        if row.numerator is not None and row.denominator:
            actual += f" ({numbers.number(row.numerator)}/{numbers.number(row.denominator)})"
        target = numbers.percent(row.target) if row.target is not None else ""
    else:
        actual = numbers.number(row.actual)
        if row.target is None and row.denominator is not None:
            actual += f"/{numbers.number(row.denominator)}"
        target = numbers.number(row.target) if row.target is not None else ""
    return {
        "no": str(no),
        "label": row.label,
        "actual": actual,
        "target": target,
        "ratio": numbers.percent(row.ratio),
        "verdict": _verdict(row, figures, settings),
    }


def _tally(t: Tally) -> dict[str, str]:
    return {
        "units": numbers.number(t.units),
        "reported": f"Đã nộp: {numbers.number(t.units_reported)}/{numbers.number(t.units)}",
        "units_with_initiatives": numbers.number(t.units_with_initiatives),
        "members": numbers.number(t.members),
        "participants": numbers.number(t.participants),
        "initiatives": numbers.number(t.initiatives),
        "uploaded": numbers.number(t.uploaded),
        "benefit": numbers.number(t.benefit),
        "rate": numbers.percent(t.rate),
        "rate_members": numbers.percent(t.rate_members),
        "rate_initiatives": numbers.percent(t.rate_initiatives),
    }


def _share_table(table: ShareTable) -> dict[str, Any]:
    return {
        "label": table.label,
        "rows": [
            {"no": str(i), "label": r.label, "count": numbers.number(r.count), "share": numbers.percent(r.share)}
            for i, r in enumerate(table.rows, start=1)
        ],
        "total": {
            "label": table.total.label,
            "count": numbers.number(table.total.count),
            "share": numbers.percent(table.total.share),
        },
    }


def _outstanding(no: int, o: Outstanding, end: str) -> dict[str, str]:
    return {
        "no": str(no),
        "title": o.title,
        "authors": f"{o.author}; {o.coauthors}" if o.coauthors else o.author,
        "unit": o.unit,
        "field": o.field or "",
        "kind": o.kind or "",
        "benefit": numbers.number(o.benefit),
        "uploaded": "Có" if o.uploaded else "Chưa",
        "commendation": o.commendation or "",
        "source": f"{o.source.file}, trang “{o.source.sheet}”, dòng {o.source.row}",
        "end": end,
    }


def _units(figures: Figures) -> dict[str, Any]:
    """Appendix I: sector groups (numbered I, II, ...), the unions numbered through, a grand total."""
    groups, n = [], 0
    for i, g in enumerate(figures.units.groups):
        rows = []
        for r in g.rows:
            n += 1
            notes = [] if r.active else ["Không còn hoạt động"]
            if r.below_target and r.tally.initiatives:
                notes.append("Dưới chỉ tiêu")
            rows.append(
                {
                    "no": str(n),
                    "code": r.code,
                    "name": r.name,
                    "reporting": r.reporting_label,
                    "note": "; ".join(notes),
                    **_tally(r.tally),
                }
            )
        roman = ROMAN[i] if i < len(ROMAN) else str(i + 1)
        groups.append({"no": roman, "sector": g.sector, "rows": rows, "subtotal": _tally(g.subtotal)})
    return {"groups": groups, "total": _tally(figures.units.total)}


def _clean(value: Any) -> Any:
    """Every string of the context without characters XML cannot hold, breaks made spaces."""
    if isinstance(value, str):
        return _NOT_XML.sub("", _BREAKS.sub(" ", value))
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


# --- PDF ------------------------------------------------------------------------------------------------


def docx_to_pdf(docx: Path, out_dir: Path, *, timeout: float = PDF_TIMEOUT) -> Path | None:
    """`out_dir`/<name>.pdf converted by LibreOffice; None when LibreOffice is not installed.

    LibreOffice runs headless with a private, throw-away profile (so it neither meets an open
    LibreOffice nor another conversion), in its own process group, killed whole after `timeout`.
    """
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    if binary is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{docx.stem}.pdf"
    with (
        tempfile.TemporaryDirectory(prefix="lo-profile-", ignore_cleanup_errors=True) as profile,
        tempfile.TemporaryDirectory(prefix=".pdf-", dir=out_dir) as work,
    ):
        command = [
            binary,
            "--headless",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            work,
            str(docx.resolve()),
        ]
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # POSIX: its own process group, killed whole below
        ) as process:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                if hasattr(os, "killpg"):
                    os.killpg(process.pid, signal.SIGKILL)
                else:  # Windows: no process groups here; soffice is the process itself
                    process.kill()
                process.communicate()
                raise ConversionError(
                    f'LibreOffice không chuyển xong "{docx.name}" sang PDF sau {timeout:g} giây; '
                    "hãy thử lại, hoặc mở tệp DOCX bằng Word và lưu thành PDF."
                ) from None
        produced = Path(work) / f"{docx.stem}.pdf"
        if process.returncode != 0 or not produced.is_file():
            detail = (err or out).strip().splitlines()
            raise ConversionError(
                f'LibreOffice không chuyển được "{docx.name}" sang PDF'
                + (f" ({detail[-1]})" if detail else "")
                + "; hãy mở tệp DOCX bằng Word và lưu thành PDF."
            )
        os.replace(produced, target)
    return target
