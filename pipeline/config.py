"""Configuration: one TOML file -> `Settings`, with Vietnamese messages for every mistake.

The dataclasses below are the file's only declaration. A field the file fills is annotated with
what it is, in Vietnamese: `name: Annotated[str, "tên cơ quan ban hành báo cáo"]`. Its type says
what the key must hold, a default makes the key optional, a dataclass is a section (`[paths]`), a
tuple of dataclasses an array of tables (`[[programme.phases]]`); `Settings`' own keys sit in
`[report]`. A field without a description (`Settings.source`, `Limits.max_row`) is not read from
the file. `load_settings(path)` derives the check from these fields (`keys_of`): every key there
with the right type and no unknown key, then the checks across keys (dates in order), and returns
frozen settings with paths resolved against the file's folder. A mistake raises `ConfigError`,
whose message names the file and the key.

How a type is checked (`_Reader.value`): text and paths are strings in quotes, a required one not
blank; a date is a TOML date; a number a required key holds may be 0, one an optional key holds
must be above 0; a `Literal` is one of its values. An optional key left out, or written blank
(`""`, or `0` where the default is None), takes its default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import itertools
import os
import re
import tomllib
import types
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pipeline.errors import ConfigError
from pipeline.guard import Limits

DEFAULT_NAME = "pipeline.toml"
ENV_VAR = "PIPELINE_CONFIG"
RateMeasure = Literal["members_with_initiative", "initiatives_per_member"]
RATE_MEASURES: tuple[str, ...] = get_args(RateMeasure)
DEFAULT_CORRECTION_DAYS = 7
REPORT_TEXT = "bao-cao.md"  # beside the configuration, unless paths.report_text says otherwise
OWN_SECTION = "report"  # `Settings`' own keys (as_of, deadline, ...) sit in [report]
_OWN_SECTION_VI = "ngày báo cáo và hạn nộp"


@dataclass(frozen=True)
class Organisation:
    parent_name: Annotated[str, "tên cơ quan cấp trên"]
    name: Annotated[str, "tên cơ quan ban hành báo cáo"]
    full_name: Annotated[str, "tên đầy đủ của cơ quan"]
    place: Annotated[str, "địa danh"]
    document_number: Annotated[str, "số văn bản"]
    signatory: Annotated[str, "họ tên người ký"]
    signatory_title: Annotated[str, "chức vụ người ký"]
    signatory_on_behalf: Annotated[str, "dòng thẩm quyền ký"]
    # The officer the unions call about their reports (named in every message to them).
    contact_name: Annotated[str | None, "họ tên cán bộ phụ trách, để CĐCS liên hệ"] = None
    contact_phone: Annotated[str | None, "số điện thoại của cán bộ phụ trách"] = None


@dataclass(frozen=True)
class Phase:
    name: Annotated[str, "tên giai đoạn"]
    start: Annotated[dt.date, "ngày bắt đầu"]
    end: Annotated[dt.date, "ngày kết thúc"]
    target: Annotated[int, "chỉ tiêu số sáng kiến"]


@dataclass(frozen=True)
class Programme:
    name: Annotated[str, "tên Chương trình"]
    plan_reference: Annotated[str, "kế hoạch thực hiện"]
    start: Annotated[dt.date, "ngày bắt đầu nhận đăng ký"]
    eligibility_start: Annotated[dt.date, "ngày đầu khoảng áp dụng hợp lệ"]
    eligibility_end: Annotated[dt.date, "ngày cuối khoảng áp dụng hợp lệ"]
    rate_target_percent: Annotated[float, "chỉ tiêu tỷ lệ (%)"]
    official_rate: Annotated[RateMeasure, "cách tính tỷ lệ chính thức"]
    phases: Annotated[tuple[Phase, ...], "các giai đoạn"]

    @property
    def registration_end(self) -> dt.date:
        return self.phases[-1].end

    def phase_of(self, registered: dt.date) -> Phase | None:
        for phase in self.phases:
            if phase.start <= registered <= phase.end:
                return phase
        return None


@dataclass(frozen=True)
class Paths:
    inbox: Annotated[Path, "thư mục nhận tệp"]
    outbox: Annotated[Path, "thư mục kết quả"]
    roster: Annotated[Path, "danh sách CĐCS"]
    # The ledger and the archive; None: with the outbox.
    history: Annotated[Path | None, "nơi lưu sổ theo dõi và bản gốc"] = None
    # The officer's text of the report (pipeline.report.officer).
    report_text: Annotated[Path, "tệp nội dung do cán bộ viết trong báo cáo"] = Path(REPORT_TEXT)

    @property
    def history_dir(self) -> Path:
        """Where the ledger and the archive of originals live: by default, the outbox."""
        return self.history or self.outbox


@dataclass(frozen=True)
class Processing:
    """Where the per-file work runs: worker processes of this machine (`workers`, None: up to 2),
    or the Dask cluster whose scheduler is at `scheduler` ("tcp://host:8786")."""

    workers: Annotated[int | None, "số tiến trình xử lý tệp"] = None
    scheduler: Annotated[str | None, "địa chỉ bộ điều phối cụm Dask"] = None
    # Per file, for guarding and reading it (and for a feedback copy).
    timeout_s: Annotated[float, "thời gian tối đa đọc một tệp (giây)"] = 60
    # Address space of each local worker (Linux).
    memory_mb: Annotated[int, "bộ nhớ tối đa của mỗi tiến trình đọc (MB)"] = 1024


Security = Literal["tls", "starttls", "none"]
AfterFetch = Literal["keep", "seen", "move", "delete"]


@dataclass(frozen=True)
class Imap:
    """The mailbox the unions write to (`pipeline mail fetch`). Without `host`, nothing is fetched."""

    host: Annotated[str | None, "máy chủ nhận thư (IMAP)"] = None
    # None: 993 with TLS, 143 otherwise.
    port: Annotated[int | None, "cổng máy chủ IMAP"] = None
    security: Annotated[Security, "cách mã hóa kết nối IMAP"] = "tls"
    user: Annotated[str | None, "tên đăng nhập IMAP (mặc định: địa chỉ thư)"] = None
    folder: Annotated[str, "thư mục thư cần đọc"] = "INBOX"
    # What becomes of a message once fetched: left as it is unless the officer says otherwise.
    after_fetch: Annotated[AfterFetch, "việc làm với thư đã tải"] = "keep"
    move_to: Annotated[str | None, "thư mục chuyển thư đã tải đến"] = None

    @property
    def port_or_default(self) -> int:
        return self.port or (993 if self.security == "tls" else 143)


@dataclass(frozen=True)
class Smtp:
    """The server that sends the drafts (`pipeline mail send --send`)."""

    host: Annotated[str | None, "máy chủ gửi thư (SMTP)"] = None
    # None: 465 with TLS, 587 with STARTTLS, 25 otherwise.
    port: Annotated[int | None, "cổng máy chủ SMTP"] = None
    security: Annotated[Security, "cách mã hóa kết nối SMTP"] = "starttls"
    user: Annotated[str | None, "tên đăng nhập SMTP (mặc định: địa chỉ thư)"] = None

    @property
    def port_or_default(self) -> int:
        return self.port or {"tls": 465, "starttls": 587}.get(self.security, 25)


@dataclass(frozen=True)
class Mail:
    """The district's own mailbox: where the unions' reports arrive and the replies come from. The
    password is never here: it is in the system's keyring, or an environment variable
    (`pipeline.mail.password`)."""

    address: Annotated[str | None, "địa chỉ thư của cơ quan"] = None
    # Shown as the sender of every reply; None: the organisation's full name.
    name: Annotated[str | None, "tên người gửi hiển thị"] = None
    # A server with a certificate of its own (not from a public authority): its certificate file.
    cafile: Annotated[Path | None, "tệp chứng chỉ riêng của máy chủ thư"] = None
    imap: Annotated[Imap, "máy chủ nhận thư"] = Imap()
    smtp: Annotated[Smtp, "máy chủ gửi thư"] = Smtp()


@dataclass(frozen=True)
class Settings:
    source: Path  # the configuration file itself: not a key of it
    organisation: Annotated[Organisation, "cơ quan báo cáo"]
    programme: Annotated[Programme, "Chương trình"]
    as_of: Annotated[dt.date, "ngày báo cáo"]
    deadline: Annotated[dt.date, "hạn nộp báo cáo"]
    paths: Annotated[Paths, "các đường dẫn"]
    processing: Annotated[Processing, "cách xử lý tệp"] = Processing()
    # What a received file may hold before any reader opens it (pipeline/guard.py).
    limits: Annotated[Limits, "giới hạn của một tệp nhận được"] = field(default_factory=Limits)
    # How long a union has to send back a corrected file.
    correction_days: Annotated[int, "số ngày để CĐCS sửa và gửi lại tệp bị trả lại"] = DEFAULT_CORRECTION_DAYS
    mail: Annotated[Mail, "thư điện tử"] = Mail()

    def reply_by(self, today: dt.date | None = None) -> dt.date:
        """The date a union is asked to send its corrected file by: `correction_days` after the
        message is written (the report date, or today when that is earlier). Never the reporting
        deadline, which may already be past."""
        written = min(self.as_of, today or dt.date.today())
        return written + dt.timedelta(days=self.correction_days)

    @property
    def windows(self) -> dict[str, tuple[dt.date, dt.date]]:
        """The named date windows the form's rules refer to."""
        p = self.programme
        return {
            "eligibility": (p.eligibility_start, p.eligibility_end),
            "registration": (p.start, p.registration_end),
        }

    def with_paths(self, **paths: Path | None) -> Settings:
        """A copy with some paths replaced (command-line options win over the file)."""
        given = {k: v for k, v in paths.items() if v is not None}
        return replace(self, paths=replace(self.paths, **given)) if given else self

    def with_as_of(self, as_of: dt.date | None) -> Settings:
        return replace(self, as_of=as_of) if as_of else self


@dataclass(frozen=True)
class Key:
    """A key of the configuration file, as the field it fills declares it."""

    name: str
    kind: Any  # the field's type without its description: str, dt.date, int | None, tuple[Phase, ...]
    vi: str  # what the key is, in Vietnamese: every message about it says so
    optional: bool = False
    default: Any = None  # of an optional key

    @property
    def table(self) -> type | None:
        """The dataclass of a section (`[paths]`) or of an array of tables (`[[programme.phases]]`)."""
        kind = get_args(self.kind)[0] if get_origin(self.kind) is tuple else self.kind
        return kind if dataclasses.is_dataclass(kind) and isinstance(kind, type) else None


def keys_of(cls: type) -> list[Key]:
    """The keys `cls` reads from the file: its fields with a Vietnamese description, in order."""
    hints = get_type_hints(cls, include_extras=True)
    keys = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if get_origin(hint) is not Annotated:
            continue
        kind, *extras = get_args(hint)
        [vi] = [x for x in extras if isinstance(x, str)]
        if f.default_factory is not dataclasses.MISSING:
            keys.append(Key(f.name, kind, vi, optional=True, default=f.default_factory()))
        elif f.default is not dataclasses.MISSING:
            keys.append(Key(f.name, kind, vi, optional=True, default=f.default))
        else:
            keys.append(Key(f.name, kind, vi))
    return keys


def layout() -> dict[str, list[Key]]:
    """Every table of the file (dotted, as the file names it: "programme.phases") with its keys,
    sections and arrays of tables left out (they are tables of their own). For the docs' tests."""
    tables: dict[str, list[Key]] = {}

    def add(name: str, cls: type) -> None:
        tables[name] = [k for k in keys_of(cls) if k.table is None]
        for k in keys_of(cls):
            if k.table is not None:
                add(f"{name}.{k.name}", k.table)

    for key in keys_of(Settings):
        if key.table is None:
            tables.setdefault(OWN_SECTION, []).append(key)
        else:
            add(key.name, key.table)
    return tables


def find_config(given: Path | None, cwd: Path | None = None) -> Path:
    """--config, else $PIPELINE_CONFIG, else pipeline.toml in the current folder."""
    if given is not None:
        return given
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return (cwd or Path.cwd()) / DEFAULT_NAME


def load_settings(path: Path) -> Settings:
    if not path.is_file():
        raise ConfigError(
            f'Không tìm thấy tệp cấu hình "{path}". Hãy chạy lệnh trong thư mục có tệp '
            f"{DEFAULT_NAME} hoặc chỉ rõ tệp bằng --config."
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # Notepad may save UTF-8 with a byte-order mark
    except UnicodeDecodeError as exc:
        raise ConfigError(f'Tệp cấu hình "{path}" phải được lưu với bảng mã UTF-8.') from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(syntax_message(path, text, str(exc))) from exc
    return _parse(data, path)


# tomllib's messages (Python 3.11+) in Vietnamese, with what usually causes each.
_SYNTAX_WORDS: tuple[tuple[str, str, str], ...] = (
    (
        r"Unescaped '\\' in a string",
        'dấu "\\" trong chuỗi chữ',
        'Trong đường dẫn, hãy dùng dấu "/" thay cho "\\", ví dụ inbox = "D:/Bao cao/inbox" (hoặc viết hai dấu \\\\).',
    ),
    (
        r"Unterminated string",
        "chuỗi chữ thiếu dấu ngoặc kép đóng",
        'Chuỗi chữ phải nằm trọn trong một cặp dấu ngoặc kép "...".',
    ),
    (r"Invalid date or datetime", "ngày không hợp lệ", "Ngày ghi dạng NĂM-THÁNG-NGÀY, ví dụ 2022-06-05."),
    (
        r"Invalid value",
        "giá trị không hợp lệ",
        'Chữ phải đặt trong dấu ngoặc kép, ví dụ place = "Vĩnh Thuận"; số và ngày (2022-06-05) thì không.',
    ),
    (
        r"Expected '=' after a key in a key/value pair",
        'thiếu dấu "=" sau tên khóa',
        'Mỗi dòng ghi dạng khóa = giá trị; dòng ghi chú bắt đầu bằng dấu "#".',
    ),
    (
        r"Invalid statement",
        "dòng không đúng dạng",
        'Mỗi dòng ghi dạng khóa = giá trị; dòng ghi chú bắt đầu bằng dấu "#".',
    ),
    (r"Cannot declare \(?'?([^']*)'?,?\)? twice", "mục [{0}] được khai báo hai lần", "Xóa mục bị lặp lại."),
    (r"Cannot overwrite a value", "một khóa được ghi hai lần", "Xóa dòng bị lặp lại."),
    (r"Expected '\]' at the end of a table declaration", 'thiếu dấu "]" đóng tên mục', "Tên mục ghi dạng [report]."),
    (r"Unclosed array", 'danh sách thiếu dấu "]" đóng', ""),
    (
        r"Illegal character '\\n'",
        "chuỗi chữ thiếu dấu ngoặc kép đóng",
        'Chuỗi chữ phải nằm trọn trong một cặp dấu ngoặc kép "...".',
    ),
    (
        r"Expected newline or end of document after a statement",
        "sau giá trị còn chữ thừa",
        "Mỗi dòng chỉ ghi một khóa = một giá trị; chữ phải trong dấu ngoặc kép, ngày ghi dạng 2022-06-05; "
        'ghi chú bắt đầu bằng dấu "#".',
    ),
    (r"Illegal character (.+)", "có ký tự không được phép {0}", ""),
)
_AT = re.compile(r"^(.*) \(at (?:line (\d+), column (\d+)|end of document)\)$", re.DOTALL)


def syntax_message(path: Path, text: str, error: str) -> str:
    """A TOML syntax error as the officer can act on it: where, what, and the usual remedy."""
    match = _AT.match(error)
    what, line, column = (match.group(1), match.group(2), match.group(3)) if match else (error, None, None)
    words, hint = "cách viết không đúng quy tắc TOML", ""
    for pattern, vietnamese, remedy in _SYNTAX_WORDS:
        found = re.fullmatch(pattern, what)
        if found:
            words, hint = vietnamese.format(*found.groups()), remedy
            break
    where = f"ở dòng {line}, cột {column}" if line else "ở cuối tệp"
    shown = ""
    if line:
        content = text.splitlines()[int(line) - 1].strip() if int(line) <= len(text.splitlines()) else ""
        shown = f" Dòng {line} đang ghi: {content[:120]}." if content else ""
    return f'Tệp cấu hình "{path}" viết sai {where}: {words}.{shown}{" " + hint if hint else ""}'.rstrip()


def _parse(data: dict[str, Any], path: Path) -> Settings:
    read = _Reader(path)
    keys = keys_of(Settings)
    own = [k for k in keys if k.table is None]  # in [report]
    read.known(data, list(dict.fromkeys(k.name if k.table else OWN_SECTION for k in keys)), "")
    values: dict[str, Any] = {}
    for key in keys:
        if key.table is not None:
            values[key.name] = read.value(data, key, key.name)
            continue
        if key is own[0]:  # [report] is checked where its first key is declared: messages in the file's order
            report = read.section(data, Key(OWN_SECTION, dict, _OWN_SECTION_VI), OWN_SECTION)
            read.known(report, [k.name for k in own], OWN_SECTION + ".")
        values[key.name] = read.value(report, key, f"{OWN_SECTION}.{key.name}")
    settings = Settings(source=path, **values)
    read.check_dates(settings.programme)
    return settings


class _Reader:
    """Checks a parsed file against the declaration, key by key, and builds the dataclasses."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f'Tệp cấu hình "{self.path}", khóa "{key}": {problem}.')

    def known(self, table: dict[str, Any], names: list[str], prefix: str) -> None:
        for key in table:
            if key not in names:
                near = difflib.get_close_matches(key, names, n=1)
                hint = f'; có phải ý bạn là "{prefix}{near[0]}"?' if near else ""
                raise self.error(prefix + key, f"khóa này không có trong cấu hình{hint}")

    def section(self, parent: dict[str, Any], key: Key, name: str) -> dict[str, Any]:
        raw = parent.get(key.name)
        if raw is None and key.optional:
            return {}  # every key takes its default
        if raw is None:
            raise self.error(name, f"thiếu mục ({key.vi})")
        if not isinstance(raw, dict):
            raise self.error(name, "phải là một mục [..]")
        return raw

    def instance(self, cls: type, table: dict[str, Any], prefix: str) -> Any:
        keys = keys_of(cls)
        self.known(table, [k.name for k in keys], prefix)
        return cls(**{k.name: self.value(table, k, prefix + k.name) for k in keys})

    def value(self, table: dict[str, Any], key: Key, name: str) -> Any:
        """The value of `key` in `table`, checked and converted; `name` is its dotted name."""
        if key.table is not None and get_origin(key.kind) is tuple:
            return self.array(table.get(key.name), key.table, name)
        if key.table is not None:
            return self.instance(key.table, self.section(table, key, name), name + ".")
        if key.name not in table or (key.optional and _blank(table[key.name], key)):
            if not key.optional:
                raise self.error(name, f"thiếu khóa ({key.vi})")
            return self.path.parent / key.default if isinstance(key.default, Path) else key.default
        raw, kind = table[key.name], _bare(key.kind)
        if kind in _TEXT and isinstance(raw, str) and not raw.strip():
            raise self.error(name, f"{key.vi} không được để trống")
        if not _fits(raw, kind, key.optional):
            raise self.error(name, f"{key.vi} phải là {_expected(kind, key)}, nhưng đang là {_shown(raw)}")
        if isinstance(raw, str) and key.optional:
            raw = raw.strip()
        return self.path.parent / raw if kind is Path else raw

    def array(self, raw: Any, cls: type, name: str) -> tuple[Any, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            raise self.error(name, f"cần ít nhất một mục [[{name}]]")
        return tuple(self.instance(cls, t, f"{name}[{i}].") for i, t in enumerate(raw, start=1))

    def check_dates(self, p: Programme) -> None:
        """The checks across keys: the windows run forwards, the phases in order without overlap."""
        if not p.eligibility_start <= p.eligibility_end:
            raise self.error("programme.eligibility_end", "phải sau programme.eligibility_start")
        for i, (a, b) in enumerate(itertools.pairwise(p.phases), start=2):
            if b.start <= a.end:
                raise self.error(f"programme.phases[{i}].start", "phải sau ngày kết thúc của giai đoạn trước")
        for i, ph in enumerate(p.phases, start=1):
            if ph.end < ph.start:
                raise self.error(f"programme.phases[{i}].end", "phải sau ngày bắt đầu của giai đoạn")


_TEXT = (str, Path)  # written as a string in quotes


def _bare(kind: Any) -> Any:
    """`kind` without `| None`."""
    if get_origin(kind) in (Union, types.UnionType):
        [kind] = [k for k in get_args(kind) if k is not type(None)]
    return kind


def _blank(raw: Any, key: Key) -> bool:
    """An optional key written as "not set": "" for text, 0 for a number whose default is None."""
    if isinstance(raw, str):
        return _bare(key.kind) in _TEXT and not raw.strip()
    return key.optional and key.default is None and raw == 0 and not isinstance(raw, bool)


def _fits(raw: Any, kind: Any, optional: bool) -> bool:
    if kind in _TEXT:
        return isinstance(raw, str)
    if kind is dt.date:
        return isinstance(raw, dt.date) and not isinstance(raw, dt.datetime)
    if kind in (int, float):
        number = isinstance(raw, int) or (kind is float and isinstance(raw, float))
        return number and not isinstance(raw, bool) and (raw > 0 if optional else raw >= 0)
    if get_origin(kind) is Literal:
        return isinstance(raw, str) and raw in get_args(kind)
    raise TypeError(f"pipeline.config cannot check a key of type {kind!r}")


def _expected(kind: Any, key: Key) -> str:
    """What a key of `kind` must be, in Vietnamese, after "phải là"."""
    if kind in _TEXT:
        return "một chuỗi chữ trong dấu ngoặc kép"
    if kind is dt.date:
        return "một ngày dạng NĂM-THÁNG-NGÀY, ví dụ 2022-06-05"
    if kind in (int, float):
        number = "một số nguyên" if kind is int else "một số"
        bound = "lớn hơn 0" if key.optional else "từ 0 trở lên"
        unset = ", hoặc 0 để dùng mặc định" if key.optional and key.default is None else ""
        return f"{number} {bound}{unset}"
    return " hoặc ".join(f'"{v}"' for v in get_args(kind))


def _shown(raw: Any) -> str:
    """A value as the file writes it, never in Python's spelling (datetime.date(...), True)."""
    if isinstance(raw, str):
        return f'"{raw}"'
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, dt.date | dt.time):
        return raw.isoformat()
    if isinstance(raw, list):
        return "một danh sách [...]"
    if isinstance(raw, dict):
        return "một mục {...}"
    return str(raw)
