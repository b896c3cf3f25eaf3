"""Reading: sheets, labels and headers found wherever they are; versions and other forms recognised."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.findings import Code, Severity, make
from pipeline.form import Field, Form, load_form
from pipeline.read import WorkbookData, _convert, _read_initiatives, _Repairs, read_workbook
from pipeline.sheets import CellError, FormulaText, column_letter
from pipeline.template import INITIATIVE_HEADER_ROW
from pipeline.values import is_blank
from tests.test_values import ANY_CELL

_FORM = load_form()


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
    from pipeline.sheets import read_grids
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


# --- columns read at once, as cell by cell --------------------------------------------------------


def _cell_by_cell(grid: list[list[object]], form: Form, header_row: int, columns: dict[int, Field]) -> WorkbookData:
    """The initiatives of `grid` read one cell after the other, row by row: what the reader did before
    it read columns at once, for comparing."""
    data = WorkbookData("f.xlsx", Path("f.xlsx"), sheets={"initiatives": form.sheets["initiatives"]})
    repairs = _Repairs()
    data.columns = {f.key: column_letter(col) for col, f in columns.items()}
    for f in columns.values():
        data.values[f.key], data.raws[f.key] = [], []
    for i, cells in enumerate(grid[header_row:]):
        row = [None if cell == "" else cell for cell in cells]
        if all(is_blank(row[col] if col < len(row) else None) for col in columns):
            continue
        excel_row = header_row + 1 + i
        data.row_numbers.append(excel_row)
        for order, (col, f) in enumerate(columns.items()):
            raw = row[col] if col < len(row) else None
            value = None
            if raw is not None:
                value = _convert(
                    data, "initiatives", f, form, raw, excel_row, col, repairs, data.findings, (1, i, order)
                )
            data.values[f.key].append(value)
            data.raws[f.key].append(raw)
    if not data.row_numbers:
        data.findings.append(
            make(Code.NO_INITIATIVE, Severity.NOTICE, data.location("initiatives"), sheet=data.sheets["initiatives"])
        )
    data.findings += repairs.findings()
    return data


def _column_of(kind: str, form: Form) -> st.SearchStrategy[object]:
    """Cells of one kind for a column (most columns of a real file hold one kind), or of any kind."""
    listed = [v for f in form.initiative if f.list for v in form.allowed(f)]
    texts = st.sampled_from(
        ["Có", "có", " Không ", "CHƯA", "Hợp lệ", "Nguyễn Văn A", "a  b", "a\tb", "x\u200b", "Cải tiến quy trình",
         "NguyÔn V¨n A", "Nguyeãn Vaên A", "\u0110oàn", "\u00d0oàn", "Sáng kiến\n", "15/3/2022", "1.500.000 đ",
         "35", "  ", "\u0043\u0061\u0309i tie\u0302\u0301n", *listed]
    )  # fmt: skip
    by_kind: dict[str, st.SearchStrategy[object]] = {
        "numbers": st.one_of(st.integers(-5, 10**6).map(float), st.floats(-1e6, 1e6)),
        "whole": st.integers(0, 10**7).map(float),
        "dates": st.dates(dt.date(1950, 1, 1), dt.date(2150, 1, 1)),
        "moments": st.one_of(st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)), st.datetimes(dt.datetime(2000, 1, 1))),
        "texts": texts,
        "unknown": st.sampled_from([CellError("#N/A"), FormulaText("=A1+1"), "x"]),
        "any": st.one_of(ANY_CELL, st.just(["a list"])),  # no reader gives one: read cell by cell all the same
    }
    return st.one_of(st.none(), st.just(""), by_kind[kind], by_kind[kind], by_kind[kind])


_KINDS = st.sampled_from(["numbers", "whole", "dates", "moments", "texts", "texts", "unknown", "any"])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_columns_are_read_at_once_as_cell_by_cell(data: st.DataObject) -> None:
    """Values, cells as found, rows and findings (in the same order) are those of reading each cell
    in turn, whatever the columns hold: one kind that reads as it is, or anything."""
    form = _FORM
    kinds = [data.draw(_KINDS) for _ in form.initiative]
    rows = data.draw(st.lists(st.tuples(*(_column_of(kind, form) for kind in kinds)).map(list), max_size=8))
    header = [[None] * len(form.initiative) for _ in range(INITIATIVE_HEADER_ROW - 1)]
    grid = [*header, [f.label for f in form.initiative], *rows]
    book = WorkbookData("f.xlsx", Path("f.xlsx"), sheets={"initiatives": form.sheets["initiatives"]})
    repairs = _Repairs()
    _read_initiatives(book, grid, form, repairs)
    book.findings += repairs.findings()
    expected = _cell_by_cell(grid, form, INITIATIVE_HEADER_ROW, dict(enumerate(form.initiative)))
    assert book.row_numbers == expected.row_numbers
    for key in expected.values:
        assert [(type(v), v) for v in book.values[key]] == [(type(v), v) for v in expected.values[key]], key
        assert [(type(v), v) for v in book.raws[key]] == [(type(v), v) for v in expected.raws[key]], key
    assert [(f.code, f.location, f.value, f.params) for f in book.findings] == [
        (f.code, f.location, f.value, f.params) for f in expected.findings
    ]


def test_the_other_spaces_are_what_python_takes_for_white_space() -> None:
    """The class that sends a text cell by cell when it holds white space other than a space."""
    import sys

    from pipeline.read import _OTHER_SPACE

    other = {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace() and chr(i) != " "} | {"\u200b", "\ufeff"}
    assert {chr(i) for i in range(sys.maxunicode + 1) if _OTHER_SPACE.fullmatch(chr(i))} == other


def test_a_huge_number_is_a_finding_at_its_cell_and_the_run_goes_on(filled, form, settings, roster):
    """A number of 30 digits in an amount and in the unit's members: each an error at its cell (it
    had crashed the dataset's 64-bit column), the other rows read as usual."""
    from pipeline.intake import fingerprint
    from pipeline.stages import check_books

    path = filled(rows=[{"gia_tri_lam_loi": 1e30}, {"stt": 2}], unit={"tong_doan_vien": 1e25})
    book = read_workbook(path, form)
    codes = [(f.code, f.location.ref) for f in book.findings]
    assert [c for c, _ in codes].count(Code.NUMBER_TOO_LARGE) == 2
    assert book.count == 2 and book.values["gia_tri_lam_loi"][1] is not None
    [result] = check_books([fingerprint(path, path.name)], [book], settings, form, roster)
    assert result.status.value == "rejected"
    assert any(f.code is Code.NUMBER_TOO_LARGE and "Giá trị làm lợi" in f.message for f in result.findings)
