"""Random values in a filled template's cells (hypothesis): reading and validation never fall over,
and everything they say is in Vietnamese, at the cell it is about."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pipeline.findings import Severity
from pipeline.form import Form
from pipeline.intake import fingerprint
from pipeline.read import read_workbook
from pipeline.results import Status
from pipeline.sheets import EXCEL_TEXT_MAX
from pipeline.stages import check_books
from pipeline.template import INITIATIVE_HEADER_ROW, UNIT_FIRST_ROW, UNIT_VALUE_COL
from tests.conftest import fill_template
from tests.test_values import ANY_CELL

_VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)


def _storable(value: object) -> bool:
    """What openpyxl can put in a cell (it refuses control characters and NaN/inf)."""
    if isinstance(value, str):
        return not ILLEGAL_CHARACTERS_RE.search(value) and len(value) <= EXCEL_TEXT_MAX
    # Numbers past 1e11 are left out: python-calamine panics on them in a date-formatted cell (a
    # chrono overflow), which costs the file in a run (`reader-crash`, test_guard) but not here.
    if isinstance(value, float):
        return value == value and abs(value) < 1e11
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 10**11
    if isinstance(value, dt.datetime | dt.date):
        return dt.date(1900, 3, 1) <= (value.date() if isinstance(value, dt.datetime) else value)
    return True


CELL = ANY_CELL.filter(_storable)


def _plainly_there(value: object) -> bool:
    """A value no reader takes for a blank (text that is spaces, controls or an `_xHHHH_` escape may be)."""
    if isinstance(value, str):
        return value.strip() != "" and value.isprintable() and "_x" not in value
    return value is not None


@pytest.fixture(scope="module")
def base(tmp_path_factory, form, settings, roster) -> Path:
    rows = [{}, {"ten_sang_kien": "Cải tiến quy trình tiếp nhận hồ sơ"}]
    return fill_template(tmp_path_factory.mktemp("random"), form, settings, roster, rows=rows, name="base.xlsx")


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the fixtures' long reprs
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    unit=st.dictionaries(st.integers(0, 15), CELL, max_size=6),
    cells=st.dictionaries(st.tuples(st.integers(0, 2), st.integers(0, 18)), CELL, max_size=12),
)
@pytest.mark.slow
def test_any_values_in_the_form_are_read_and_checked_without_failing(
    base, tmp_path, form: Form, settings, roster, unit, cells
) -> None:
    wb = openpyxl.load_workbook(base)
    for i, value in unit.items():
        wb[form.sheets["unit"]].cell(UNIT_FIRST_ROW + i, UNIT_VALUE_COL + 1).value = value
    for (r, c), value in cells.items():
        target = wb[form.sheets["initiatives"]].cell(INITIATIVE_HEADER_ROW + 1 + r, c + 1)
        target.value = value
        if isinstance(value, str) and value.startswith("="):
            target.data_type = "s"
    path = tmp_path / "random.xlsx"
    wb.save(path)
    book = read_workbook(path, form)
    [result] = check_books([fingerprint(path, path.name)], [book], settings, form, roster)
    # Each cell's finding is at the cell of the field it names: the unit field's own row, or an
    # initiative row that was read, in that field's column.
    unit_cells = {f.label: (v.row, v.column) for f in form.unit if (v := book.unit.get(f.key)) is not None}
    columns = {f.label: book.columns.get(f.key) for f in form.initiative}
    for f in result.findings:
        assert f.message and (_VIETNAMESE.search(f.message) or f.severity is Severity.NOTICE), f
        if f.location.cell is None:
            continue
        if f.location.sheet == form.sheets["unit"]:
            assert unit_cells.get(f.field or "") == (f.location.row, f.location.column), f
        else:
            assert f.location.sheet == form.sheets["initiatives"], f
            assert f.location.row in book.row_numbers and columns.get(f.field or "") == f.location.column, f
    # The rows read are the two filled ones, and the third when something was written into it.
    first = INITIATIVE_HEADER_ROW + 1
    third = [value for (r, _), value in cells.items() if r == 2]
    assert book.row_numbers[:2] == [first, first + 1] and len(book.row_numbers) <= 3, book.row_numbers
    if any(_plainly_there(value) for value in third):
        assert book.row_numbers == [first, first + 1, first + 2]
    elif all(value is None or value == "" for value in third):
        assert book.row_numbers == [first, first + 1]
    # Rejected or not, the result counts the rows read, and its status is what its findings say.
    assert result.initiatives == book.count
    assert (result.status is Status.REJECTED) == (result.count(Severity.ERROR) > 0), result.status
