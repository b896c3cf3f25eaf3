"""The validation rules: each one object with its code, severity, the fields it reads, its check, and
its Vietnamese message with how to fix it. Adding a rule is one entry of `RULES` (and its code in
`pipeline.findings.Code`); `pipeline.validate` turns them into pandera checks and their failures into
findings, the README's table of rules is held to them by a test.

A rule is either a rule of each field the form gives some attribute (`applies`: a minimum, a list,
a window...) or a rule of a table that reads fields by their role (`reads`; the finding sits at the
first). A check takes a `Case` (the table as a DataFrame, the field for a field rule, the form and
the period) and returns, row by row, whether the rule holds: a blank value always holds (a blank
required cell is the "required" rule's). Its `params` give the message's placeholders beyond the
field's label and value. Values arrive converted by the reader (dates as datetime64, whole numbers
as Int64), so a check tests a rule, never a type.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pipeline.config import Settings
from pipeline.findings import Code, Severity
from pipeline.form import Field, Form
from pipeline.text import fold

if TYPE_CHECKING:
    import pandas as pd

# Helper columns validation adds to the tables (not fields of the form).
AS_OF_COLUMN = "_as_of"  # the unit's "Số liệu tính đến ngày", on each initiative row
FILE_COLUMN = "_file"  # which file a row comes from
UNIT_COLUMN = "_unit"  # the unit code of that file, normalised
KEY_COLUMN = "_key"  # normalised title and author: the identity of an initiative
ROSTER_NAME_COLUMN = "_roster_name"  # the roster's name for the file's unit code
ROSTER_MEMBERS_COLUMN = "_roster_members"  # the roster's member count for that code
MEMBERS_TOLERANCE = 0.10  # members differing from the roster by more than this are a warning

# What a date outside a programme window means, and what to do, by window (the {consequence} of
# out-of-window).
WINDOW_CONSEQUENCES = {
    "eligibility": "Sáng kiến áp dụng lần đầu ngoài khoảng này không đủ điều kiện tham gia Chương trình. "
    "Vui lòng kiểm tra lại ngày; nếu ngày đã đúng, xóa dòng sáng kiến này khỏi biểu mẫu.",
    "registration": "Vui lòng kiểm tra lại ngày đăng ký.",
}

_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
# A mobile number: 10 digits, 03/05/07/08/09; a landline: 11 digits, area code 02x then the subscriber.
_PHONE = re.compile(r"^(?:0[35789]\d{8}|02\d{9})$")
_EMAIL = re.compile(r"^[^@\s;,]+@[^@\s;,]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class Reference:
    """What the rules know of the period: the settings, today, and the roster's unit codes (None:
    no roster to check codes against)."""

    settings: Settings
    today: dt.date
    unit_codes: frozenset[str] | None = None

    @property
    def report_limit(self) -> dt.date:
        """ "Số liệu tính đến ngày" may be neither after today nor after the report date."""
        return report_limit(self.settings, self.today)

    def window(self, name: str) -> tuple[dt.date | None, dt.date]:
        if name == "report":
            return None, self.report_limit
        return self.settings.windows[name]


@dataclass(frozen=True)
class Case:
    """What a check sees: a table, the field of a field rule, the form and what values are checked against."""

    frame: pd.DataFrame
    form: Form
    reference: Reference
    field: Field | None = None

    def column(self, role: str | None = None) -> pd.Series:
        """The column of the field of a field rule, or of the field that plays `role`."""
        if role is None:
            assert self.field is not None
            return self.frame[self.field.key]
        return self.frame[self.form.key(role)]


@dataclass(frozen=True)
class Place:
    """What a rule's `params` see: the failing row of the table, and how validation names the
    other place of an initiative listed twice (it knows the files and cells)."""

    case: Case
    index: int
    other_place: Callable[[int], str]

    def at(self, column: str) -> Any:
        """The row's value in `column` (a date as a date)."""
        value: Any = self.case.frame.at[self.index, column]
        return value.date() if isinstance(value, dt.datetime) else value

    def value(self, role: str) -> Any:
        """The row's value of the field that plays `role`."""
        return self.at(self.case.form.key(role))


Check = Callable[[Case], "pd.Series"]


def _nothing(_: Place) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    code: Code
    severity: Severity
    message: str  # what is wrong and how to fix it; {label} and {value} are the cell's, the rest `params`
    table: Literal["unit", "initiative", "any"] = "any"
    applies: Callable[[Field], bool] | None = None  # a rule of each field for which this holds
    reads: tuple[str, ...] = ()  # a rule of the table: the roles it reads, the finding at the first
    check: Check | None = None  # None: pandera's own "not_nullable" (the required rule)
    params: Callable[[Place], dict[str, Any]] = field(default=_nothing)
    # Where the spec (bieu-mau.md §3) states the rule: a pattern its row of each field the rule checks
    # matches (a rule across rows: that row or the paragraph "Checks across rows and files").
    spec: str | Callable[[Field, Form], str] = ""

    def spec_pattern(self, f: Field, form: Form) -> str:
        return self.spec if isinstance(self.spec, str) else self.spec(f, form)

    def fields(self, form: Form) -> list[Field]:
        """The fields this rule checks in `form` (a field rule: each field it applies to; a table
        rule: the field of its first role)."""
        tables = {"unit": form.unit, "initiative": form.initiative, "any": (*form.unit, *form.initiative)}
        if self.applies is not None:
            return [f for f in tables[self.table] if self.applies(f)]
        return [form.field(self.reads[0])]


# --- the checks ----------------------------------------------------------------------------------------


def _blank_or(s: pd.Series, ok: pd.Series) -> pd.Series:
    """A blank value always holds; so does one the test cannot judge (NA)."""
    return (s.isna() | ok.fillna(True)).astype(bool)


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string")


def _in_list(c: Case) -> pd.Series:
    s = c.column()
    assert c.field is not None
    return _blank_or(s, s.isin(frozenset(c.form.allowed(c.field))))


def _at_least(c: Case) -> pd.Series:
    s = c.column()
    assert c.field is not None and c.field.min is not None
    return _blank_or(s, s >= c.field.min)


def _long_enough(c: Case) -> pd.Series:
    s = c.column()
    assert c.field is not None and c.field.min_length is not None
    return _blank_or(s, _text(s).str.len() >= c.field.min_length)


def _short_enough(c: Case) -> pd.Series:
    s = c.column()
    assert c.field is not None and c.field.max_length is not None
    return _blank_or(s, _text(s).str.len() <= c.field.max_length)


def _enough_words(c: Case) -> pd.Series:
    s = c.column()
    assert c.field is not None and c.field.min_words is not None
    words = _text(s).str.split().map(len, na_action="ignore")
    return _blank_or(s, words >= c.field.min_words)


def _an_email(c: Case) -> pd.Series:
    s = c.column()
    return _blank_or(s, _text(s).str.match(_EMAIL))


def _a_phone(c: Case) -> pd.Series:
    s = c.column()
    return _blank_or(s, s.map(is_phone, na_action="ignore"))


def _in_window(c: Case) -> pd.Series:
    import pandas as pd

    s = c.column()
    assert c.field is not None and c.field.window is not None
    start, end = c.reference.window(c.field.window)
    ok = s <= pd.Timestamp(end)
    if start is not None:
        ok &= s >= pd.Timestamp(start)
    return _blank_or(s, ok)


def _not_above(c: Case) -> pd.Series:
    assert c.field is not None and c.field.not_above is not None
    a, b = c.column(), c.frame[c.field.not_above]
    return _blank_or(a, b.isna() | (a <= b))


def _not_before(c: Case) -> pd.Series:
    assert c.field is not None and c.field.not_before is not None
    a, b = c.column(), c.frame[c.field.not_before]
    return _blank_or(a, b.isna() | (a >= b))


def _only_when(c: Case) -> pd.Series:
    assert c.field is not None and c.field.only_when is not None
    other, wanted = c.field.only_when
    return _blank_or(c.column(), (c.frame[other] == wanted).fillna(False))


def _known_unit(c: Case) -> pd.Series:
    s = c.column("unit_code")
    known = c.reference.unit_codes
    if known is None:
        return s.notna() | s.isna()
    return _blank_or(s, _text(s).str.upper().str.replace(" ", "").isin(known))


def _registered_by_as_of(c: Case) -> pd.Series:
    r = c.column("registered_on")
    return _blank_or(r, c.frame[AS_OF_COLUMN].isna() | (r <= c.frame[AS_OF_COLUMN]))


def _same_name(c: Case) -> pd.Series:
    ours = c.column("unit_name").map(fold, na_action="ignore")
    theirs = c.frame[ROSTER_NAME_COLUMN].map(fold, na_action="ignore")
    return _blank_or(ours, theirs.isna() | (ours == theirs))


def _members_near(c: Case) -> pd.Series:
    ours, theirs = c.column("members"), c.frame[ROSTER_MEMBERS_COLUMN]
    return _blank_or(ours, theirs.isna() | ((ours - theirs).abs() <= theirs * MEMBERS_TOLERANCE))


def _numbered_in_order(c: Case) -> pd.Series:
    d = c.frame
    number = c.column("number")
    previous = number.groupby(d[FILE_COLUMN]).shift()
    first = d.groupby(FILE_COLUMN).cumcount() == 0
    ok = (first & (number == 1)) | (~first & (previous.isna() | (number == previous + 1)))
    return _blank_or(number, ok)


def _listed_once(c: Case) -> pd.Series:
    d = c.frame
    # Within a file, the second listing is the finding (it names the first): one per pair.
    in_file = d.duplicated([FILE_COLUMN, KEY_COLUMN], keep="first")
    across_units = d.groupby(KEY_COLUMN)[UNIT_COLUMN].transform("nunique") > 1
    return (d[KEY_COLUMN].isna() | ~(in_file | across_units)).astype(bool)


def _author_not_coauthor(c: Case) -> pd.Series:
    import pandas as pd

    pairs = zip(c.column("author"), c.column("coauthors"), strict=True)
    return pd.Series([not is_coauthor(a, co) for a, co in pairs], index=c.frame.index)


def _registered_after_applied(c: Case) -> pd.Series:
    a, r = c.column("applied_on"), c.column("registered_on")
    return _blank_or(r, a.isna() | (r >= a))


# --- the rules' own words ----------------------------------------------------------------------------


def _window_params(p: Place) -> dict[str, Any]:
    f = p.case.field
    assert f is not None and f.window is not None
    start, end = p.case.reference.window(f.window)
    consequence = WINDOW_CONSEQUENCES.get(f.window, WINDOW_CONSEQUENCES["registration"])
    return {"start": start, "end": end, "consequence": consequence}


def _pair_params(attribute: str) -> Callable[[Place], dict[str, Any]]:
    def params(p: Place) -> dict[str, Any]:
        f = p.case.field
        assert f is not None
        other_key = getattr(f, attribute)
        return {"other_label": p.case.form.by_key(other_key).label, "other": p.at(other_key)}

    return params


def _only_when_params(p: Place) -> dict[str, Any]:
    f = p.case.field
    assert f is not None and f.only_when is not None
    other, wanted = f.only_when
    return {"other_label": p.case.form.by_key(other).label, "other": wanted}


def _stt_gap_params(p: Place) -> dict[str, Any]:
    d = p.case.frame
    number = p.case.form.key("number")
    # A file's rows are consecutive in the table, in their order: the row before, if of the same file.
    before = p.index - 1
    files: Any = d[FILE_COLUMN]
    same_file = before in d.index and files.at[before] == files.at[p.index]
    previous: Any = d.at[before, number] if same_file else None
    return {"previous": "không có" if previous is None or previous != previous else int(previous)}


def _members_params(p: Place) -> dict[str, Any]:
    expected = int(p.at(ROSTER_MEMBERS_COLUMN))
    members = int(p.value("members"))
    return {"expected": expected, "percent": round(abs(members - expected) * 100 / max(expected, 1))}


def _length_params(p: Place) -> dict[str, Any]:
    f = p.case.field
    assert f is not None
    return {"length": len(str(p.at(f.key))), "minimum": f.min_length, "maximum": f.max_length}


# --- the rules -------------------------------------------------------------------------------------------

E, W = Severity.ERROR, Severity.WARNING
_WORDS = {2: "two", 3: "three"}

RULES: tuple[Rule, ...] = (
    # Of each field, by what the form says of it.
    Rule(
        Code.REQUIRED,
        E,
        'Ô "{label}" bắt buộc nhưng đang để trống. Vui lòng điền.',
        applies=lambda f: f.required,
        spec=r"(?<=\| )yes(?= \|\s*$)",  # the spec's column "required"
    ),
    Rule(
        Code.NOT_IN_LIST,
        E,
        'Giá trị "{value}" không có trong danh sách của ô "{label}". Vui lòng chọn một giá trị trong danh sách '
        "thả xuống: {allowed}.",
        applies=lambda f: f.type == "list",
        check=_in_list,
        params=lambda p: {"allowed": "; ".join(p.case.form.allowed(p.case.field))} if p.case.field else {},
        spec=lambda f, form: re.escape("; ".join(form.allowed(f))),
    ),
    Rule(
        Code.BELOW_MINIMUM,
        E,
        'Ô "{label}" phải là số không nhỏ hơn {minimum}, nhưng đang ghi {value}. Vui lòng ghi lại số cho đúng.',
        applies=lambda f: f.min is not None,
        check=_at_least,
        params=lambda p: {"minimum": p.case.field.min if p.case.field else None},
        spec=lambda f, _: rf"≥ {f.min}|\b{f.min}, {(f.min or 0) + 1}, {(f.min or 0) + 2}\b",
    ),
    Rule(
        Code.TOO_SHORT,
        E,
        'Ô "{label}" quá ngắn ({length} ký tự); cần ít nhất {minimum} ký tự. Vui lòng ghi đầy đủ hơn.',
        applies=lambda f: f.min_length is not None,
        check=_long_enough,
        params=_length_params,
        spec=lambda f, _: rf"\b{f.min_length}(–\d+)? characters|at least {f.min_length} characters",
    ),
    Rule(
        Code.TOO_LONG,
        E,
        'Ô "{label}" quá dài ({length} ký tự); tối đa {maximum} ký tự. Vui lòng rút gọn.',
        applies=lambda f: f.max_length is not None,
        check=_short_enough,
        params=_length_params,
        spec=lambda f, _: rf"–{f.max_length} characters",
    ),
    Rule(
        Code.TOO_FEW_WORDS,
        E,
        'Ô "{label}" cần ghi đầy đủ họ và tên (ít nhất hai từ), nhưng đang ghi "{value}". Vui lòng ghi đủ họ và '
        "tên, ví dụ Nguyễn Văn An.",
        applies=lambda f: f.min_words is not None,
        check=_enough_words,
        spec=lambda f, _: rf"at least ({_WORDS.get(f.min_words or 0)}|{f.min_words}) words",
    ),
    Rule(
        Code.BAD_EMAIL,
        E,
        'Địa chỉ email "{value}" không hợp lệ. Vui lòng ghi lại, ví dụ congdoan@example.vn, hoặc để trống.',
        applies=lambda f: f.pattern == "email",
        check=_an_email,
        spec=r"an address",
    ),
    Rule(
        Code.OUT_OF_WINDOW,
        E,
        'Ngày {value} ở ô "{label}" nằm ngoài khoảng {start} – {end}. {consequence}',
        applies=lambda f: f.window is not None and f.window != "report",
        check=_in_window,
        params=_window_params,
        spec=r"\d\d/\d\d?/\d{4} – \d\d/\d\d?/\d{4}|from the programme start",
    ),
    Rule(
        Code.AFTER_REPORT_DATE,
        E,
        'Ngày {value} ở ô "{label}" sau ngày báo cáo ({other}). Vui lòng kiểm tra lại ngày chốt số liệu.',
        applies=lambda f: f.window == "report",
        check=_in_window,
        params=lambda p: {"other": p.case.reference.report_limit},
        spec=r"not after the report date",
    ),
    Rule(
        Code.ABOVE_FIELD,
        E,
        'Ô "{label}" ({value}) không được lớn hơn "{other_label}" ({other}). Vui lòng kiểm tra lại hai số này.',
        applies=lambda f: f.not_above is not None,
        check=_not_above,
        params=_pair_params("not_above"),
        spec=lambda f, form: "≤ " + re.escape(form.by_key(f.not_above or "").label),
    ),
    Rule(
        Code.BEFORE_FIELD,
        E,
        'Ô "{label}" ({value}) không được trước "{other_label}" ({other}). Vui lòng kiểm tra lại ngày.',
        applies=lambda f: f.not_before is not None,
        check=_not_before,
        params=_pair_params("not_before"),
        spec=lambda f, form: 'not before "' + re.escape(form.by_key(f.not_before or "").label),
    ),
    Rule(
        Code.ONLY_WHEN,
        E,
        'Ô "{label}" chỉ điền khi "{other_label}" là "{other}". Vui lòng xóa giá trị này hoặc sửa ô "{other_label}".',
        applies=lambda f: f.only_when is not None,
        check=_only_when,
        params=_only_when_params,
        spec=lambda f, _: rf'only when ".+" is {re.escape(f.only_when[1] if f.only_when else "")}',
    ),
    Rule(
        Code.BAD_PHONE,
        W,  # a contact detail never rejects a report
        'Số điện thoại "{value}" có vẻ chưa đúng: số di động có 10 chữ số (ví dụ 0912 345 678), số máy bàn có 11 '
        "chữ số gồm mã vùng (ví dụ 0297 3855 123). Vui lòng kiểm tra lại để LĐLĐ huyện liên hệ được khi cần; "
        "riêng điểm này không làm báo cáo bị trả lại.",
        applies=lambda f: f.pattern == "phone",
        check=_a_phone,
        spec=r"anything else is a \*\*warning\*\*",
    ),
    # Of the unit record.
    Rule(
        Code.UNKNOWN_UNIT,
        E,
        'Mã CĐCS "{value}" không có trong danh sách CĐCS trực thuộc LĐLĐ huyện. Vui lòng kiểm tra lại mã đơn vị.',
        table="unit",
        reads=("unit_code",),
        check=_known_unit,
        spec=r"must exist in the roster",
    ),
    Rule(
        Code.NAME_MISMATCH,
        W,
        'Tên đơn vị "{value}" khác với tên trong danh sách của LĐLĐ huyện cho mã {unit_code}: "{expected}". '
        "Vui lòng kiểm tra lại mã và tên đơn vị.",
        table="unit",
        reads=("unit_name", "unit_code"),
        check=_same_name,
        params=lambda p: {"unit_code": p.value("unit_code"), "expected": p.at(ROSTER_NAME_COLUMN)},
        spec=r"should match the roster's name.*is a warning",
    ),
    Rule(
        Code.MEMBERS_FAR,
        W,
        "Tổng số đoàn viên ({value}) lệch {percent}% so với danh sách của LĐLĐ huyện ({expected}). Vui lòng kiểm "
        "tra lại; nếu số liệu đúng, xin báo để huyện cập nhật danh sách.",
        table="unit",
        reads=("members",),
        check=_members_near,
        params=_members_params,
        spec=rf"roster by more than {MEMBERS_TOLERANCE:.0%} is a warning",
    ),
    # Of the initiatives, across rows and files.
    Rule(
        Code.AFTER_AS_OF,
        E,
        'Ngày {value} ở ô "{label}" sau ngày "Số liệu tính đến ngày" ({other}). Vui lòng kiểm tra lại ngày.',
        table="initiative",
        reads=("registered_on",),
        check=_registered_by_as_of,
        params=lambda p: {"other": p.at(AS_OF_COLUMN)},
        spec=r'not after "Số liệu tính đến ngày"',
    ),
    Rule(
        Code.STT_GAP,
        W,
        "Số thứ tự {value} không liền sau số trước ({previous}). Vui lòng đánh số liên tục 1, 2, 3…",
        table="initiative",
        reads=("number",),
        check=_numbered_in_order,
        params=_stt_gap_params,
        spec=r"gaps are a warning",
    ),
    Rule(
        Code.DUPLICATE_INITIATIVE,
        W,
        'Sáng kiến "{value}" của tác giả {author} đã có ở {other}. Mỗi sáng kiến chỉ kê khai một lần: nếu là cùng '
        "một sáng kiến, vui lòng xóa dòng thừa; nếu là hai sáng kiến khác nhau, vui lòng ghi tên sáng kiến rõ hơn.",
        table="initiative",
        reads=("title", "author"),
        check=_listed_once,
        params=lambda p: {"author": p.value("author"), "other": p.other_place(p.index)},
        spec=r"same initiative \(same normalised title and author\) twice in one file, or in two units' files, "
        r"is a warning",
    ),
    Rule(
        Code.AUTHOR_IS_COAUTHOR,
        W,
        'Tác giả {author} cũng được ghi là đồng tác giả. Vui lòng chỉ ghi tên này ở cột "Tác giả (họ và tên)".',
        table="initiative",
        reads=("coauthors", "author"),
        check=_author_not_coauthor,
        params=lambda p: {"author": p.value("author")},
        spec=r"an author listed again as co-author is a warning",
    ),
    Rule(
        Code.REGISTERED_BEFORE_APPLIED,
        W,
        "Ngày đăng ký ({value}) trước ngày áp dụng lần đầu ({other}). Vui lòng kiểm tra lại hai ngày này.",
        table="initiative",
        reads=("registered_on", "applied_on"),
        check=_registered_after_applied,
        params=lambda p: {"other": p.value("applied_on")},
        spec=r"a registration date before the first-application date is a warning",
    ),
)
BY_CODE: dict[Code, Rule] = {r.code: r for r in RULES}


# --- helpers other stages share --------------------------------------------------------------------------


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


def split_names(text: object) -> list[str]:
    """Co-authors as written: names separated by ";" (a "," is accepted too)."""
    if not isinstance(text, str):
        return []
    return [name.strip() for name in re.split(r"[;,\n]", text) if name.strip()]


def is_coauthor(author: object, coauthors: object) -> bool:
    if not isinstance(author, str):
        return False
    names = split_names(coauthors)
    return bool(names) and fold(author) in {fold(name) for name in names}
