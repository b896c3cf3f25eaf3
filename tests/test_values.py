"""Parsers of typed values: what users type in Vietnam, and nothing guessed."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.findings import Code
from pipeline.text import WHITESPACE, clean_text, fold, neutralise_formula
from pipeline.values import excel_serial, to_date, to_int, to_text


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("1.500.000", 1_500_000),
        ("1.500.000 đ", 1_500_000),
        ("1 500 000 đồng", 1_500_000),
        ("1,5 triệu", 1_500_000),
        ("2 tr", 2_000_000),
        ("35", 35),
        (35.0, 35),
        ("1.5", None),
        ("1,5", None),
        ("1.500 triệu", None),
        ("-3", None),
        (3.5, None),
        ("mười", None),
    ],
)
def test_whole_numbers(typed, value):
    assert to_int(typed).value == value


@pytest.mark.parametrize(
    ("typed", "value", "code"),
    [
        ("15/3/2022", dt.date(2022, 3, 15), Code.TEXT_DATE_READ),
        ("15-03-2022", dt.date(2022, 3, 15), Code.TEXT_DATE_READ),
        ("15.03.2022", dt.date(2022, 3, 15), Code.TEXT_DATE_READ),
        ("5-4-2022", dt.date(2022, 4, 5), Code.TEXT_DATE_READ),
        (44635, dt.date(2022, 3, 15), None),
        (dt.datetime(2022, 3, 15, 0, 0), dt.date(2022, 3, 15), None),
        ("15/3/22", None, Code.TWO_DIGIT_YEAR),
        ("31/02/2022", None, Code.NO_SUCH_DATE),
        ("29/02/2023", None, Code.NO_SUCH_DATE),
        ("15/13/2022", None, Code.NO_SUCH_DATE),
        ("29/02/2024", dt.date(2024, 2, 29), Code.TEXT_DATE_READ),
        ("3/15/2022", None, Code.NO_SUCH_DATE),  # month-first: there is no 15th month
        ("tháng 3", None, Code.NOT_A_DATE),
        (12, None, Code.NOT_A_DATE),
    ],
)
def test_dates_are_day_first(typed, value, code):
    parsed = to_date(typed)
    assert (parsed.value, parsed.code) == (value, code)


@given(st.dates(min_value=dt.date(1960, 1, 1), max_value=dt.date(2100, 12, 31)), st.sampled_from("/-."))
def test_any_day_first_text_date_reads_back(date, sep):
    assert to_date(f"{date.day}{sep}{date.month}{sep}{date.year}").value == date
    assert to_date(excel_serial(date)).value == date


@given(st.integers(min_value=0, max_value=10**12))
def test_any_number_with_thousand_dots_reads_back(number):
    assert to_int(f"{number:,}".replace(",", ".")).value == number
    assert to_int(float(number)).value == number


@given(st.text())
def test_clean_text_is_idempotent_nfc_and_trimmed(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert unicodedata.normalize("NFC", once) == once
    assert once == once.strip() and "  " not in once and "\u00a0" not in once and "\u00d0" not in once


VIETNAMESE = "aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ 0123456789,.-"


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper()))
def test_fold_ignores_case_and_diacritics(text):
    assert fold(text) == fold(unicodedata.normalize("NFD", text.upper()))


def test_fold_and_clean_examples():
    assert fold("TEN SANG KIEN") == fold("Tên sáng kiến") == "ten sang kien"
    assert clean_text("  \u00d0oàn\u00a0viên  ") == "Đoàn viên"
    assert to_text(unicodedata.normalize("NFD", "Đức")).value == "Đức"


@pytest.mark.parametrize("payload", ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(1)", "\tx", "\rx"])
def test_formula_is_neutralised(payload):
    assert neutralise_formula(payload) == "'" + payload
    assert neutralise_formula("Bình thường") == "Bình thường"


# Anything a reader may hand over for a cell: text of any kind (controls, astral, Excel escapes,
# formula and markup payloads), numbers of any size (nan, inf), booleans, dates, times.
ANY_CELL = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.sampled_from("0123456789.,-/ đtriệungànỷ")),
    st.sampled_from(["=1+1", "+cmd|' /C calc'!A0", "#N/A", "_x0000_", "\u200b", "<script>", "1/2/22", "31/02/2022"]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)


@given(ANY_CELL)
def test_the_parsers_take_any_cell_and_say_what_they_did(value):
    for parse, kind in ((to_text, str), (to_int, int), (to_date, dt.date)):
        parsed = parse(value)  # never raises
        assert parsed.value is None or isinstance(parsed.value, kind), (parse.__name__, value, parsed)
        assert not (parsed.value is None and parsed.code is not None) or parsed.failed
        if parsed.value is None and value is not None and not (isinstance(value, str) and not clean_text(value)):
            # Something was there and could not be read: that is said, never a silent blank.
            assert parsed.code is not None or parse is to_text, (parse.__name__, value)
    text = to_text(value).value
    if text is not None:
        assert text == clean_text(text) and text.strip() == text
        assert not any(ord(c) < 32 for c in text), repr(text)
    number = to_int(value).value
    if number is not None:
        assert not isinstance(number, bool)  # (a negative number is for validation to refuse)


@pytest.mark.parametrize("value", [10**15, -(10**15), 1e30, float(2**80), "1.000.000.000.000.000", "9e99"])
def test_a_whole_number_beyond_what_excel_keeps_is_an_error_not_a_value(value):
    parsed = to_int(value)
    assert parsed.value is None and parsed.code in (Code.NUMBER_TOO_LARGE, Code.NOT_A_NUMBER)
    if not isinstance(value, str) or value.startswith("1."):
        assert parsed.code is Code.NUMBER_TOO_LARGE
    assert to_int(10**15 - 1).value == 10**15 - 1


def test_the_whitespace_table_is_all_of_pythons():
    """`text.WHITESPACE` looks below U+3001 only: no whitespace of this Python's Unicode is beyond."""
    assert tuple(chr(c) for c in range(0x110000) if chr(c).isspace()) == WHITESPACE
