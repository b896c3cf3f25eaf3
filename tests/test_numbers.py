"""Vietnamese numbers and dates: separators, rounding half up, shares that add up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.numbers import date, money, number, percent, place_and_date, share_texts, shares, short


@pytest.mark.parametrize(("value", "text"), [(1234, "1.234"), (2_197, "2.197"), (0, "0"), (None, "")])
def test_number(value, text):
    assert number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.232, "23,2%"),
        (0.05, "5,0%"),
        (1, "100,0%"),
        (None, ""),
        # Half up, as a person rounds by hand (half to even gave "6,2%" and "0,2%").
        (0.0625, "6,3%"),
        (0.1875, "18,8%"),
        (0.0025, "0,3%"),
        (0.0035, "0,4%"),
        (1 / 3, "33,3%"),
    ],
)
def test_percent_rounds_half_up(value, text):
    assert percent(value) == text


def test_short_numbers_and_money():
    assert short(2.5) == "2,5" and short(1_234_567) == "1.234.567" and short(2.0) == "2"
    assert number(2.25, 1) == "2,3" and number(1234.5) == "1.235"
    assert money(1_500_000) == "1,5 triệu đồng" and money(137_000_000) == "137 triệu đồng"
    assert money(1_250_000) == "1,3 triệu đồng" and money(850_000) == "850.000 đồng"


def test_dates():
    assert date(dt.date(2022, 6, 5)) == "05/06/2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 6, 5)) == "Vĩnh Thuận, ngày 05 tháng 6 năm 2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 1, 15)) == "Vĩnh Thuận, ngày 15 tháng 01 năm 2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 12, 25)) == "Vĩnh Thuận, ngày 25 tháng 12 năm 2022"


def test_shares_of_thirds_and_eighths_add_up():
    assert share_texts([1, 1, 1]) == ["33,4%", "33,3%", "33,3%"]
    # 6,25% and 18,75% each: rounded alone they would print 6,3% + 3 × 18,8% + 37,5% = 100,2%.
    assert share_texts([1, 3, 3, 3, 6]) == ["6,3%", "18,8%", "18,7%", "18,7%", "37,5%"]
    assert share_texts([0, 0]) == ["", ""] and shares([]) is None


@given(st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=40), st.sampled_from([0, 1, 2]))
def test_printed_shares_always_add_up_to_the_whole(counts, digits):
    split = shares(counts, digits)
    if sum(counts) == 0:
        assert split is None
        return
    assert split is not None and sum(split) == Decimal(100)
    for count, share in zip(counts, split, strict=True):
        exact = Decimal(count) * 100 / sum(counts)
        assert abs(share - exact) < Decimal(1).scaleb(-digits)  # never off by a whole printed unit
    printed = share_texts(counts, digits)
    back = sum(Decimal(t.rstrip("%").replace(".", "").replace(",", ".")) for t in printed)
    assert back == 100


def test_a_number_longer_than_the_default_decimal_precision_keeps_every_digit():
    # A cell may hold 10^28 (found by the parsers' property test): 28 digits is Decimal's default.
    assert number(10**28) == "10" + ".000" * 9
    assert number(10**40 + 1, 1) == "10" + ".000" * 12 + ".001,0"
