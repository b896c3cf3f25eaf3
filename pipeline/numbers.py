"""Numbers and dates the Vietnamese way, for everything a person reads: "1.234", "23,2%", "2,5",
"1,5 triệu đồng", "05/06/2022", and the place-and-date line of an administrative document.

Rounding is half up, as a person checks by hand (6,25% is "6,3%", never "6,2%"); `shares` splits a
whole into percentages that add up to exactly the whole as printed (largest remainder). Babel's
"vi" locale writes the separators of the numbers rounded here.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext

from babel import Locale
from babel.numbers import format_decimal

LOCALE = Locale.parse("vi_VN")  # parsed once: Babel parses a name on every call


def rounded(value: float | int | Decimal, digits: int = 0) -> Decimal:
    """`value` rounded half up to `digits` decimals (0.0625 at 3 digits is 0.063)."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)
    if not exact.is_finite():
        return exact
    return exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP, context=_precise(exact, digits))


def _precise(value: Decimal, digits: int) -> Context:
    """A context that keeps every digit of `value` to `digits` decimals, however long the number (a
    cell may hold 10^28; the default context has 28 digits)."""
    return Context(prec=max(28, value.adjusted() + digits + 2) if value.is_finite() else 28, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=65536)  # a province's report formats the same counts many times
def number(value: float | int | Decimal | None, digits: int = 0) -> str:
    """A count or an amount: "1.234"; with `digits`, "2,5"; "" for None."""
    if value is None:
        return ""
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    exact = rounded(value, digits)
    with localcontext(_precise(exact, digits)):  # Babel rounds again, in the current context
        return format_decimal(exact, format=pattern, locale=LOCALE)


def short(value: float | int) -> str:
    """A size or a limit as the officer reads it: whole numbers as such, others to one decimal
    ("1.234.567", "2,5")."""
    return number(value, 0 if float(value).is_integer() else 1)


@functools.lru_cache(maxsize=65536)
def percent(value: float | Decimal | None, digits: int = 1) -> str:
    """A fraction as a percentage: 0.232 -> "23,2%"; "" for None."""
    if value is None:
        return ""
    scaled = (value if isinstance(value, Decimal) else Decimal(repr(float(value)))) * 100
    return number(rounded(scaled, digits), digits) + "%"


def shares(counts: Sequence[int], digits: int = 1) -> list[Decimal] | None:
    """Each count's share of their sum, in percent with `digits` decimals, adding up to exactly 100
    (the largest remainder method: every share is first rounded down, and the units still missing
    go to the largest remainders, the first in order on a tie). None when the sum is 0."""
    whole = sum(counts)
    if not whole:
        return None
    unit = Decimal(1).scaleb(-digits)
    exact = [Decimal(c) * 100 / whole for c in counts]
    floors = [e.quantize(unit, rounding=ROUND_FLOOR) for e in exact]
    missing = int((Decimal(100) - sum(floors)) / unit)
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += unit
    return floors


def share_texts(counts: Sequence[int], digits: int = 1) -> list[str]:
    """`shares` as printed ("12,5%"); "" for each when the sum is 0."""
    split = shares(counts, digits)
    if split is None:
        return ["" for _ in counts]
    return [number(s, digits) + "%" for s in split]


def money(value: float | int | None) -> str:
    """Đồng, in triệu đồng from a million up: "1,5 triệu đồng", "850.000 đồng"."""
    if value is None:
        return ""
    if abs(value) >= 1_000_000:
        millions = rounded(Decimal(value) / 1_000_000, 1)
        text = number(millions, 0 if millions == millions.to_integral_value() else 1)
        return f"{text} triệu đồng"
    return f"{number(value)} đồng"


def date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def place_and_date(place: str, value: dt.date) -> str:
    """The dateline of Nghị định 30/2020/NĐ-CP: zero before a day below 10 and months 1 and 2."""
    month = f"{value.month:02d}" if value.month < 3 else str(value.month)
    return f"{place}, ngày {value.day:02d} tháng {month} năm {value.year}"
