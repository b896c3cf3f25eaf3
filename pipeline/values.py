"""Cell values -> Python values, the way Vietnamese users type them (spec §3.3).

Each parser returns a `Parsed`: the value (or None), and a `Code` saying what happened when the
value was not already of the right type: a safe repair (a notice) or a value that cannot be read
(an error). Nothing is guessed: an ambiguous number or date is an error, never a choice.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from pipeline import numbers
from pipeline.findings import Code
from pipeline.text import clean_text

_EXCEL_EPOCH = dt.date(1899, 12, 30)
# Serial numbers that are plausible dates for this programme's era (1954..2146).
_SERIAL_MIN, _SERIAL_MAX = 20000, 90000
FIRST_DATE = _EXCEL_EPOCH + dt.timedelta(days=_SERIAL_MIN)  # the dates a date field may hold
LAST_DATE = _EXCEL_EPOCH + dt.timedelta(days=_SERIAL_MAX)


@dataclass(frozen=True, slots=True)
class Parsed:
    value: Any
    code: Code | None = None  # None: read as it was; a repair or error code otherwise
    repair: str = ""  # for a repair: what the value was read as; for a failure, why (both for the message)

    @property
    def failed(self) -> bool:
        return self.value is None and self.code is not None


EMPTY = Parsed(None)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and clean_text(value) == "")


def to_text(value: Any) -> Parsed:
    if value is None:
        return EMPTY
    if isinstance(value, str):
        cleaned = clean_text(value)
        if not cleaned:
            return EMPTY
        return Parsed(cleaned, Code.TEXT_NORMALISED if cleaned != value.strip() else None)
    if isinstance(value, bool):
        return Parsed("TRUE" if value else "FALSE")
    if isinstance(value, float) and value.is_integer():
        return Parsed(str(int(value)))
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return Parsed(value.strftime("%d/%m/%Y"))
    return Parsed(str(value))


_THOUSANDS = re.compile(r"^\d{1,3}(?:[. ]\d{3})+$")
_PLAIN = re.compile(r"^\d+$")
_MONEY_SUFFIX = re.compile(r"\s*(?:đồng|đ|vnđ|vnd|d)\.?$", re.IGNORECASE)
_SCALED = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(triệu|tr|nghìn|ngàn|tỷ|tỉ)\.?(?:\s*đồng)?$", re.IGNORECASE)
_SCALES = {"triệu": 1_000_000, "tr": 1_000_000, "nghìn": 1_000, "ngàn": 1_000, "tỷ": 10**9, "tỉ": 10**9}


# Excel keeps 15 significant digits: a whole number from 10^15 on is not what was typed, and no
# count or amount of the form comes near it (nor could the dataset's 64-bit columns hold them all).
INT_LIMIT = 10**15


def to_int(value: Any) -> Parsed:
    """Whole numbers: numbers as numbers, or text such as "1.500.000 đ" and "1,5 triệu"; below
    `INT_LIMIT` either way."""
    if is_blank(value):
        return EMPTY
    if isinstance(value, bool):
        return Parsed(None, Code.NOT_A_NUMBER)
    if isinstance(value, int):
        return _within(value)
    if isinstance(value, float):
        if value.is_integer():
            return _within(int(value))
        return Parsed(None, Code.NOT_A_NUMBER)
    if not isinstance(value, str):
        return Parsed(None, Code.NOT_A_NUMBER)
    text = clean_text(value)
    number = _int_from_text(text)
    if number is None:
        return Parsed(None, Code.NOT_A_NUMBER)
    if abs(number) >= INT_LIMIT:
        return Parsed(None, Code.NUMBER_TOO_LARGE)
    return Parsed(number, Code.TEXT_NUMBER_READ, numbers.number(number))


def _within(number: int) -> Parsed:
    return Parsed(number) if abs(number) < INT_LIMIT else Parsed(None, Code.NUMBER_TOO_LARGE)


def _int_from_text(text: str) -> int | None:
    scaled = _SCALED.match(text)
    if scaled:
        amount = scaled.group(1)
        scale = _SCALES[scaled.group(2).lower()]
        whole, _, frac = amount.replace(",", ".").partition(".")
        # The comma is the Vietnamese decimal mark ("1,5 triệu"); a dot followed by three digits
        # may be a thousands mark ("1.500 triệu": 1,5 or 1.500 millions?), so it is not read.
        if "." in amount and len(frac) == 3:
            return None
        if frac and len(frac) > len(str(scale)) - 1:
            return None
        return int(whole) * scale + (int(frac.ljust(len(str(scale)) - 1, "0")) if frac else 0)
    text = _MONEY_SUFFIX.sub("", text).strip()
    if text.startswith("-"):
        return None
    if _PLAIN.match(text):
        return int(text)
    if _THOUSANDS.match(text):
        return int(re.sub(r"[. ]", "", text))
    return None


_DATE_TEXT = re.compile(r"^(\d{1,2})\s*([/.-])\s*(\d{1,2})\s*\2\s*(\d{2}|\d{4})$")
_ISO_TEXT = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")


def to_date(value: Any) -> Parsed:
    """Dates as dates, Excel serial numbers, or day-first text ("15/3/2022", "15-03-2022")."""
    if is_blank(value):
        return EMPTY
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        # A year such as 6046 (a number typed into a date cell) is no date of this programme, and
        # past what the dataset's date type holds.
        return Parsed(value) if FIRST_DATE <= value <= LAST_DATE else Parsed(None, Code.NOT_A_DATE)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if float(value).is_integer() and _SERIAL_MIN <= value <= _SERIAL_MAX:
            return Parsed(_EXCEL_EPOCH + dt.timedelta(days=int(value)))
        return Parsed(None, Code.NOT_A_DATE)
    if not isinstance(value, str):
        return Parsed(None, Code.NOT_A_DATE)
    text = clean_text(value)
    match = _DATE_TEXT.match(text)
    if match:
        day, _, month, year = match.groups()
        if len(year) == 2:
            return Parsed(None, Code.TWO_DIGIT_YEAR)
        return _date_or_error(int(year), int(month), int(day))
    match = _ISO_TEXT.match(text)
    if match:
        year, month, day = match.groups()
        return _date_or_error(int(year), int(month), int(day))
    return Parsed(None, Code.NOT_A_DATE)


def _date_or_error(year: int, month: int, day: int) -> Parsed:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return Parsed(None, Code.NO_SUCH_DATE, _why_no_such_date(year, month, day))
    if not FIRST_DATE <= date <= LAST_DATE:
        return Parsed(None, Code.NOT_A_DATE)
    return Parsed(date, Code.TEXT_DATE_READ, date.strftime("%d/%m/%Y"))


def _why_no_such_date(year: int, month: int, day: int) -> str:
    """Why a day-first date in the right form is no date: "tháng 2 năm 2022 chỉ có 28 ngày"."""
    if not 1 <= month <= 12:
        return f"không có tháng {month}"
    if day == 0:
        return "không có ngày 0"
    days = calendar.monthrange(year, month)[1] if year >= 1 else 31
    return f"tháng {month} năm {year} chỉ có {days} ngày"


def excel_serial(date: dt.date) -> int:
    return (date - _EXCEL_EPOCH).days
