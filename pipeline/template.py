"""The Excel template, written from the form definition (spec §3).

`write_template` writes one workbook: the guide, the unit record, the initiative table with
dropdowns and validation, and the hidden list sheet with the template version. Given a roster
unit, the unit's code, name, sector and commune are filled in and locked. `write_templates` writes
the blank template and one personalised template per active union. Returns the paths written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.files import atomic_path, safe_filename
from pipeline.form import Field, Form, window_words
from pipeline.numbers import number
from pipeline.roster import Roster, Unit
from pipeline.sheets import EXCEL_TEXT_MAX, column_letter

# Where things are. The reader does not rely on these (it finds labels and headers wherever they
# are); the template writer, the demo and the tests do.
UNIT_HEADER_ROW = 4  # Excel row of "Nội dung | Giá trị | ..." on the unit sheet
UNIT_FIRST_ROW = UNIT_HEADER_ROW + 1
UNIT_LABEL_COL, UNIT_VALUE_COL = 0, 1
INITIATIVE_HEADER_ROW = 3  # Excel row of the initiative table's header
LIST_FIRST_COL = 3  # lists on "Danh mục" start in column D
DATE_FORMAT = "dd/mm/yyyy"
LAST_PLAUSIBLE_DATE = dt.date(2030, 12, 31)
EXCEL_MESSAGE_MAX = 255  # Excel's limit for a validation's input and error messages

INSTRUCTIONS = (
    'Trang "Thông tin đơn vị": điền các ô nền vàng ở cột "Giá trị". Trên mẫu riêng của đơn vị, '
    "mã, tên, khối và xã, thị trấn đã được LĐLĐ huyện điền sẵn và khóa lại.",
    'Trang "Sáng kiến": mỗi sáng kiến ghi trên một dòng, bắt đầu từ dòng ngay dưới dòng tiêu đề. '
    "Danh sách là cộng dồn: ghi tất cả sáng kiến của đơn vị từ đầu Chương trình đến ngày chốt số liệu.",
    "Các cột có danh sách thả xuống (Khối, Loại giải pháp, Lĩnh vực, Có/Không...) phải chọn đúng một "
    "giá trị trong danh sách, không gõ khác đi.",
    "Ngày ghi theo dạng ngày/tháng/năm đủ bốn chữ số của năm, ví dụ 15/03/2022. Số ghi bằng chữ số, "
    "không kèm chữ (ví dụ 1500000).",
    "Không đổi tên, xóa hay thêm trang; không đổi tên, xóa hay chèn cột; không gộp ô.",
    "Lưu tệp dạng Excel (.xlsx) và gửi lại cho LĐLĐ huyện qua thư điện tử. Khi cần sửa, sửa ngay "
    "trên tệp đã gửi, ghi ngày chốt số liệu mới và gửi lại cả tệp.",
    'Tệp bị trả lại sẽ có các ô sai được tô màu và ghi chú cách sửa, cùng trang "Cần sửa" liệt kê từng lỗi.',
)


@dataclass(frozen=True)
class _Formats:
    title: Any
    note: Any
    header: Any
    label: Any
    locked_value: Any
    cell: Callable[[Field], Any]


OUTBOX_FOLDER = "bieu-mau"  # where `pipeline template` and the officer's page write them, in the outbox


def template_name(form: Form, unit: Unit | None = None) -> str:
    if unit is None:
        return safe_filename(f"Mẫu báo cáo sáng kiến v{form.version}", ".xlsx")
    return safe_filename(f"{unit.code} - {unit.name}", ".xlsx")


def write_templates(out_dir: Path, form: Form, settings: Settings, roster: Roster | None) -> list[Path]:
    """The blank template, then one personalised template per active union of the roster."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [write_template(out_dir / template_name(form), form, settings)]
    for unit in roster.active if roster else ():
        paths.append(write_template(out_dir / template_name(form, unit), form, settings, unit))
    return paths


def write_template(path: Path, form: Form, settings: Settings, unit: Unit | None = None) -> Path:
    import xlsxwriter

    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False})
        wb.set_properties(
            {
                "title": form.title,
                "subject": form.programme,
                "author": settings.organisation.full_name,
                "company": settings.organisation.full_name,
                "keywords": f"{form.id}; phiên bản {form.version}",
                "comments": f"Biểu mẫu phiên bản {form.version}",
            }
        )
        fmt = _formats(wb)
        words = window_words(settings.windows)
        guide = wb.add_worksheet(form.sheets["guide"])
        unit_ws = wb.add_worksheet(form.sheets["unit"])
        init_ws = wb.add_worksheet(form.sheets["initiatives"])
        lists_ws = wb.add_worksheet(form.sheets["lists"])
        names = _write_lists(wb, lists_ws, form, unit)
        _write_guide(guide, form, fmt, words)
        _write_unit(unit_ws, form, settings, fmt, names, words, unit)
        _write_initiatives(init_ws, form, settings, fmt, names, words, unit)
        guide.activate()
        wb.close()
    return path


def list_name(list_key: str) -> str:
    """The workbook-level defined name of a dropdown list on "Danh mục"."""
    return f"DM_{list_key}"


FONT_NAME, FONT_SIZE = "Times New Roman", 12  # the form's font


def _formats(wb: Any) -> _Formats:
    base = {"font_name": FONT_NAME, "font_size": FONT_SIZE, "valign": "top"}
    border = {"border": 1, "border_color": "#7F7F7F"}
    title = wb.add_format({**base, "bold": True, "font_size": 14})
    note = wb.add_format({**base, "italic": True, "font_color": "#404040"})
    header = wb.add_format(
        {
            **base,
            **border,
            "bold": True,
            "text_wrap": True,
            "align": "center",
            "valign": "vcenter",
            "bg_color": "#DDEBF7",
        }
    )
    label = wb.add_format({**base, **border, "text_wrap": True})
    locked_value = wb.add_format({**base, **border, "text_wrap": True, "bg_color": "#E7E6E6", "bold": True})
    input_base = {**base, **border, "locked": False, "bg_color": "#FFF9DB"}
    by_type = {
        "text": wb.add_format({**input_base, "text_wrap": True}),
        "list": wb.add_format({**input_base, "text_wrap": True}),
        "date": wb.add_format({**input_base, "num_format": DATE_FORMAT, "align": "center"}),
        "integer": wb.add_format({**input_base, "num_format": "#,##0"}),
    }
    return _Formats(title, note, header, label, locked_value, lambda f: by_type[f.type])


def _write_lists(wb: Any, ws: Any, form: Form, unit: Unit | None) -> dict[str, str]:
    """Metadata in A:B, one dropdown list per column from D; returns list key -> defined name."""
    ws.write_row(0, 0, ["Mục", "Giá trị"])
    meta = [
        (form.meta["form_id"], form.id),
        (form.meta["version"], form.version),
        (form.meta["unit_code"], unit.code if unit else ""),
        (form.meta["generated"], dt.date.today().strftime("%d/%m/%Y")),
    ]
    for row, (label, value) in enumerate(meta, start=1):
        ws.write_string(row, 0, label)
        ws.write_string(row, 1, value)
    names = {}
    for offset, (key, values) in enumerate(form.lists.items()):
        col = LIST_FIRST_COL + offset
        ws.write_string(0, col, key)
        for row, value in enumerate(values, start=1):
            ws.write_string(row, col, value)
        letter = column_letter(col)
        name = list_name(key)
        wb.define_name(name, f"='{form.sheets['lists']}'!${letter}$2:${letter}${len(values) + 1}")
        names[key] = name
    ws.set_column(0, 1, 20)
    ws.set_column(LIST_FIRST_COL, LIST_FIRST_COL + len(form.lists), 30)
    ws.protect("", {"select_locked_cells": True})
    ws.hide()
    return names


def _validation(f: Field, form: Form, settings: Settings, names: dict[str, str], words: dict[str, str]) -> dict | None:
    """The Excel data validation of a field: dropdown, date or whole number, with messages."""
    common = {
        "input_title": f.title,
        "input_message": f.help.format(**words)[:EXCEL_MESSAGE_MAX],
        "error_title": "Giá trị không hợp lệ",
        "error_type": "stop",
    }
    if f.type == "list":
        return {
            **common,
            "validate": "list",
            "source": f"={names[f.list or '']}",
            "error_message": list_error_message(form.allowed(f)),
        }
    if f.type == "date":
        # Programme windows are enforced; other dates only catch typos such as a year 2202.
        default = (settings.programme.eligibility_start, LAST_PLAUSIBLE_DATE)
        start, end = settings.windows.get(f.window or "", default)
        return {
            **common,
            "validate": "date",
            "criteria": "between",
            "minimum": start,
            "maximum": end,
            "error_message": (
                f"Vui lòng nhập ngày dạng dd/mm/yyyy từ {start:%d/%m/%Y} đến {end:%d/%m/%Y}, ví dụ 15/03/2022."
            ),
        }
    if f.type == "integer":
        minimum = f.min or 0
        return {
            **common,
            "validate": "integer",
            "criteria": ">=",
            "value": minimum,
            "error_message": f"Vui lòng nhập số nguyên không nhỏ hơn {minimum}, không kèm chữ hay dấu cách.",
        }
    if f.min_length or f.max_length:
        return {
            **common,
            "validate": "length",
            "criteria": "between",
            "minimum": f.min_length or 0,
            "maximum": f.max_length or EXCEL_TEXT_MAX,
            "error_type": "warning",
            "error_message": f"Nội dung nên có từ {f.min_length or 0} đến {f.max_length or EXCEL_TEXT_MAX} ký tự.",
        }
    return {**common, "validate": "any"}


def list_error_message(values: tuple[str, ...]) -> str:
    """Excel shows at most 255 characters: name every value when they fit, else point to the list."""
    head = "Vui lòng chọn một giá trị trong danh sách thả xuống"
    full = f"{head}: {'; '.join(values)}."
    if len(full) <= EXCEL_MESSAGE_MAX:
        return full
    return f"{head} (bấm vào mũi tên bên phải ô để xem đủ {len(values)} giá trị)."


def _personal_value(f: Field, unit: Unit) -> str:
    return {"unit_code": unit.code, "unit_name": unit.name, "sector": unit.sector, "commune": unit.commune}[f.role]


def _write_unit(
    ws: Any,
    form: Form,
    settings: Settings,
    fmt: _Formats,
    names: dict[str, str],
    words: dict[str, str],
    unit: Unit | None,
) -> None:
    ws.write_string(0, 0, "THÔNG TIN ĐƠN VỊ", fmt.title)
    ws.write_string(
        1,
        0,
        'Điền các ô nền vàng ở cột "Giá trị". Ô nền xám do LĐLĐ huyện điền sẵn. Ngày ghi dạng dd/mm/yyyy.',
        fmt.note,
    )
    ws.write_row(UNIT_HEADER_ROW - 1, 0, ["Nội dung", "Giá trị", "Bắt buộc", "Hướng dẫn"], fmt.header)
    for i, f in enumerate(form.unit):
        row = UNIT_FIRST_ROW - 1 + i
        ws.write_string(row, UNIT_LABEL_COL, f.label, fmt.label)
        ws.write_string(row, 2, "Bắt buộc" if f.required else "", fmt.label)
        ws.write_string(row, 3, f.rule.format(**words), fmt.label)
        _fit_row(ws, row, [(f.label, 44), (f.rule.format(**words), 60)])
        if unit is not None and f.personal:
            ws.write_string(row, UNIT_VALUE_COL, _personal_value(f, unit), fmt.locked_value)
            continue
        ws.write_blank(row, UNIT_VALUE_COL, None, fmt.cell(f))
        validation = _validation(f, form, settings, names, words)
        if validation:
            ws.data_validation(row, UNIT_VALUE_COL, row, UNIT_VALUE_COL, validation)
    ws.set_column(0, 0, 44)
    ws.set_column(1, 1, 42)
    ws.set_column(2, 2, 10)
    ws.set_column(3, 3, 60)
    ws.set_row(UNIT_HEADER_ROW - 1, 22)
    ws.freeze_panes(UNIT_HEADER_ROW, 0)
    _print_setup(ws, UNIT_HEADER_ROW - 1)
    ws.protect("", {"format_columns": True, "format_rows": True})


def _write_initiatives(
    ws: Any,
    form: Form,
    settings: Settings,
    fmt: _Formats,
    names: dict[str, str],
    words: dict[str, str],
    unit: Unit | None,
) -> None:
    header = INITIATIVE_HEADER_ROW - 1
    first, last = header + 1, header + form.input_rows
    ws.write_string(0, 0, 'DANH SÁCH SÁNG KIẾN ĐĂNG KÝ THAM GIA CHƯƠNG TRÌNH "01 TRIỆU SÁNG KIẾN"', fmt.title)
    who = f"Đơn vị: {unit.name} (mã {unit.code}). " if unit else ""
    ws.write_string(
        1,
        0,
        who + "Mỗi sáng kiến một dòng; chọn giá trị trong danh sách thả xuống; ngày ghi dạng dd/mm/yyyy.",
        fmt.note,
    )
    for col, f in enumerate(form.initiative):
        ws.write_string(header, col, f.label, fmt.header)
        ws.set_column(col, col, f.width)
        validation = _validation(f, form, settings, names, words)
        if validation:
            ws.data_validation(first, col, last, col, validation)
    # Only the input rows are unlocked; the rows above the header and below the input rows are not.
    for row in range(first, last + 1):
        for col, f in enumerate(form.initiative):
            ws.write_blank(row, col, None, fmt.cell(f))
    ws.set_row(header, 48)
    ws.freeze_panes(header + 1, 2)
    ws.autofilter(header, 0, last, len(form.initiative) - 1)
    _print_setup(ws, header)
    # Nineteen columns do not fit one A4 width legibly: two pages wide, STT and title on both.
    ws.fit_to_pages(2, 0)
    ws.repeat_columns(0, 1)
    ws.protect("", {"format_columns": True, "format_rows": True, "autofilter": True, "sort": True})


def _write_guide(ws: Any, form: Form, fmt: _Formats, words: dict[str, str]) -> None:
    ws.write_string(0, 0, "HƯỚNG DẪN ĐIỀN BIỂU MẪU BÁO CÁO SÁNG KIẾN", fmt.title)
    ws.write_string(1, 0, form.programme, fmt.note)
    ws.write_string(2, 0, f"Biểu mẫu phiên bản {form.version}.", fmt.note)
    row = 4
    ws.write_string(row, 0, "Cách điền", fmt.title)
    for i, text in enumerate(INSTRUCTIONS, start=1):
        row += 1
        ws.write_string(row, 0, f"{i}.", fmt.label)
        ws.merge_range(row, 1, row, 4, text, fmt.label)
        _fit_row(ws, row, [(text, 30 + 11 + 55 + 40)])
    row += 2
    ws.write_string(row, 0, f'Các cột của trang "{form.sheets["initiatives"]}"', fmt.title)
    row += 1
    ws.write_row(row, 0, ["Cột", "Tên cột", "Bắt buộc", "Cách điền", "Ví dụ"], fmt.header)
    for col, f in enumerate(form.initiative):
        row += 1
        ws.write_row(
            row,
            0,
            [
                column_letter(col),
                f.label,
                "Bắt buộc" if f.required else "",
                f.rule.format(**words),
                _example_text(form, f),
            ],
            fmt.label,
        )
        _fit_row(ws, row, [(f.label, 30), (f.rule.format(**words), 55), (_example_text(form, f), 40)])
    # The example row below is for the screen; the printed guide stops at the column table.
    ws.print_area(0, 0, row, 4)
    row += 2
    ws.write_string(row, 0, 'Ví dụ một dòng đã điền đúng (trang "Sáng kiến")', fmt.title)
    row += 1
    ws.write_row(row, 0, [f.label for f in form.initiative], fmt.header)
    ws.set_row(row, 48)
    row += 1
    for col, f in enumerate(form.initiative):
        ws.write_string(row, col, _example_text(form, f), fmt.label)
    _fit_row(
        ws,
        row,
        [
            (_example_text(form, f), 16 if col > 4 else (8, 30, 11, 55, 40)[col])
            for col, f in enumerate(form.initiative)
        ],
    )
    ws.set_column(0, 0, 8)
    ws.set_column(1, 1, 30)
    ws.set_column(2, 2, 11)
    ws.set_column(3, 3, 55)
    ws.set_column(4, 4, 40)
    ws.set_column(5, len(form.initiative) - 1, 16)
    _print_setup(ws, None)
    ws.protect("", {"select_locked_cells": True})


def _example_text(form: Form, f: Field) -> str:
    value = form.example.get(f.key, "")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, int) and f.role == "benefit":
        return number(value)
    return str(value)


def _fit_row(ws: Any, row: int, texts: list[tuple[str, int]]) -> None:
    """Set a row's height for wrapped text (Excel does not grow rows of a written file by itself)."""
    lines = max((-(-len(text) * 17 // 20 // max(width - 1, 1)) for text, width in texts if text), default=1)
    if lines > 1:
        ws.set_row(row, 16 * lines)


def _print_setup(ws: Any, repeat_row: int | None) -> None:
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.set_margins(left=0.5, right=0.4, top=0.6, bottom=0.6)
    ws.fit_to_pages(1, 0)
    ws.set_footer("&CTrang &P/&N")
    if repeat_row is not None:
        ws.repeat_rows(repeat_row)
