"""Vietnamese number and date formatting for the report."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.render.numbers import date, money, number, percent, place_and_date


@pytest.mark.parametrize(("value", "text"), [(1234, "1.234"), (2_197, "2.197"), (0, "0"), (None, "")])
def test_number(value, text):
    assert number(value) == text


@pytest.mark.parametrize(("value", "text"), [(0.232, "23,2%"), (0.05, "5,0%"), (1, "100,0%"), (None, "")])
def test_percent(value, text):
    assert percent(value) == text


def test_money_and_dates():
    assert money(1_500_000) == "1,5 triệu đồng" and money(137_000_000) == "137 triệu đồng"
    assert money(850_000) == "850.000 đồng"
    assert date(dt.date(2022, 6, 5)) == "05/06/2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 6, 5)) == "Vĩnh Thuận, ngày 05 tháng 6 năm 2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 1, 15)) == "Vĩnh Thuận, ngày 15 tháng 01 năm 2022"
    assert place_and_date("Vĩnh Thuận", dt.date(2022, 12, 25)) == "Vĩnh Thuận, ngày 25 tháng 12 năm 2022"
