"""Configuration: one TOML file -> `Settings`, with Vietnamese messages for every mistake.

`load_settings(path)` reads the file, checks that every key is there with the right type and no
unknown key is present, and returns frozen settings with paths resolved against the file's folder.
A mistake raises `ConfigError`, whose message names the file and the key.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError
from pipeline.guard import Limits

DEFAULT_NAME = "pipeline.toml"
ENV_VAR = "PIPELINE_CONFIG"
RATE_MEASURES = ("members_with_initiative", "initiatives_per_member")
DEFAULT_CORRECTION_DAYS = 7
REPORT_TEXT = "bao-cao.md"  # beside the configuration, unless paths.report_text says otherwise


@dataclass(frozen=True)
class Organisation:
    parent_name: str
    name: str
    full_name: str
    place: str
    document_number: str
    signatory: str
    signatory_title: str
    signatory_on_behalf: str
    # The officer the unions call about their reports (named in every message to them).
    contact_name: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    start: dt.date
    end: dt.date
    target: int


@dataclass(frozen=True)
class Programme:
    name: str
    plan_reference: str
    start: dt.date
    eligibility_start: dt.date
    eligibility_end: dt.date
    rate_target_percent: float
    official_rate: str
    phases: tuple[Phase, ...]

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
    inbox: Path
    outbox: Path
    roster: Path
    history: Path | None = None  # the ledger and the archive; None: with the outbox
    report_text: Path = Path(REPORT_TEXT)  # the officer's text of the report (pipeline.report.officer)

    @property
    def history_dir(self) -> Path:
        """Where the ledger and the archive of originals live: by default, the outbox."""
        return self.history or self.outbox


@dataclass(frozen=True)
class Processing:
    """Where the per-file work runs: worker processes of this machine (`workers`, None: up to 2),
    or the Dask cluster whose scheduler is at `scheduler` ("tcp://host:8786")."""

    workers: int | None = None
    scheduler: str | None = None
    timeout_s: float = 60  # per file, for guarding and reading it (and for a feedback copy)
    memory_mb: int = 1024  # address space of each local worker (Linux)


@dataclass(frozen=True)
class Settings:
    source: Path
    organisation: Organisation
    programme: Programme
    as_of: dt.date
    deadline: dt.date
    paths: Paths
    processing: Processing = Processing()
    limits: Limits = field(default_factory=Limits)
    correction_days: int = DEFAULT_CORRECTION_DAYS  # how long a union has to send back a corrected file

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


# The shape of the file: section -> key -> (type, what it is, in Vietnamese).
_STR, _DATE, _NUM, _INT = "str", "date", "number", "int"
_OPT_STR = "optional-str"  # may be missing or "": a default applies
_OPT_INT = "optional-int"  # may be missing or 0: a default applies
_OPT_NUM = "optional-number"  # may be missing: a default applies; must be above 0
_SCHEMA: dict[str, dict[str, tuple[str, str]]] = {
    "organisation": {
        "parent_name": (_STR, "tên cơ quan cấp trên"),
        "name": (_STR, "tên cơ quan ban hành báo cáo"),
        "full_name": (_STR, "tên đầy đủ của cơ quan"),
        "place": (_STR, "địa danh"),
        "document_number": (_STR, "số văn bản"),
        "signatory": (_STR, "họ tên người ký"),
        "signatory_title": (_STR, "chức vụ người ký"),
        "signatory_on_behalf": (_STR, "dòng thẩm quyền ký"),
        "contact_name": (_OPT_STR, "họ tên cán bộ phụ trách, để CĐCS liên hệ"),
        "contact_phone": (_OPT_STR, "số điện thoại của cán bộ phụ trách"),
    },
    "programme": {
        "name": (_STR, "tên Chương trình"),
        "plan_reference": (_STR, "kế hoạch thực hiện"),
        "start": (_DATE, "ngày bắt đầu nhận đăng ký"),
        "eligibility_start": (_DATE, "ngày đầu khoảng áp dụng hợp lệ"),
        "eligibility_end": (_DATE, "ngày cuối khoảng áp dụng hợp lệ"),
        "rate_target_percent": (_NUM, "chỉ tiêu tỷ lệ (%)"),
        "official_rate": (_STR, "cách tính tỷ lệ chính thức"),
        "phases": ("phases", "các giai đoạn"),
    },
    "report": {
        "as_of": (_DATE, "ngày báo cáo"),
        "deadline": (_DATE, "hạn nộp báo cáo"),
        "correction_days": (_OPT_INT, "số ngày để CĐCS sửa và gửi lại tệp bị trả lại"),
    },
    "paths": {
        "inbox": (_STR, "thư mục nhận tệp"),
        "outbox": (_STR, "thư mục kết quả"),
        "roster": (_STR, "danh sách CĐCS"),
        "history": (_OPT_STR, "nơi lưu sổ theo dõi và bản gốc"),
        "report_text": (_OPT_STR, "tệp nội dung do cán bộ viết trong báo cáo"),
    },
}
# Sections that may be left out altogether (every key then takes its default).
_OPTIONAL_SECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "processing": {
        "workers": (_OPT_INT, "số tiến trình xử lý tệp"),
        "scheduler": (_OPT_STR, "địa chỉ bộ điều phối cụm Dask"),
        "timeout_s": (_OPT_NUM, "thời gian tối đa đọc một tệp (giây)"),
        "memory_mb": (_OPT_NUM, "bộ nhớ tối đa của mỗi tiến trình đọc (MB)"),
    },
    # What a received file may hold before any reader opens it (pipeline/guard.py).
    "limits": {
        "max_file_mb": (_OPT_NUM, "dung lượng tối đa của một tệp (MB)"),
        "max_zip_entries": (_OPT_NUM, "số phần tối đa trong gói ZIP"),
        "max_uncompressed_mb": (_OPT_NUM, "dung lượng tối đa sau khi giải nén (MB)"),
        "max_ratio": (_OPT_NUM, "tỷ lệ nén tối đa"),
        "max_cells": (_OPT_NUM, "số ô tối đa của các trang tính"),
        "max_sheets": (_OPT_NUM, "số trang tính tối đa"),
    },
}
_WHOLE = {"memory_mb", "max_zip_entries", "max_cells", "max_sheets"}  # whole numbers among the above
_PHASE: dict[str, tuple[str, str]] = {
    "name": (_STR, "tên giai đoạn"),
    "start": (_DATE, "ngày bắt đầu"),
    "end": (_DATE, "ngày kết thúc"),
    "target": (_INT, "chỉ tiêu số sáng kiến"),
}
_TYPE_WORDS = {
    _STR: "một chuỗi chữ trong dấu ngoặc kép",
    _DATE: "một ngày dạng NĂM-THÁNG-NGÀY, ví dụ 2022-06-05",
    _NUM: "một số",
    _INT: "một số nguyên",
}


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
    check = _Checker(path)
    check.known(data, {**_SCHEMA, **_OPTIONAL_SECTIONS}, "")
    values: dict[str, dict[str, Any]] = {}
    for section, keys in _SCHEMA.items():
        table = data.get(section)
        if not isinstance(table, dict):
            raise check.error(section, "thiếu mục" if table is None else "phải là một mục [..]")
        check.known(table, keys, section + ".")
        values[section] = {
            key: check.value(table, f"{section}.{key}", key, kind, what) for key, (kind, what) in keys.items()
        }

    prog = values["programme"]
    if prog["official_rate"] not in RATE_MEASURES:
        raise check.error("programme.official_rate", f'phải là "{RATE_MEASURES[0]}" hoặc "{RATE_MEASURES[1]}"')
    if not prog["eligibility_start"] <= prog["eligibility_end"]:
        raise check.error("programme.eligibility_end", "phải sau programme.eligibility_start")
    phases = tuple(Phase(**p) for p in prog.pop("phases"))
    for i, (a, b) in enumerate(itertools.pairwise(phases), start=2):
        if b.start <= a.end:
            raise check.error(f"programme.phases[{i}].start", "phải sau ngày kết thúc của giai đoạn trước")
    for i, ph in enumerate(phases, start=1):
        if ph.end < ph.start:
            raise check.error(f"programme.phases[{i}].end", "phải sau ngày bắt đầu của giai đoạn")
    for section, keys in _OPTIONAL_SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise check.error(section, "phải là một mục [..]")
        check.known(table, keys, section + ".")
        values[section] = {
            key: check.value(table, f"{section}.{key}", key, kind, what) for key, (kind, what) in keys.items()
        }
    base, paths = path.parent, values["paths"]
    return Settings(
        source=path,
        organisation=Organisation(**values["organisation"]),
        programme=Programme(**prog, phases=phases),
        as_of=values["report"]["as_of"],
        deadline=values["report"]["deadline"],
        correction_days=values["report"]["correction_days"] or DEFAULT_CORRECTION_DAYS,
        paths=Paths(
            inbox=base / paths["inbox"],
            outbox=base / paths["outbox"],
            roster=base / paths["roster"],
            history=base / paths["history"] if paths["history"] else None,
            report_text=base / (paths["report_text"] or REPORT_TEXT),
        ),
        processing=Processing(**{k: v for k, v in values["processing"].items() if v is not None}),
        limits=Limits(**{k: v for k, v in values["limits"].items() if v is not None}),
    )


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f'Tệp cấu hình "{self.path}", khóa "{key}": {problem}.')

    def known(self, table: dict[str, Any], keys: dict[str, Any], prefix: str) -> None:
        for key in table:
            if key not in keys:
                near = difflib.get_close_matches(key, list(keys), n=1)
                hint = f'; có phải ý bạn là "{prefix}{near[0]}"?' if near else ""
                raise self.error(prefix + key, f"khóa này không có trong cấu hình{hint}")

    def value(self, table: dict[str, Any], name: str, key: str, kind: str, what: str) -> Any:
        if kind == _OPT_NUM:
            if key not in table:
                return None
            raw = table[key]
            whole = key in _WHOLE
            ok = isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0
            if not ok or (whole and not isinstance(raw, int)):
                expected = "một số nguyên lớn hơn 0" if whole else "một số lớn hơn 0"
                raise self.error(name, f"{what} phải là {expected}, nhưng đang là {raw!r}")
            return raw
        if kind == _OPT_INT:
            raw = table.get(key, 0)
            if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
                raise self.error(name, f"{what} phải là {_TYPE_WORDS[_INT]}, nhưng đang là {raw!r}")
            return raw or None
        if kind == _OPT_STR:
            raw = table.get(key, "")
            if not isinstance(raw, str):
                raise self.error(name, f"{what} phải là {_TYPE_WORDS[_STR]}, nhưng đang là {raw!r}")
            return raw.strip() or None
        if key not in table:
            raise self.error(name, f"thiếu khóa ({what})")
        raw = table[key]
        if kind == "phases":
            return self.phases(raw, name)
        ok = {
            _STR: isinstance(raw, str) and raw.strip() != "",
            _DATE: isinstance(raw, dt.date) and not isinstance(raw, dt.datetime),
            _NUM: isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0,
            _INT: isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0,
        }[kind]
        if not ok:
            raise self.error(name, f"{what} phải là {_TYPE_WORDS[kind]}, nhưng đang là {raw!r}")
        return raw

    def phases(self, raw: Any, name: str) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
            raise self.error(name, "cần ít nhất một mục [[programme.phases]]")
        out = []
        for i, table in enumerate(raw, start=1):
            prefix = f"{name}[{i}]"
            self.known(table, _PHASE, prefix + ".")
            out.append({k: self.value(table, f"{prefix}.{k}", k, kind, what) for k, (kind, what) in _PHASE.items()})
        return out
