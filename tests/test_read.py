"""Reading: sheets, labels and headers found wherever they are; versions and other forms recognised."""

from __future__ import annotations

import openpyxl
import pytest

from pipeline.findings import Code, Severity
from pipeline.read import read_workbook


def _edit(path, fn):
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        ws.protection.sheet = False
    fn(wb)
    wb.save(path)
    return path


def _codes(book):
    return [(f.location.ref, f.code, f.severity) for f in book.findings]


def test_sheet_names_retyped_without_diacritics_or_case(filled, form):
    def rename(wb):
        wb["Sáng kiến"].title = "SANG KIEN"
        wb["Thông tin đơn vị"].title = "thong tin don vi"

    book = read_workbook(_edit(filled(), rename), form)
    assert book.sheets["initiatives"] == "SANG KIEN" and book.sheets["unit"] == "thong tin don vi"
    assert len(book.rows) == 1 and book.unit["ma_cdcs"].value == "VT021"
    assert book.rows[0]["tac_gia"].cell == "C4"


def test_unit_record_with_a_column_inserted(filled, form):
    book = read_workbook(_edit(filled(), lambda wb: wb["Thông tin đơn vị"].insert_cols(1)), form)
    assert book.unit["ma_cdcs"].cell == "C5" and book.unit["ma_cdcs"].value == "VT021"
    assert book.unit["tong_doan_vien"].value == 33


def test_another_programme_is_refused(filled, form):
    def other(wb):
        wb["Danh mục"]["B2"] = "thi-dua-khac"

    book = read_workbook(_edit(filled(), other), form)
    assert _codes(book) == [("Danh mục", Code.OTHER_FORM, Severity.ERROR)]
    assert "thi-dua-khac" in book.findings[0].message and not book.readable


def test_older_version_is_read_with_a_notice_unknown_version_warned(filled, form):
    book = read_workbook(_edit(filled(), lambda wb: wb["Danh mục"].__setitem__("B3", "0.9")), form)
    assert _codes(book) == [("Danh mục", Code.OLD_VERSION, Severity.NOTICE)] and len(book.rows) == 1
    book = read_workbook(_edit(filled(name="x.xlsx"), lambda wb: wb["Danh mục"].__setitem__("B3", "7.3")), form)
    assert _codes(book) == [("Danh mục", Code.OLD_VERSION, Severity.WARNING)]


def test_missing_sheet_and_missing_columns(filled, form):
    book = read_workbook(_edit(filled(), lambda wb: wb.remove(wb["Sáng kiến"])), form)
    assert _codes(book) == [("", Code.MISSING_SHEET, Severity.ERROR)] and not book.readable
    assert '"Sáng kiến"' in book.findings[0].message

    def drop_columns(wb):
        wb["Sáng kiến"].delete_cols(2)  # "Tên sáng kiến"

    book = read_workbook(_edit(filled(name="y.xlsx"), drop_columns), form)
    assert _codes(book) == [("Sáng kiến", Code.MISSING_HEADER, Severity.ERROR)]
    assert "Tên sáng kiến" in book.findings[0].message


def test_a_file_that_is_not_the_form_at_all(tmp_path, form):
    path = tmp_path / "khác.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Bảng lương tháng 5"
    wb.save(path)
    book = read_workbook(path, form)
    assert [f.code for f in book.findings] == [Code.MISSING_SHEET, Code.MISSING_SHEET] and not book.readable


def test_blank_rows_between_initiatives_are_skipped_and_rows_keep_their_number(filled, form):
    def gap(wb):
        wb["Sáng kiến"].insert_rows(5, 3)

    book = read_workbook(_edit(filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng"}]), gap), form)
    assert [r["tac_gia"].cell for r in book.rows] == ["C4", "C8"]


def test_legacy_tcvn3_and_vni_text_is_converted_with_one_notice_per_file(filled, form):
    tcvn3 = {"tac_gia": "NguyÔn V¨n An", "ten_sang_kien": "Sè hãa hå s¬ mét cöa"}
    book = read_workbook(filled(rows=[tcvn3, {**tcvn3, "stt": 2, "tac_gia": "TrÇn ThÞ B×nh"}]), form)
    assert book.rows[0]["tac_gia"].value == "Nguyễn Văn An"
    assert book.rows[1]["tac_gia"].value == "Trần Thị Bình"
    assert book.rows[0]["ten_sang_kien"].value == "Số hóa hồ sơ một cửa"
    legacy = [f for f in book.findings if f.code is Code.LEGACY_TEXT]
    assert [(f.location.cell, f.severity) for f in legacy] == [("B4", Severity.NOTICE)]
    assert "TCVN3" in legacy[0].message and "4 ô" in legacy[0].message

    vni = read_workbook(filled(rows=[{"tac_gia": "Nguyeãn Vaên An"}], name="vni.xlsx"), form)
    assert vni.rows[0]["tac_gia"].value == "Nguyễn Văn An"
    assert [f.code for f in vni.findings] == [Code.LEGACY_TEXT] and "VNI" in vni.findings[0].message


def test_tcvn3_letter_that_looks_like_the_wrong_d_is_not_mistaken(filled, form):
    # "Ð" is the TCVN3 byte for "é"; it must not be "repaired" to "Đ" before the conversion.
    book = read_workbook(filled(rows=[{"tac_gia": "Lª V¨n LÐ"}]), form)
    assert book.rows[0]["tac_gia"].value == "Lê Văn Lé"
    assert [f.code for f in book.findings] == [Code.LEGACY_TEXT]


def test_error_values_and_formulas_without_results_are_findings_not_blanks(filled, form, settings, roster):
    """Readers give both as empty cells (catalogue #27, #28): the file does not hold the value the
    union sees, so it must be said, at the cell, and not taken for a blank."""
    from pipeline import Period, check

    path = filled(rows=[{}, {}], name="loi.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Sáng kiến"]
    ws["J4"] = "#DIV/0!"  # openpyxl writes it as an error cell
    ws["K5"] = "=DATE(2022,3,15)"  # and this as a formula with no result
    ws["J5"] = "=1000+500"
    ws["B5"] = "#N/A"  # the same text, typed: text
    ws["B5"].data_type = "s"
    wb["Thông tin đơn vị"]["B10"] = "#REF!"  # tong_doan_vien
    wb.save(path)
    data = read_workbook(path, form)
    errors = [f for f in data.findings if f.severity is Severity.ERROR]
    found = {(f.location.cell, f.code, f.value) for f in errors}
    assert found == {
        ("J4", Code.CELL_ERROR, "#DIV/0!"),
        ("K5", Code.FORMULA_NO_VALUE, "=DATE(2022,3,15)"),
        ("J5", Code.FORMULA_NO_VALUE, "=1000+500"),
        ("B10", Code.CELL_ERROR, "#REF!"),
    }
    assert data.cell(0, "gia_tri_lam_loi").value is None and data.cell(1, "ten_sang_kien").value == "#N/A"
    # Validation does not say the same cells again ("required", "not a date").
    [result] = check(Period(settings, form, roster), [path]).files
    at = [(f.location.cell, f.code) for f in result.findings if f.location.cell in ("J4", "K5", "J5", "B10")]
    assert sorted(at) == sorted((cell, code) for cell, code, _ in found)


@pytest.mark.corpus
def test_error_cells_of_other_writers_and_formulas_with_results():
    from pathlib import Path

    from pipeline.sheets import CellError, FormulaText, read_grids
    from tests.conftest import CORPUS

    grid = read_grids(CORPUS / "calamine/errors.xlsx", unknown_cells=True)["Feuil1"]
    assert [row[0] for row in grid[:7]] == ["#DIV/0!", "#NAME?", "#VALUE!", "#NULL!", "#REF!", "#NUM!", "#N/A"]
    assert all(isinstance(row[0], CellError) for row in grid[:7])
    for name in ("formula.issue.xlsx", "shared_formula_simple.xlsx", "shared_formula_reversed.xlsx"):
        path: Path = CORPUS / "calamine" / name
        plain = read_grids(path)
        marked = read_grids(path, unknown_cells=True)
        assert not any(isinstance(v, FormulaText) for g in marked.values() for row in g for v in row), name
        assert marked == plain, "formulas saved with their results read as those results"


def test_the_guard_spares_the_reader_its_search_for_unknown_cells(filled, form, monkeypatch):
    """What the guard found on its pass (the sheets without error values or formulas) the reader
    does not search again; the others it searches, and finds the same cells as on its own."""
    from pipeline import sheets
    from pipeline.guard import Limits
    from pipeline.intake import fingerprint
    from pipeline.isolate import examine
    from tests.hostile import KINDS

    searched: list[list[str]] = []
    search = sheets._unknown_xlsx_cells

    def counted(path, names):
        searched.append(sorted(names))
        return search(path, names)

    monkeypatch.setattr(sheets, "_unknown_xlsx_cells", counted)
    good = filled(rows=[{}, {}])
    assert _codes(examine(fingerprint(good, good.name), form, Limits())) == _codes(read_workbook(good, form))
    assert searched == [sorted(n for k, n in form.sheets.items() if k != "guide")]  # by the reader on its own
    [kind] = [k for k in KINDS if k.name == "error-cells"]
    bad = kind.build(good, good.with_name("error-cells.xlsx"))
    searched.clear()
    book = examine(fingerprint(bad, bad.name), form, Limits())
    assert searched == [sorted([form.sheets["unit"], form.sheets["initiatives"]])]
    assert Code.CELL_ERROR in {f.code for f in book.findings}
    assert _codes(book) == _codes(read_workbook(bad, form))
