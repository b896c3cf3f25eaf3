"""Vietnamese formatting of the report's numbers and dates, with Babel's "vi" locale.

"1.234", "23,2%", "1,5 triệu đồng", "05/06/2022", and the place-and-date line of an administrative
document ("Vĩnh Thuận, ngày 05 tháng 6 năm 2022": day below 10 and months 1 and 2 take a zero).
"""

from __future__ import annotations

import datetime as dt
import functools

from babel.numbers import format_decimal, format_percent

LOCALE = "vi_VN"


@functools.lru_cache(maxsize=65536)  # a province's report formats the same counts many times
def number(value: float | int | None) -> str:
    """A count or an amount: "1.234"; "" for None."""
    if value is None:
        return ""
    return format_decimal(value, format="#,##0", locale=LOCALE)


@functools.lru_cache(maxsize=65536)
def percent(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.232 -> "23,2%"; "" for None."""
    if value is None:
        return ""
    pattern = "#,##0." + "0" * digits + "%" if digits else "#,##0%"
    return format_percent(value, format=pattern, locale=LOCALE)


def money(value: float | int | None) -> str:
    """Đồng, in triệu đồng from a million up: "1,5 triệu đồng", "850.000 đồng"."""
    if value is None:
        return ""
    if abs(value) >= 1_000_000:
        return f"{format_decimal(value / 1_000_000, format='#,##0.#', locale=LOCALE)} triệu đồng"
    return f"{number(value)} đồng"


def date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def place_and_date(place: str, value: dt.date) -> str:
    """The dateline of Nghị định 30/2020/NĐ-CP: zero before a day below 10 and months 1 and 2."""
    month = f"{value.month:02d}" if value.month < 3 else str(value.month)
    return f"{place}, ngày {value.day:02d} tháng {month} năm {value.year}"
