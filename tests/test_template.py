"""The Excel template as a union sees it: sheets, dropdowns, validation, protection and layout.

Every test reads the generated workbook back with openpyxl and checks the stored structure, so a
feature that stops being written (a dropdown, a lock, a print setting) fails here.
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.utils.cell import coordinate_from_string, get_column_letter, range_boundaries
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.config import Settings
from pipeline.findings import Code, Severity
from pipeline.form import Field, Form, window_words
from pipeline.read import read_workbook
from pipeline.roster import Roster, Unit
from pipeline.sheets import EXCEL_TEXT_MAX
from pipeline.template import (
    DATE_FORMAT,
    INITIATIVE_HEADER_ROW,
    UNIT_HEADER_ROW,
    UNIT_LABEL_COL,
    UNIT_VALUE_COL,
    list_error_message,
    list_name,
    template_name,
    write_template,
    write_templates,
)

# The templates are written once for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.xdist_group("template")]

CODE = "VT021"
PERSONAL = ("ma_cdcs", "ten_cdcs", "khoi", "xa_thi_tran")
EXCEL_EPOCH = dt.date(1899, 12, 30)
VALUE_LETTER = get_column_letter(UNIT_VALUE_COL + 1)


# ------------------------------------------------------------------------------------------------
# Fixtures: the blank and the personalised template, written once per module.


@pytest.fixture(scope="module")
def unit(roster: Roster) -> Unit:
    found = roster.find(CODE)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def blank_path(tmp_path_factory: pytest.TempPathFactory, form: Form, settings: Settings) -> Path:
    return write_template(tmp_path_factory.mktemp("blank") / "blank.xlsx", form, settings)


@pytest.fixture(scope="module")
def personal_path(tmp_path_factory: pytest.TempPathFactory, form: Form, settings: Settings, unit: Unit) -> Path:
    return write_template(tmp_path_factory.mktemp("personal") / "personal.xlsx", form, settings, unit)


@pytest.fixture(scope="module")
def blank(blank_path: Path) -> Workbook:
    return openpyxl.load_workbook(blank_path)


@pytest.fixture(scope="module")
def personal(personal_path: Path) -> Workbook:
    return openpyxl.load_workbook(personal_path)


# ------------------------------------------------------------------------------------------------
# Helpers


def _unit_rows(ws: Worksheet, form: Form) -> dict[str, int]:
    """Field key -> Excel row of its label on the unit sheet, found by the label itself."""
    by_label = {
        ws.cell(row, UNIT_LABEL_COL + 1).value: row
        for row in range(1, ws.max_row + 1)
        if ws.cell(row, UNIT_LABEL_COL + 1).value
    }
    missing = [f.label for f in form.unit if f.label not in by_label]
    assert not missing, f"unit labels not found: {missing}"
    return {f.key: by_label[f.label] for f in form.unit}


def _validations(ws: Worksheet) -> dict[str, DataValidation]:
    """sqref -> validation; every range has exactly one validation."""
    out: dict[str, DataValidation] = {}
    for dv in ws.data_validations.dataValidation:
        ref = str(dv.sqref)
        assert ref not in out, f"two validations on {ws.title}!{ref}"
        out[ref] = dv
    return out


def _list_range_values(wb: Workbook, name: str) -> tuple[str, list[Any]]:
    """The sheet a defined name points to and the values of its cells, in order."""
    assert name in wb.defined_names, f"defined name {name} missing"
    destinations = list(wb.defined_names[name].destinations)
    assert len(destinations) == 1
    sheet, ref = destinations[0]
    min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
    assert min_col == max_col, f"{name} is not a single column: {ref}"
    values = [wb[sheet].cell(row, min_col).value for row in range(min_row, max_row + 1)]
    return sheet, values


def _serial(day: dt.date) -> int:
    return (day - EXCEL_EPOCH).days


def _has_vietnamese(text: str) -> bool:
    return any(ord(c) > 127 and unicodedata.category(c).startswith("L") for c in text)


def _check_messages(dv: DataValidation, f: Field, words: dict[str, str]) -> None:
    where = f"{f.key} ({dv.sqref})"
    assert dv.showInputMessage, where
    assert dv.promptTitle == f.title and len(f.title) <= 32, where
    assert len(dv.promptTitle) <= 32, where  # Excel's limit for the title
    assert dv.prompt == f.help.format(**words), where
    assert "{" not in dv.prompt, where  # the window placeholders were filled
    assert 0 < len(dv.prompt) <= 255, where
    assert _has_vietnamese(dv.prompt), where
    if dv.type is None:  # an input message only ("any value"): nothing is refused, no error text
        return
    assert dv.showErrorMessage, where
    assert dv.errorTitle and _has_vietnamese(dv.errorTitle), where
    assert dv.error and _has_vietnamese(dv.error), where
    assert len(dv.error) <= 255 and len(dv.errorTitle) <= 32, where


def _check_rule(dv: DataValidation, f: Field, form: Form, settings: Settings) -> None:
    where = f"{f.key} ({dv.sqref})"
    if f.type == "list":
        assert dv.type == "list", where
        assert dv.formula1 == list_name(f.list or ""), where
        assert not dv.showDropDown, where  # showDropDown=1 would *hide* the arrow in Excel
        assert dv.errorStyle in (None, "stop"), where
        assert dv.error == list_error_message(form.allowed(f)), where
    elif f.type == "date":
        assert dv.type == "date", where
        assert dv.operator in (None, "between"), where
        assert dv.errorStyle in (None, "stop"), where
        start, end = int(dv.formula1), int(dv.formula2)
        assert start <= end, where
        if f.window in settings.windows:
            window = settings.windows[f.window]
            assert (start, end) == (_serial(window[0]), _serial(window[1])), where
            assert window[0].strftime("%d/%m/%Y") in dv.error and window[1].strftime("%d/%m/%Y") in dv.error
    elif f.type == "integer":
        assert dv.type == "whole", where
        assert dv.operator == "greaterThanOrEqual", where
        assert dv.formula1 == str(f.min or 0), where
        assert dv.errorStyle in (None, "stop"), where
    elif f.min_length or f.max_length:
        assert dv.type == "textLength", where
        assert (int(dv.formula1), int(dv.formula2)) == (f.min_length or 0, f.max_length or EXCEL_TEXT_MAX), where
    assert dv.allow_blank, where  # blanks are judged by the pipeline, not refused by Excel


def _excel_width(stored: float) -> float:
    """A stored column width -> the width in characters Excel shows (ECMA-376 §18.3.1.13, 7 px digits)."""
    pixels = int(((256 * stored + int(128 / 7)) / 256) * 7)
    return int((pixels - 5) / 7 * 100 + 0.5) / 100


def _meta(wb: Workbook, form: Form) -> dict[str, Any]:
    ws = wb[form.sheets["lists"]]
    return {ws.cell(row, 1).value: ws.cell(row, 2).value for row in range(1, 21) if ws.cell(row, 1).value}


# ------------------------------------------------------------------------------------------------
# Sheets


def test_sheet_names_and_order_with_the_list_sheet_hidden(blank: Workbook, personal: Workbook, form: Form) -> None:
    expected = ["Hướng dẫn", "Thông tin đơn vị", "Sáng kiến", "Danh mục"]
    assert [form.sheets[k] for k in ("guide", "unit", "initiatives", "lists")] == expected
    for wb in (blank, personal):
        assert wb.sheetnames == expected
        states = {ws.title: ws.sheet_state for ws in wb.worksheets}
        assert states == {
            "Hướng dẫn": "visible",
            "Thông tin đơn vị": "visible",
            "Sáng kiến": "visible",
            "Danh mục": "hidden",
        }
        assert wb.active.title == "Hướng dẫn"  # the file opens on the guide


# ------------------------------------------------------------------------------------------------
# Dropdowns and validation


def test_every_list_has_a_defined_name_over_its_values_on_the_list_sheet(blank: Workbook, form: Form) -> None:
    for key, values in form.lists.items():
        sheet, cells = _list_range_values(blank, list_name(key))
        assert sheet == form.sheets["lists"]
        assert cells == list(values), key


def test_unit_fields_carry_their_validation(blank: Workbook, form: Form, settings: Settings) -> None:
    ws = blank[form.sheets["unit"]]
    rows = _unit_rows(ws, form)
    validations = _validations(ws)
    words = window_words(settings.windows)
    assert set(validations) == {f"{VALUE_LETTER}{rows[f.key]}" for f in form.unit}
    for f in form.unit:
        dv = validations[f"{VALUE_LETTER}{rows[f.key]}"]
        _check_rule(dv, f, form, settings)
        _check_messages(dv, f, words)
        if f.type == "list":
            sheet, values = _list_range_values(blank, dv.formula1)
            assert (sheet, values) == (form.sheets["lists"], list(form.allowed(f)))
    assert {f.type for f in form.unit} >= {"list", "date", "integer"}  # the test covers every kind


def test_initiative_fields_carry_their_validation_over_every_input_row(
    blank: Workbook, personal: Workbook, form: Form, settings: Settings
) -> None:
    first, last = INITIATIVE_HEADER_ROW + 1, INITIATIVE_HEADER_ROW + form.input_rows
    words = window_words(settings.windows)
    for wb in (blank, personal):
        validations = _validations(wb[form.sheets["initiatives"]])
        expected = {
            f.key: f"{get_column_letter(c)}{first}:{get_column_letter(c)}{last}"
            for c, f in enumerate(form.initiative, 1)
        }
        assert set(validations) == set(expected.values())
        for f in form.initiative:
            dv = validations[expected[f.key]]
            _check_rule(dv, f, form, settings)
            _check_messages(dv, f, words)
            if f.type == "list":
                sheet, values = _list_range_values(wb, dv.formula1)
                assert (sheet, values) == (form.sheets["lists"], list(form.allowed(f)))
    assert {f.type for f in form.initiative} >= {"list", "date", "integer"}


def test_list_error_messages_name_every_allowed_value_or_point_to_the_list(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["initiatives"]]
    by_list = {dv.formula1: dv.error for dv in ws.data_validations.dataValidation if dv.type == "list"}
    for f in form.initiative:
        if f.type == "list":
            message = by_list[f"{list_name(f.list or '')}"]
            assert len(message) <= 255 and message.endswith("."), f.label
            missing = [v for v in form.allowed(f) if v not in message]
            if missing:  # too many values for Excel's 255 characters: none is cut, the count is given
                assert len("; ".join(form.allowed(f))) > 200, f.label
                assert f"xem đủ {len(form.allowed(f))} giá trị" in message, f.label


def test_personal_fields_have_no_validation_once_filled_in(personal: Workbook, form: Form) -> None:
    ws = personal[form.sheets["unit"]]
    rows = _unit_rows(ws, form)
    validations = _validations(ws)
    for f in form.unit:
        assert (f"{VALUE_LETTER}{rows[f.key]}" in validations) is (not f.personal), f.key


# ------------------------------------------------------------------------------------------------
# Protection


def test_every_sheet_is_protected(blank: Workbook, personal: Workbook) -> None:
    for wb in (blank, personal):
        for ws in wb.worksheets:
            assert ws.protection.sheet, ws.title


def test_initiative_sheet_protection_still_allows_filter_and_sort(blank: Workbook, form: Form) -> None:
    protection = blank[form.sheets["initiatives"]].protection
    # In OOXML a False flag means the action is *not* protected, i.e. allowed.
    assert protection.autoFilter is False
    assert protection.sort is False


def test_unit_sheet_labels_locked_inputs_unlocked(blank: Workbook, personal: Workbook, form: Form, unit: Unit) -> None:
    expected_personal = {"ma_cdcs": unit.code, "ten_cdcs": unit.name, "khoi": unit.sector, "xa_thi_tran": unit.commune}
    assert {f.key for f in form.unit if f.personal} == set(PERSONAL) == set(expected_personal)
    for wb, personalised in ((blank, False), (personal, True)):
        ws = wb[form.sheets["unit"]]
        rows = _unit_rows(ws, form)
        assert ws.cell(1, 1).protection.locked  # title
        for col in range(1, 5):
            header = ws.cell(UNIT_HEADER_ROW, col)
            assert header.value and header.protection.locked, header.coordinate
        for f in form.unit:
            label = ws.cell(rows[f.key], UNIT_LABEL_COL + 1)
            value = ws.cell(rows[f.key], UNIT_VALUE_COL + 1)
            assert label.protection.locked, label.coordinate
            if f.personal and personalised:
                assert value.value == expected_personal[f.key], f.key
                assert value.protection.locked, f.key
            else:
                assert value.value is None, f.key
                assert not value.protection.locked, f.key


def test_initiative_sheet_header_locked_input_rows_unlocked(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["initiatives"]]
    first, last = INITIATIVE_HEADER_ROW + 1, INITIATIVE_HEADER_ROW + form.input_rows
    width = len(form.initiative)
    for row in range(1, INITIATIVE_HEADER_ROW + 1):
        for col in range(1, width + 1):
            assert ws.cell(row, col).protection.locked, ws.cell(row, col).coordinate
    unlocked = [
        [not ws.cell(row, col).protection.locked for col in range(1, width + 1)] for row in range(first, last + 1)
    ]
    assert all(all(row) for row in unlocked)
    for col in range(1, width + 1):
        assert ws.cell(last + 1, col).protection.locked  # below the prepared rows
        assert ws.cell(first, col).value is None


def test_guide_and_list_sheets_are_locked(blank: Workbook, form: Form) -> None:
    assert blank[form.sheets["guide"]]["A1"].protection.locked
    assert blank[form.sheets["lists"]]["A1"].protection.locked


# ------------------------------------------------------------------------------------------------
# Version and metadata


def test_version_and_metadata_on_the_list_sheet(blank: Workbook, personal: Workbook, form: Form) -> None:
    for wb, code in ((blank, None), (personal, CODE)):
        meta = _meta(wb, form)
        assert meta[form.meta["version"]] == form.version
        assert meta[form.meta["form_id"]] == form.id
        assert form.meta["unit_code"] in meta
        assert (meta[form.meta["unit_code"]] or None) == code  # the blank template's cell is empty
        generated = meta[form.meta["generated"]]
        assert dt.datetime.strptime(generated, "%d/%m/%Y").date() == dt.date.today()


# ------------------------------------------------------------------------------------------------
# Layout of the initiative sheet


def test_initiative_headers_are_the_form_labels_without_merged_cells(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["initiatives"]]
    headers = [ws.cell(INITIATIVE_HEADER_ROW, c).value for c in range(1, len(form.initiative) + 2)]
    assert headers == [f.label for f in form.initiative] + [None]
    assert not ws.merged_cells.ranges


def test_input_cells_have_the_number_format_of_their_type(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["initiatives"]]
    first, last = INITIATIVE_HEADER_ROW + 1, INITIATIVE_HEADER_ROW + form.input_rows
    dates = [c for c, f in enumerate(form.initiative, 1) if f.type == "date"]
    assert dates
    for col in dates:
        formats = {ws.cell(row, col).number_format for row in range(first, last + 1)}
        assert formats == {DATE_FORMAT}, get_column_letter(col)
    unit_ws = blank[form.sheets["unit"]]
    rows = _unit_rows(unit_ws, form)
    for f in form.unit:
        if f.type == "date":
            assert unit_ws.cell(rows[f.key], UNIT_VALUE_COL + 1).number_format == DATE_FORMAT, f.key


def test_column_widths_are_the_form_widths(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["initiatives"]]
    widths: dict[int, float] = {}
    for dim in ws.column_dimensions.values():  # xlsxwriter groups equal neighbours into one <col>
        for col in range(dim.min, dim.max + 1):
            widths[col] = _excel_width(dim.width)
    assert [widths.get(c) for c in range(1, len(form.initiative) + 1)] == [float(f.width) for f in form.initiative]


def test_print_setup_and_frozen_header(blank: Workbook, form: Form) -> None:
    for key in ("guide", "unit", "initiatives"):
        ws = blank[form.sheets[key]]
        assert ws.page_setup.orientation == "landscape", key
        assert int(ws.page_setup.paperSize) == 9, key  # A4
        # Fitted to the page width (an absent fitToWidth is the OOXML default, 1), any number of pages tall.
        assert ws.sheet_properties.pageSetUpPr.fitToPage, key
        assert int(ws.page_setup.fitToWidth or 1) == 1 or key == "initiatives", key
        assert ws.page_setup.fitToHeight is not None and int(ws.page_setup.fitToHeight) == 0, key

    ws = blank[form.sheets["initiatives"]]
    assert ws.print_title_rows == f"${INITIATIVE_HEADER_ROW}:${INITIATIVE_HEADER_ROW}"
    if int(ws.page_setup.fitToWidth or 1) > 1:  # printed several pages wide: STT and name on every page
        assert ws.print_title_cols == "$A:$B"
    _, frozen_row = coordinate_from_string(ws.freeze_panes)
    assert frozen_row == INITIATIVE_HEADER_ROW + 1
    last = get_column_letter(len(form.initiative))
    assert ws.auto_filter.ref == f"A{INITIATIVE_HEADER_ROW}:{last}{INITIATIVE_HEADER_ROW + form.input_rows}"

    ws = blank[form.sheets["unit"]]
    assert ws.print_title_rows == f"${UNIT_HEADER_ROW}:${UNIT_HEADER_ROW}"
    assert coordinate_from_string(ws.freeze_panes)[1] == UNIT_HEADER_ROW + 1


# ------------------------------------------------------------------------------------------------
# The guide


def _example_text(form: Form, f: Field) -> str:
    value = form.example.get(f.key, "")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if f.key == "gia_tri_lam_loi":
        return f"{value:,}".replace(",", ".")
    return str(value)


def test_guide_shows_the_worked_example_and_the_version(blank: Workbook, form: Form) -> None:
    ws = blank[form.sheets["guide"]]
    grid = [[c if c is not None else "" for c in row] for row in ws.iter_rows(values_only=True)]
    texts = [str(c) for row in grid for c in row if c != ""]
    assert any(form.example["ten_sang_kien"] in t for t in texts)
    assert any(f"phiên bản {form.version}" in t for t in texts)

    labels = [f.label for f in form.initiative]
    header_rows = [i for i, row in enumerate(grid) if list(row[: len(labels)]) == labels]
    assert len(header_rows) == 1, "the worked example's header row"
    example = [str(c) for c in grid[header_rows[0] + 1][: len(labels)]]
    assert example == [_example_text(form, f) for f in form.initiative]
    assert example[labels.index("Ngày áp dụng lần đầu")] == "15/03/2022"
    assert example[labels.index("Giá trị làm lợi ước tính (đồng)")] == "15.000.000"


# ------------------------------------------------------------------------------------------------
# All templates at once


def test_write_templates_writes_blank_and_one_per_active_union(
    tmp_path: Path, form: Form, settings: Settings, roster: Roster
) -> None:
    out = tmp_path / "mau"
    paths = write_templates(out, form, settings, roster)
    assert len(paths) == 1 + len(roster.active)
    assert len(roster.active) < len(roster)  # the demo roster has inactive unions, left out
    assert sorted(os.listdir(out)) == sorted(p.name for p in paths)  # nothing else, no temp files
    assert len({p.name for p in paths}) == len(paths)
    for p in paths:
        assert p.suffix == ".xlsx" and p.is_file()
        assert unicodedata.is_normalized("NFC", p.name), p.name
        assert not p.name.isascii(), p.name
    assert paths[0].name == template_name(form) == f"Mẫu báo cáo sáng kiến v{form.version}.xlsx"
    inactive = {u.code for u in roster if not u.active}
    assert not any(p.name.split(" ")[0] in inactive for p in paths)

    only_notice = [(Code.NO_INITIATIVE, Severity.NOTICE)]
    blank_book = read_workbook(paths[0], form)
    assert (blank_book.template_unit, blank_book.version, blank_book.form_id) == (None, form.version, form.id)
    assert [(f.code, f.severity) for f in blank_book.findings] == only_notice

    for u, p in zip(roster.active, paths[1:], strict=True):
        assert p.name == template_name(form, u)
        assert p.name.startswith(f"{u.code} - ")
        assert p.name == f"{u.code} - {u.name}.xlsx"  # the demo names need no replacement
        book = read_workbook(p, form)
        assert book.template_unit == u.code, p.name
        assert (book.version, book.form_id) == (form.version, form.id)
        assert book.unit["ma_cdcs"].value == u.code
        assert book.unit["ten_cdcs"].value == u.name
        assert [(f.code, f.severity) for f in book.findings] == only_notice, p.name
