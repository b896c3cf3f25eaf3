"""Feedback for a union: its own workbook marked up, and a message to paste into an email or Zalo.

`write_feedback` takes a file's findings and writes, into the outbox, a copy of the union's workbook
(never the original) with each faulty cell filled in colour and a Vietnamese comment on it, and a
first sheet "Cần sửa" listing every finding with a link to its cell; plus the message text. A file
that could not be read at all gets only the message, saying why and what to send instead.
Returns the paths written.

What the copy shows is decided here (`Note` for a faulty cell, `Listing` for the first sheet); an
.xlsx or .xlsm is copied by patching its package (`pipeline.render.patch`), and through openpyxl only
where the patch declines the package, as are the .xls and .ods files (rebuilt from their values).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.fallback import read_either
from pipeline.files import atomic_path, safe_filename
from pipeline.findings import Finding, Severity
from pipeline.render.fit import DEFAULT_WIDTH, chars_per_line, row_height, wrapped_lines
from pipeline.sheets import column_letter, column_number
from pipeline.template import FONT_NAME, FONT_SIZE
from pipeline.text import neutralise_formula

SHEET = "Cần sửa"
# Errors red, warnings amber: told apart at a glance, and from the template's pale yellow input cells.
FILLS = {Severity.ERROR: "FF9B9B", Severity.WARNING: "FFD34D", Severity.NOTICE: "DDEBF7"}
FILL_WORDS = {Severity.ERROR: "tô đỏ", Severity.WARNING: "tô vàng cam"}
_PACKAGE_KINDS = ("xlsx", "xlsm")
# A filled form is a few hundred KB. Past this, the union gets the listing without a copy of its
# data: copying would load the whole workbook into this process, which reading took care not to.
COPY_MAX_BYTES = 5 << 20
AUTHOR = "LĐLĐ huyện"  # of the comments
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


@dataclass(frozen=True)
class Note:
    """What a faulty cell gets: a fill (RRGGBB) and a comment of `width` x `height` pixels."""

    fill: str
    text: str
    width: int
    height: int


@dataclass(frozen=True)
class ListingRow:
    values: tuple[str | int | float, ...]
    fill: str  # the severity's colour, on the second column
    link: tuple[str, str] | None = None  # (sheet, cell) the fourth column links to


@dataclass(frozen=True)
class Listing:
    """The first sheet of the copy, every finding in a row from row 5 (rows 1-2 a title and a
    summary, row 4 the headers)."""

    sheet: str
    title: str
    title_colour: str
    summary: str
    headers: tuple[str, ...]
    widths: tuple[float, ...]
    rows: tuple[ListingRow, ...]
    link_column: int = 4  # 1-based
    fill_column: int = 2
    header_fill: str = "DDEBF7"
    link_colour: str = "0563C1"


def parse_ref(ref: str) -> tuple[int, int] | None:
    """(row, column), both 1-based, of an A1 reference; None if it is not one."""
    match = _REF.fullmatch(ref)
    if match is None:
        return None
    row, column = int(match[2]), column_number(match[1])
    return (row, column) if 1 <= row <= 1_048_576 and column <= 16_384 else None


def quoted_sheet(name: str) -> str:
    """A sheet's name as a reference writes it: 'Sáng kiến'."""
    return "'" + name.replace("'", "''") + "'"


@dataclass(frozen=True)
class Feedback:
    workbook: Path | None  # None when the file could not be read at all
    message: Path


def feedback_stem(name: str, unit_code: str | None) -> str:
    stem = Path(name).stem
    prefix = f"{unit_code} - " if unit_code and not stem.startswith(unit_code) else ""
    return safe_filename(f"{prefix}{stem}", " - phản hồi", reserve=len(".xlsx"))  # the name kept whole


def feedback_files(out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Where the feedback named `stem` goes: the marked-up copy and the message."""
    return out_dir / f"{stem}.xlsx", out_dir / f"{stem}.txt"


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
    records_sheet: str = "",
) -> Feedback:
    """`records_sheet` is the sheet of one record per row (the initiatives): its places are
    written "dòng 5, cột …", the others' "dòng 18, mục …"."""
    stem = stem or feedback_stem(name, unit_code)
    copy, message = feedback_files(out_dir, stem)
    workbook = None
    if readable:
        workbook = copy
        with atomic_path(workbook) as tmp:
            if original.stat().st_size > COPY_MAX_BYTES:
                _listing_only(findings, tmp, name, records_sheet)
            elif kind in _PACKAGE_KINDS:
                _mark_copy(original, findings, tmp, name, records_sheet)
            else:
                _mark_rebuilt(original, findings, tmp, name, records_sheet)
    text = message_text(name, findings, settings, unit_code, unit_name, workbook, readable, records_sheet)
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
    records_sheet: str = "",
) -> str:
    """A Vietnamese message for the officer to paste into an email or a Zalo reply: to the union by
    name, each finding where the clerk finds it and what to do, the date to send a correction by,
    and whom to call."""
    org = settings.organisation.full_name
    who = unit_name or "Công đoàn cơ sở"
    due = f"{settings.reply_by():%d/%m/%Y}"
    lines = [f"Kính gửi Ban Chấp hành {who}" + (f" (mã {unit_code})," if unit_code else ","), ""]
    errors = [f for f in findings if f.severity is Severity.ERROR]
    warnings = [f for f in findings if f.severity is Severity.WARNING]
    if not readable:
        lines.append(f'{org} đã nhận tệp "{name}" nhưng không đọc được tệp này:')
        lines += [f"- {f.message}" for f in errors]
        lines += [
            "",
            "Đề nghị đơn vị điền số liệu vào biểu mẫu Excel do LĐLĐ huyện gửi, lưu dạng .xlsx "
            f"và gửi lại trước ngày {due}.",
        ]
    elif errors:
        lines.append(f'{org} đã nhận tệp "{name}". Tệp chưa được tiếp nhận vì còn {len(errors)} lỗi phải sửa:')
        lines += _numbered(errors, records_sheet)
        if warnings:
            lines += [
                "",
                f"Ngoài ra có {len(warnings)} điểm đề nghị kiểm tra lại:",
                *_numbered(warnings, records_sheet),
            ]
    else:
        lines.append(
            f'{org} đã tiếp nhận tệp "{name}"; số liệu của đơn vị đã được ghi nhận. '
            f"Có {len(warnings)} điểm đề nghị đơn vị kiểm tra lại:"
        )
        lines += _numbered(warnings, records_sheet)
    if workbook is not None:
        kinds = [(errors, Severity.ERROR, "có lỗi"), (warnings, Severity.WARNING, "cần kiểm tra")]
        marked = " và ".join(f"các ô {what} được {FILL_WORDS[severity]}" for found, severity, what in kinds if found)
        lines += [
            "",
            f'Trong tệp đính kèm "{workbook.name}", {marked}, mỗi ô có ghi chú cách sửa; '
            f'trang "{SHEET}" đầu tiên liệt kê tất cả.',
        ]
    if readable and errors:
        lines.append(f"Đề nghị đơn vị sửa ngay trên tệp của mình và gửi lại trước ngày {due}.")
    elif readable:
        lines.append(
            f"Nếu có điểm cần sửa, đề nghị đơn vị sửa trên tệp của mình và gửi lại trước ngày {due}; "
            "bản gửi sau sẽ thay cho bản này. Nếu số liệu đã đúng, không cần gửi lại."
        )
    return letter(settings, lines)


def letter(settings: Settings, lines: list[str]) -> str:
    """A message to a union as every one ends: whom to call, then the district's signature."""
    contact = settings.organisation
    if contact.contact_name or contact.contact_phone:
        person = f"đồng chí {contact.contact_name}" if contact.contact_name else "cán bộ phụ trách"
        phone = f", điện thoại {contact.contact_phone}" if contact.contact_phone else ""
        lines = [*lines, f"Khi cần hỏi thêm, xin liên hệ {person}{phone}."]
    return "\n".join([*lines, "", "Trân trọng,", settings.organisation.full_name]) + "\n"


def _numbered(findings: Sequence[Finding], records_sheet: str) -> list[str]:
    out = []
    for i, f in enumerate(findings, start=1):
        where = f.location.describe(f.field, records=f.location.sheet == records_sheet)
        out.append(f"{i}. {where + ': ' if where else ''}{f.message}")
    return out


def _mark_copy(original: Path, findings: Sequence[Finding], target: Path, name: str, records_sheet: str) -> None:
    """The union's own workbook with its formatting, marked; formulas, links and macros are never
    carried over. Its package is patched (`pipeline.render.patch`): every part but those we mark is
    copied as it is. A package of a shape the patch does not handle is copied through openpyxl."""
    from pipeline.render.patch import Package, Unpatchable

    try:
        with Package(original) as package:
            names = package.sheet_names
            package.write(target, _notes(findings, names), _listing(findings, name, records_sheet, names))
    except Unpatchable:
        _mark_copy_openpyxl(original, findings, target, name, records_sheet)


def _mark_copy_openpyxl(
    original: Path, findings: Sequence[Finding], target: Path, name: str, records_sheet: str
) -> None:
    import openpyxl

    # data_only: formulas come back as the results the file saved; none of the sender's formulas,
    # links or macros can act when the copy is opened.
    wb = openpyxl.load_workbook(original, keep_vba=False, keep_links=False, data_only=True)
    _mark(wb, findings, name, records_sheet, _own_font(wb))
    wb.save(target)


def _mark_rebuilt(original: Path, findings: Sequence[Finding], target: Path, name: str, records_sheet: str) -> None:
    """An .xls or .ods file: its values, cell for cell, in a new .xlsx (the format openpyxl writes),
    read as the reader read them (by the second reader when calamine could not), in the form's font
    (the reader keeps no formatting)."""
    import openpyxl
    from openpyxl.styles import Alignment, Font

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    font, wrap = Font(name=FONT_NAME, size=FONT_SIZE), Alignment(wrap_text=True, vertical="top")
    for sheet, grid in read_either(original).sheets.items():
        ws = wb.create_sheet(sheet[:31])
        for r, row in enumerate(grid, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    cell = ws.cell(r, c)
                    _set(cell, value, neutralise=False)
                    cell.font = font
                    if isinstance(value, str) and len(value) > 12:
                        cell.alignment = wrap
        for c in range(1, ws.max_column + 1):  # room for the text as typed, within reason
            longest = max(
                (len(str(row[c - 1])) for row in grid if c - 1 < len(row) and row[c - 1] is not None), default=0
            )
            ws.column_dimensions[column_letter(c - 1)].width = min(max(10, longest * 0.9), 40)
    _mark(wb, findings, name, records_sheet, (FONT_NAME, FONT_SIZE))
    wb.save(target)


def _listing_only(findings: Sequence[Finding], target: Path, name: str, records_sheet: str) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    _mark(wb, findings, name, records_sheet, (FONT_NAME, FONT_SIZE))
    wb.save(target)


def _own_font(wb: Any) -> tuple[str, float]:
    """The font the workbook's filled cells are written in (its most common), for what we add."""
    seen: Counter[tuple[str, float]] = Counter()
    for ws in wb.worksheets:
        for row in ws.iter_rows(max_row=min(ws.max_row, 60), max_col=min(ws.max_column, 30)):
            for cell in row:
                if cell.value is not None and cell.font is not None and cell.font.name:
                    seen[(cell.font.name, float(cell.font.sz or 11))] += 1
    return seen.most_common(1)[0][0] if seen else (FONT_NAME, FONT_SIZE)


def _notes(findings: Sequence[Finding], sheets: Sequence[str]) -> dict[tuple[str, str], Note]:
    """The faulty cells of the workbook's sheets, each with the fill of its worst finding and a
    comment saying every finding at it."""
    by_cell: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        sheet, cell_ref = f.location.sheet, f.location.cell
        if sheet is not None and sheet in sheets and cell_ref and parse_ref(cell_ref):
            by_cell.setdefault((sheet, cell_ref), []).append(f)
    notes = {}
    for where, own in by_cell.items():
        worst = min(own, key=lambda f: list(Severity).index(f.severity))
        text = "\n".join(f"{f.severity.label}: {f.message}" for f in own)
        notes[where] = Note(FILLS[worst.severity], text, 360, min(60 + 18 * (len(text) // 45), 400))
    return notes


def _listing(findings: Sequence[Finding], name: str, records_sheet: str, sheets: Sequence[str]) -> Listing:
    """The first sheet: every finding, what must be fixed first, each linked to its cell."""
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
    if errors:
        title = f'CÁC LỖI CẦN SỬA TRONG TỆP "{name}"'
        summary = f"Tệp chưa được tiếp nhận: {errors} lỗi phải sửa ({FILL_WORDS[Severity.ERROR]})"
        summary += f", {warnings} điểm cần kiểm tra lại ({FILL_WORDS[Severity.WARNING]})." if warnings else "."
    else:
        title = f'CÁC ĐIỂM CẦN KIỂM TRA LẠI TRONG TỆP "{name}"'
        summary = (
            f"Tệp đã được tiếp nhận. Có {warnings} điểm đề nghị kiểm tra lại ({FILL_WORDS[Severity.WARNING]}); "
            "nếu cần sửa, vui lòng sửa rồi gửi lại."
        )
    rows = []
    order = list(Severity)  # what must be fixed first, then what to check, then what was only noted
    for i, f in enumerate(sorted(findings, key=lambda f: order.index(f.severity)), start=1):
        where = f.location.describe(f.field, records=f.location.sheet == records_sheet)
        values = (i, f.severity.label, where, f.location.cell or "", f.to_dict()["value"] or "", f.message)
        sheet, cell = f.location.sheet, f.location.cell
        link = (sheet, cell) if sheet is not None and sheet in sheets and cell and parse_ref(cell) else None
        shown = tuple(neutralise_formula(v) if isinstance(v, str) else v for v in values)
        rows.append(ListingRow(shown, FILLS[f.severity], link))
    return Listing(
        sheet=SHEET,
        title=neutralise_formula(title),
        title_colour="9C0006" if errors else "7F6000",
        summary=neutralise_formula(summary + ' Bấm vào ô ở cột "Ô" để đến chỗ cần sửa.'),
        headers=("STT", "Mức độ", "Vị trí", "Ô", "Giá trị đang ghi", "Nội dung cần sửa"),
        widths=(5, 11, 30, 7, 24, 70),
        rows=tuple(rows),
    )


def _mark(wb: Any, findings: Sequence[Finding], name: str, records_sheet: str, font: tuple[str, float]) -> None:
    """The openpyxl copy (and the rebuilt one) marked as the patched copy is."""
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill

    def solid(colour: str) -> PatternFill:
        return PatternFill("solid", start_color=colour, end_color=colour)

    notes = _notes(findings, wb.sheetnames)
    for (sheet, cell), note in notes.items():
        target = wb[sheet][cell]
        target.fill = solid(note.fill)
        comment = Comment(note.text, AUTHOR)
        comment.width, comment.height = note.width, note.height
        target.comment = comment
    for sheet in {sheet for sheet, _ in notes}:
        fit_wrapped_rows(wb[sheet])

    listing = _listing(findings, name, records_sheet, wb.sheetnames)
    face, size = font
    plain, bold = Font(name=face, size=size), Font(name=face, size=size, bold=True)
    ws = wb.create_sheet(listing.sheet, 0)
    _set(ws.cell(1, 1), listing.title)
    ws.cell(1, 1).font = Font(name=face, size=size + 2, bold=True, color=listing.title_colour)
    _set(ws.cell(2, 1), listing.summary)
    ws.cell(2, 1).font = Font(name=face, size=size, italic=True)
    for c, header in enumerate(listing.headers, start=1):
        cell = ws.cell(4, c, header)
        cell.font = bold
        cell.fill = solid(listing.header_fill)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for i, entry in enumerate(listing.rows):
        row = 5 + i
        for c, value in enumerate(entry.values, start=1):
            cell = ws.cell(row, c)
            _set(cell, value)
            cell.font = plain
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.cell(row, listing.fill_column).fill = solid(entry.fill)
        if entry.link is not None:
            link = ws.cell(row, listing.link_column)
            link.hyperlink = f"#{quoted_sheet(entry.link[0])}!{entry.link[1]}"
            link.font = Font(name=face, size=size, color=listing.link_colour, underline="single")
    for c, width in enumerate(listing.widths, start=1):
        ws.column_dimensions[column_letter(c - 1)].width = width
    fit_wrapped_rows(ws, first_row=5)
    ws.freeze_panes = "A5"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "4:4"
    wb.active = 0
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False


def fit_wrapped_rows(ws: Any, first_row: int = 1) -> None:
    """Each row with wrapped text at least as tall as its text (merged cells count the width of
    every column they span). A row that is already taller keeps its height."""
    spans: dict[str, float] = {}  # top-left cell of a merged range -> its width
    for merged in ws.merged_cells.ranges:
        letters = [column_letter(c - 1) for c in range(merged.min_col, merged.max_col + 1)]
        spans[f"{letters[0]}{merged.min_row}"] = sum(_width(ws, letter) for letter in letters)
    for row in ws.iter_rows(min_row=first_row):
        needed = 0.0
        for cell in row:
            if not isinstance(cell.value, str) or not (cell.alignment and cell.alignment.wrap_text):
                continue
            size = float(cell.font.sz or 11) if cell.font else 11.0
            width = spans.get(cell.coordinate) or _width(ws, cell.column_letter)
            per_line = chars_per_line(width, size, bold=bool(cell.font and cell.font.b))
            needed = max(needed, row_height(wrapped_lines(cell.value, per_line), size))
        if needed:
            dimension = ws.row_dimensions[row[0].row]
            if dimension.height is None or dimension.height < needed:
                dimension.height = needed


def _width(ws: Any, letter: str) -> float:
    width = ws.column_dimensions[letter].width if letter in ws.column_dimensions else None
    return float(width) if width else DEFAULT_WIDTH


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
