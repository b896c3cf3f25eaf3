"""The pandera schemas of the form, built from the one form definition.

`build_schemas` turns every field of `form.toml` into a pandera `Column` with its checks, and the
cross-field rules into DataFrame-level checks. Every check is named "<code>:<field key>", so a
failure case maps straight back to a finding code and a field; pipeline.validate does that.
Values arrive already converted by the reader (dates as datetime64, whole numbers as Int64), so
these schemas check rules only, never types.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from pipeline.config import Settings
from pipeline.findings import Code
from pipeline.form import Field, Form
from pipeline.text import fold

# Helper columns the validation adds to the tables (not fields of the form).
AS_OF_COLUMN = "_tinh_den_ngay"  # the unit's "Số liệu tính đến ngày", on each initiative row
FILE_COLUMN = "_file"  # which file a row comes from
UNIT_COLUMN = "_unit"  # the unit code of that file, normalised
KEY_COLUMN = "_key"  # normalised title and author: the identity of an initiative
ROSTER_NAME_COLUMN = "_roster_name"  # the roster's name for the file's unit code
ROSTER_MEMBERS_COLUMN = "_roster_members"  # the roster's member count for that code
MEMBERS_TOLERANCE = 0.10  # members differing from the roster by more than this are a warning

_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
# A mobile number: 10 digits, 03/05/07/08/09; a landline: 11 digits, area code 02x then the subscriber.
_PHONE = re.compile(r"^(?:0[35789]\d{8}|02\d{9})$")
_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class Schemas:
    unit: pa.DataFrameSchema  # errors: the file is rejected
    initiative: pa.DataFrameSchema
    unit_warnings: pa.DataFrameSchema  # warnings: the file is accepted, the union is told
    initiative_warnings: pa.DataFrameSchema


def check_name(code: Code, key: str) -> str:
    return f"{code.value}:{key}"


def parse_check_name(name: str) -> tuple[Code, str] | None:
    code, _, key = name.partition(":")
    try:
        return Code(code), key
    except ValueError:
        return None


def normalise_phone(text: str) -> str:
    """Digits only, with the country code +84 (or 84) as the leading 0 (spec §3.1). A national
    number never starts with 84, so "84" followed by a mobile's 9 or a landline's 10 digits is the
    country code."""
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    return digits


def is_phone(text: object) -> bool:
    return isinstance(text, str) and _PHONE.match(normalise_phone(text)) is not None


def report_limit(settings: Settings, today: dt.date) -> dt.date:
    """ "Số liệu tính đến ngày" may be neither after today nor after the report date."""
    return min(settings.as_of, today)


def build_schemas(
    form: Form, settings: Settings, unit_codes: Collection[str] | None = None, today: dt.date | None = None
) -> Schemas:
    today = today or dt.date.today()
    windows = {**settings.windows, "report": (None, report_limit(settings, today))}
    unit_columns = {f.key: _column(f, form, windows) for f in form.unit}
    if unit_codes is not None:
        known = frozenset(unit_codes)
        unit_columns["ma_cdcs"] = _column(
            form.unit_field("ma_cdcs"),
            form,
            windows,
            extra=[_check(Code.UNKNOWN_UNIT, "ma_cdcs", lambda s: s.str.upper().str.replace(" ", "").isin(known))],
        )
    initiative_columns = {f.key: _column(f, form, windows) for f in form.initiative}
    initiative_columns[AS_OF_COLUMN] = pa.Column(nullable=True)
    registration = _check(
        Code.AFTER_AS_OF,
        "ngay_dang_ky",
        lambda d: d["ngay_dang_ky"].isna() | d[AS_OF_COLUMN].isna() | (d["ngay_dang_ky"] <= d[AS_OF_COLUMN]),
    )
    return Schemas(
        unit=pa.DataFrameSchema(unit_columns, checks=_cross_field(form.unit), strict=False, coerce=False),
        initiative=pa.DataFrameSchema(
            initiative_columns, checks=[*_cross_field(form.initiative), registration], strict=False, coerce=False
        ),
        unit_warnings=pa.DataFrameSchema(checks=_unit_warnings(form), strict=False, coerce=False),
        initiative_warnings=pa.DataFrameSchema(checks=_initiative_warnings(), strict=False, coerce=False),
    )


def _unit_warnings(form: Form) -> list[pa.Check]:
    """Rules against the roster (the unit's name and its member count) and the contact details:
    a contact detail never rejects a report."""

    def same_name(d: pd.DataFrame) -> pd.Series:
        ours = d["ten_cdcs"].map(fold, na_action="ignore")
        theirs = d[ROSTER_NAME_COLUMN].map(fold, na_action="ignore")
        return ours.isna() | theirs.isna() | (ours == theirs)

    def members_near(d: pd.DataFrame) -> pd.Series:
        ours, theirs = d["tong_doan_vien"], d[ROSTER_MEMBERS_COLUMN]
        near = (ours - theirs).abs() <= theirs * MEMBERS_TOLERANCE
        return (ours.isna() | theirs.isna() | near).fillna(True).astype(bool)

    phones = [
        _check(Code.BAD_PHONE, f.key, lambda d, key=f.key: d[key].isna() | d[key].map(is_phone))
        for f in form.unit
        if f.pattern == "phone"
    ]
    return [
        _check(Code.NAME_MISMATCH, "ten_cdcs", same_name),
        _check(Code.MEMBERS_FAR, "tong_doan_vien", members_near),
        *phones,
    ]


def _initiative_warnings() -> list[pa.Check]:
    """Rules across rows and files: numbering, duplicates, authors, dates."""

    def numbered_in_order(d: pd.DataFrame) -> pd.Series:
        stt = d["stt"]
        previous = stt.groupby(d[FILE_COLUMN]).shift()
        first = d.groupby(FILE_COLUMN).cumcount() == 0
        ok = stt.isna() | (first & (stt == 1)) | (~first & (previous.isna() | (stt == previous + 1)))
        return ok.fillna(True).astype(bool)

    def listed_once(d: pd.DataFrame) -> pd.Series:
        key = d[KEY_COLUMN]
        # Within a file, the second listing is the finding (it names the first): one per pair.
        in_file = d.duplicated([FILE_COLUMN, KEY_COLUMN], keep="first")
        across_units = d.groupby(KEY_COLUMN)[UNIT_COLUMN].transform("nunique") > 1
        return key.isna() | ~(in_file | across_units)

    def author_not_coauthor(d: pd.DataFrame) -> pd.Series:
        pairs = zip(d["tac_gia"], d["dong_tac_gia"], strict=True)
        return pd.Series([not is_coauthor(a, c) for a, c in pairs], index=d.index)

    def registered_after_applied(d: pd.DataFrame) -> pd.Series:
        a, r = d["ngay_ap_dung"], d["ngay_dang_ky"]
        return a.isna() | r.isna() | (r >= a)

    return [
        _check(Code.STT_GAP, "stt", numbered_in_order),
        _check(Code.DUPLICATE_INITIATIVE, "ten_sang_kien", listed_once),
        _check(Code.AUTHOR_IS_COAUTHOR, "dong_tac_gia", author_not_coauthor),
        _check(Code.REGISTERED_BEFORE_APPLIED, "ngay_dang_ky", registered_after_applied),
    ]


def split_names(text: object) -> list[str]:
    """Co-authors as written: names separated by ";" (a "," is accepted too)."""
    if not isinstance(text, str):
        return []
    return [name.strip() for name in re.split(r"[;,\n]", text) if name.strip()]


def is_coauthor(author: object, coauthors: object) -> bool:
    if not isinstance(author, str):
        return False
    return fold(author) in {fold(name) for name in split_names(coauthors)}


def _check(code: Code, key: str, fn: Callable[..., pd.Series]) -> pa.Check:
    return pa.Check(fn, name=check_name(code, key), ignore_na=True)


def _column(
    f: Field,
    form: Form,
    windows: dict[str, tuple[dt.date | None, dt.date]],
    extra: list[pa.Check] | None = None,
) -> pa.Column:
    checks: list[pa.Check] = []
    if f.type == "list":
        allowed = frozenset(form.allowed(f))
        checks.append(_check(Code.NOT_IN_LIST, f.key, lambda s: s.isin(allowed)))
    if f.min is not None:
        minimum = f.min
        checks.append(_check(Code.BELOW_MINIMUM, f.key, lambda s: s >= minimum))
    if f.min_length is not None:
        shortest = f.min_length
        checks.append(_check(Code.TOO_SHORT, f.key, lambda s: s.str.len() >= shortest))
    if f.max_length is not None:
        longest = f.max_length
        checks.append(_check(Code.TOO_LONG, f.key, lambda s: s.str.len() <= longest))
    if f.min_words is not None:
        words = f.min_words
        checks.append(_check(Code.TOO_FEW_WORDS, f.key, lambda s: s.str.split().str.len() >= words))
    if f.pattern == "email":
        checks.append(_check(Code.BAD_EMAIL, f.key, lambda s: s.str.match(_EMAIL)))
    if f.window is not None:
        start, end = windows[f.window]
        code = Code.AFTER_REPORT_DATE if start is None else Code.OUT_OF_WINDOW
        low = pd.Timestamp(start) if start else None
        high = pd.Timestamp(end)
        checks.append(_check(code, f.key, lambda s: ((s >= low) if low is not None else True) & (s <= high)))
    return pa.Column(nullable=not f.required, checks=[*checks, *(extra or [])], required=True)


def _cross_field(fields: tuple[Field, ...]) -> list[pa.Check]:
    """Rules between two fields of the same record, as DataFrame-level checks."""
    checks = []
    for f in fields:
        if f.not_above:
            a, b = f.key, f.not_above
            checks.append(_check(Code.ABOVE_FIELD, a, lambda d, a=a, b=b: d[a].isna() | d[b].isna() | (d[a] <= d[b])))
        if f.not_before:
            a, b = f.key, f.not_before
            checks.append(_check(Code.BEFORE_FIELD, a, lambda d, a=a, b=b: d[a].isna() | d[b].isna() | (d[a] >= d[b])))
        if f.only_when:
            a, (b, wanted) = f.key, f.only_when
            checks.append(
                _check(
                    Code.ONLY_WHEN, a, lambda d, a=a, b=b, wanted=wanted: d[a].isna() | (d[b] == wanted).fillna(False)
                )
            )
    return checks
