"""Feedback for a union: its own workbook marked up, and a message to paste into an email or Zalo.

`write_feedback` takes a file's findings and writes, into the outbox, a copy of the union's workbook
(never the original) with each faulty cell filled in colour and a Vietnamese comment on it, and a
first sheet "Cần sửa" listing every finding with a link to its cell; plus the message text. A file
that could not be read at all gets only the message, saying why and what to send instead.
Returns the paths written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.fallback import read_either
from pipeline.files import atomic_path, safe_filename
from pipeline.findings import Finding, Severity
from pipeline.sheets import column_letter
from pipeline.text import neutralise_formula

SHEET = "Cần sửa"
FILLS = {Severity.ERROR: "FFC7CE", Severity.WARNING: "FFEB9C", Severity.NOTICE: "DDEBF7"}
AUTHOR = "LĐLĐ huyện"
_OPENPYXL_KINDS = ("xlsx", "xlsm")
# A filled form is a few hundred KB. Past this, the union gets the listing without a copy of its
# data: copying would load the whole workbook into this process, which reading took care not to.
COPY_MAX_BYTES = 5 << 20


@dataclass(frozen=True)
class Feedback:
    workbook: Path | None  # None when the file could not be read at all
    message: Path


def feedback_stem(name: str, unit_code: str | None) -> str:
    stem = Path(name).stem
    prefix = f"{unit_code} - " if unit_code and not stem.startswith(unit_code) else ""
    return safe_filename(f"{prefix}{stem}", " - phản hồi", reserve=len(".xlsx"))  # the name kept whole


def write_feedback(
    original: Path,
    kind: str,
    name: str,
    findings: Sequence[Finding],
    out_dir: Path,
    settings: Settings,
    readable: bool = True,
    *,
    unit_code: str | None = None,
    unit_name: str | None = None,
    stem: str | None = None,
) -> Feedback:
    stem = stem or feedback_stem(name, unit_code)
    workbook = None
    if readable:
        workbook = out_dir / f"{stem}.xlsx"
        with atomic_path(workbook) as tmp:
            if original.stat().st_size > COPY_MAX_BYTES:
                _listing_only(findings, tmp, name)
            elif kind in _OPENPYXL_KINDS:
                _mark_copy(original, findings, tmp, name)
            else:
                _mark_rebuilt(original, findings, tmp, name)
    message = out_dir / f"{stem}.txt"
    text = message_text(name, findings, settings, unit_code, unit_name, workbook, readable)
    with atomic_path(message) as tmp:
        tmp.write_text(text, encoding="utf-8-sig")
    return Feedback(workbook, message)


def message_text(
    name: str,
    findings: Sequence[Finding],
    settings: Settings,
    unit_code: str | None,
    unit_name: str | None,
    workbook: Path | None,
    readable: bool,
) -> str:
    """A short Vietnamese message for the officer to paste into an email or a Zalo reply."""
    org = settings.organisation.full_name
    who = unit_name or "Công đoàn cơ sở"
    lines = [f"Kính gửi Ban Chấp hành {who}" + (f" (mã {unit_code})," if unit_code else ","), ""]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    if not readable:
        lines.append(f'{org} đã nhận tệp "{name}" nhưng không đọc được tệp này:')
        lines += [f"- {f.message}" for f in errors]
        lines += ["", "Đề nghị đơn vị điền số liệu vào biểu mẫu Excel do LĐLĐ huyện gửi, lưu dạng .xlsx và gửi lại."]
    elif errors:
        lines.append(f'{org} đã nhận tệp "{name}". Tệp chưa được tiếp nhận vì còn {len(errors)} lỗi cần sửa:')
        lines += _numbered(errors)
        if warnings:
            lines += ["", f"Ngoài ra có {len(warnings)} điểm cần kiểm tra lại:", *_numbered(warnings)]
    else:
        lines.append(f'{org} đã tiếp nhận tệp "{name}". Có {len(warnings)} điểm đề nghị đơn vị kiểm tra lại:')
        lines += _numbered(warnings)
    if workbook is not None:
        lines += [
            "",
            f'Các ô cần sửa đã được tô màu và ghi chú trong tệp đính kèm "{workbook.name}" '
            f'(xem trang "{SHEET}" đầu tiên).',
        ]
    if errors:
        lines.append(
            f"Đề nghị đơn vị sửa trên tệp của mình và gửi lại sớm (hạn nộp báo cáo: {settings.deadline:%d/%m/%Y})."
        )
    lines += ["", "Trân trọng,", org]
    return "\n".join(lines) + "\n"


def _numbered(findings: Sequence[Finding]) -> list[str]:
    out = []
    for i, f in enumerate(findings, start=1):
        where = f"{f.location.ref}" + (f" ({f.field})" if f.field else "")
        out.append(f"{i}. {where + ': ' if where else ''}{f.message}")
    return out


def _mark_copy(original: Path, findings: Sequence[Finding], target: Path, name: str) -> None:
    """The union's own workbook with its formatting, marked; macros are never carried over."""
    import openpyxl

    # data_only: formulas come back as the results the file saved; none of the sender's formulas,
    # links or macros can act when the copy is opened.
    wb = openpyxl.load_workbook(original, keep_vba=False, keep_links=False, data_only=True)
    _mark(wb, findings, name)
    wb.save(target)


def _mark_rebuilt(original: Path, findings: Sequence[Finding], target: Path, name: str) -> None:
    """An .xls or .ods file: its values, cell for cell, in a new .xlsx (the format openpyxl writes),
    read as the reader read them (by the second reader when calamine could not)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet, grid in read_either(original).sheets.items():
        ws = wb.create_sheet(sheet[:31])
        for r, row in enumerate(grid, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    _set(ws.cell(r, c), value, neutralise=False)
    _mark(wb, findings, name)
    wb.save(target)


def _listing_only(findings: Sequence[Finding], target: Path, name: str) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    _mark(wb, findings, name)
    wb.save(target)


def _mark(wb: Any, findings: Sequence[Finding], name: str) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill

    by_cell: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        sheet, cell_ref = f.location.sheet, f.location.cell
        if sheet is not None and sheet in wb.sheetnames and cell_ref:
            by_cell.setdefault((sheet, cell_ref), []).append(f)
    for (sheet, cell), own in by_cell.items():
        worst = min(own, key=lambda f: list(Severity).index(f.severity))
        target = wb[sheet][cell]
        target.fill = PatternFill("solid", start_color=FILLS[worst.severity], end_color=FILLS[worst.severity])
        text = "\n".join(f"{f.severity.label}: {f.message}" for f in own)
        comment = Comment(text, AUTHOR)
        comment.width, comment.height = 360, min(60 + 18 * (len(text) // 45), 400)
        target.comment = comment

    ws = wb.create_sheet(SHEET, 0)
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
    _set(ws.cell(1, 1), f'CÁC ĐIỂM CẦN SỬA TRONG TỆP "{name}"')
    ws.cell(1, 1).font = Font(bold=True, size=13)
    _set(ws.cell(2, 1), f'{errors} lỗi phải sửa, {warnings} điểm cần kiểm tra. Bấm vào ô ở cột "Ô" để đến chỗ cần sửa.')
    ws.cell(2, 1).font = Font(italic=True)
    headers = ["STT", "Mức độ", "Trang", "Ô", "Mục", "Giá trị đang ghi", "Nội dung cần sửa"]
    for c, header in enumerate(headers, start=1):
        cell = ws.cell(4, c, header)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", start_color="DDEBF7", end_color="DDEBF7")
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for i, f in enumerate(findings, start=1):
        row = 4 + i
        values = [
            i,
            f.severity.label,
            f.location.sheet or "",
            f.location.cell or "",
            f.field or "",
            f.to_dict()["value"] or "",
            f.message,
        ]
        for c, value in enumerate(values, start=1):
            cell = ws.cell(row, c)
            _set(cell, value)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row, 2).fill = PatternFill("solid", start_color=FILLS[f.severity], end_color=FILLS[f.severity])
        ws.row_dimensions[row].height = 15 * max(1, -(-len(f.message) // 62), -(-len(str(values[5])) // 22))
        if f.location.sheet in wb.sheetnames and f.location.cell:
            link = ws.cell(row, 4)
            link.hyperlink = f"#'{f.location.sheet}'!{f.location.cell}"
            link.font = Font(color="0563C1", underline="single")
    for c, width in enumerate([5, 10, 14, 7, 24, 22, 64], start=1):
        ws.column_dimensions[column_letter(c - 1)].width = width
    ws.freeze_panes = "A5"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "4:4"
    wb.active = 0
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False


def _set(cell: Any, value: Any, neutralise: bool = True) -> None:
    """Write a value as data: text is always a string cell, never a formula.

    Our own listing also prefixes text that starts like a formula, so that editing the cell in
    Excel cannot turn it into one; the rebuilt copy of a union's data keeps its text as typed.
    """
    if isinstance(value, str):
        cell.value = neutralise_formula(value) if neutralise else value
        cell.data_type = "s"
    else:
        cell.value = value
