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
    for f in result.findings:
        assert f.message and (_VIETNAMESE.search(f.message) or f.severity is Severity.NOTICE), f
        if f.location.cell is not None:
            assert f.location.sheet in form.sheets.values()
    assert result.initiatives == (book.count if not result.count(Severity.ERROR) else result.initiatives)
