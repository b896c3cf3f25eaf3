"""Configuration: every mistake is a Vietnamese message naming the key and the file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Annotated

import pytest

from pipeline import config
from pipeline.config import Processing, Settings, keys_of, layout, load_settings
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
# Words of Python, tomllib or a validation library that must never reach the officer.
ENGLISH = re.compile(
    r"\b(Unescaped|Invalid|Expected|at line|Cannot|Illegal|Unclosed|Unterminated|Input|should|valid|must|missing|"
    r"required|field|got|type|instance|datetime|date|dict|list|tuple|int|float|str|None|True|False|MISSING)\b"
)


def _load(tmp_path: Path, text: str):
    path = tmp_path / "cấu hình.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def _message(tmp_path: Path, text: str) -> str:
    """The message of the error that loading `text` raises, checked for what every message needs."""
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert info.value.exit_code == 3
    assert "cấu hình.toml" in message
    assert "?." not in message and not re.search(r"[^.]\.\.(\s|$)", message), message  # one stop, not two
    # The file's name and the key are the officer's own words; nothing else is English.
    words = re.sub(r'"[^"]*"', "", message.replace(str(tmp_path / "cấu hình.toml"), ""))
    assert not ENGLISH.search(words), message
    return message


def test_default_configuration_loads(settings):
    assert settings.as_of == dt.date(2022, 6, 5)
    assert [p.target for p in settings.programme.phases] == [50, 60]
    assert settings.programme.official_rate == "members_with_initiative"
    assert settings.paths.inbox == ROOT / "inbox"


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (lambda t: t.replace("as_of = 2022-06-05\n", ""), "report.as_of", "thiếu khóa"),
        (lambda t: t.replace("as_of = 2022-06-05", 'as_of = "05/06/2022"'), "report.as_of", "phải là một ngày"),
        (lambda t: t.replace("as_of = 2022-06-05", "asof = 2022-06-05"), "report.asof", 'ý bạn là "report.as_of"'),
        (lambda t: t.replace("target = 50", 'target = "năm mươi"'), "programme.phases[1].target", "số nguyên"),
        (
            lambda t: t.replace('official_rate = "members_with_initiative"', 'official_rate = "x"'),
            "programme.official_rate",
            "members_with_initiative",
        ),
        (
            lambda t: t.replace("start = 2022-06-01", "start = 2022-05-01"),
            "programme.phases[2].start",
            "giai đoạn trước",
        ),
        (lambda t: t.replace("[paths]", "[duong_dan]"), "duong_dan", "không có trong cấu hình"),
        (lambda t: t.replace('inbox = "inbox"\n', ""), "paths.inbox", "thiếu khóa"),
        (lambda t: t.replace("max_file_mb = 20 ", "max_file_mb = 0 "), "limits.max_file_mb", "lớn hơn 0"),
        (lambda t: t.replace("max_sheets = 100", "max_sheets = 2.5"), "limits.max_sheets", "số nguyên lớn hơn 0"),
        (lambda t: t.replace("max_cells = ", "max_cell = "), "limits.max_cell", 'ý bạn là "limits.max_cells"'),
        (lambda t: t.replace("timeout_s = 60", 'timeout_s = "1 phút"'), "processing.timeout_s", "lớn hơn 0"),
        # A value is shown as the file writes it, never as Python spells it.
        (
            lambda t: t.replace("as_of = 2022-06-05", "as_of = 2022-06-05T08:00:00"),
            "report.as_of",
            "nhưng đang là 2022-06-05T08:00:00",
        ),
        (lambda t: t.replace("target = 50", "target = true"), "programme.phases[1].target", "nhưng đang là true"),
        (lambda t: t.replace("target = 50", "target = -1"), "programme.phases[1].target", "số nguyên từ 0 trở lên"),
        (
            lambda t: t.replace("target = 50", "targt = 50"),
            "programme.phases[1].targt",
            'ý bạn là "programme.phases[1].target"',
        ),
        (
            lambda t: t.replace('official_rate = "members_with_initiative"', "official_rate = 1"),
            "programme.official_rate",
            'phải là "members_with_initiative" hoặc "initiatives_per_member", nhưng đang là 1',
        ),
        (
            lambda t: t.replace("rate_target_percent = 5", 'rate_target_percent = "5%"'),
            "programme.rate_target_percent",
            'chỉ tiêu tỷ lệ (%) phải là một số từ 0 trở lên, nhưng đang là "5%"',
        ),
        (
            lambda t: t.replace("eligibility_end = 2023-09-01", "eligibility_end = 2021-01-01"),
            "programme.eligibility_end",
            "phải sau programme.eligibility_start",
        ),
        (lambda t: t.replace("end = 2023-09-01", "end = 2022-05-15"), "programme.phases[2].end", "ngày bắt đầu"),
        (
            lambda t: re.sub(r"\[\[programme\.phases\]\][^\[]*", "", t),
            "programme.phases",
            "cần ít nhất một mục [[programme.phases]]",
        ),
        (lambda t: t.replace('place = "Vĩnh Thuận"', 'place = " "'), "organisation.place", "không được để trống"),
        (lambda t: t.replace('roster = "danh-sach-cdcs.csv"', "roster = 5"), "paths.roster", "chuỗi chữ"),
        (lambda t: t.replace('scheduler = ""', "scheduler = 8786"), "processing.scheduler", "chuỗi chữ"),
        (
            lambda t: t.replace('contact_phone = "0297 3855 123"', "contact_phone = 2973855123"),
            "organisation.contact_phone",
            "chuỗi chữ",
        ),
        (
            lambda t: t.replace("workers = 0", "workers = -1"),
            "processing.workers",
            "một số nguyên lớn hơn 0, hoặc 0 để dùng mặc định, nhưng đang là -1",
        ),
        (lambda t: t.replace("memory_mb = 1024", "memory_mb = 0"), "processing.memory_mb", "số nguyên lớn hơn 0"),
        (lambda t: t.replace("correction_days = 7", "correction_days = 0"), "report.correction_days", "lớn hơn 0"),
        (lambda t: t.replace("max_ratio = 200", "max_ratio = nan"), "limits.max_ratio", "nhưng đang là nan"),
        (lambda t: t.replace("[organisation]", "[[organisation]]"), "organisation", "phải là một mục [..]"),
        (
            lambda t: "processing = 1\n" + t[: t.index("[processing]")] + t[t.index("[limits]") :],
            "processing",
            "phải là một mục [..]",
        ),
        (
            lambda t: t[: t.index("[organisation]")] + t[t.index("[programme]") :],
            "organisation",
            "thiếu mục (cơ quan báo cáo)",
        ),
        (lambda t: t.replace("[report]", "[bao_cao]"), "bao_cao", "không có trong cấu hình"),
        (lambda t: t.replace("[report]", "[reports]"), "reports", 'ý bạn là "report"'),
    ],
)
def test_wrong_or_missing_key_names_key_and_file(tmp_path, edit, key, words):
    message = _message(tmp_path, edit(DEFAULT))
    assert f'khóa "{key}"' in message
    assert words in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # The commonest mistake on Windows: a path copied from Explorer.
        (
            '[paths]\ninbox = "D:\\Bao cao\\inbox"\n',
            ["ở dòng 2, cột", 'dấu "\\"', 'dùng dấu "/"', '"D:/Bao cao/inbox"'],
        ),
        ("[report\nas_of = 1", ["ở dòng 1", 'thiếu dấu "]"', "[report]"]),
        ("[report]\nas_of = 05/06/2022\n", ["ở dòng 2", "2022-06-05"]),
        ("[organisation]\nplace = Vĩnh Thuận\n", ["ở dòng 2", "ngoặc kép", "place = Vĩnh Thuận"]),
        ('[organisation]\nplace = "Vĩnh Thuận\n', ["ở dòng 2", "thiếu dấu ngoặc kép đóng"]),
        ("[report]\n[report]\n", ["ở dòng 2", "mục [report] được khai báo hai lần"]),
    ],
)
def test_a_syntax_error_is_explained_in_vietnamese_with_its_line(tmp_path, text, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert all(w in message for w in words), message
    assert not ENGLISH.search(re.sub(r'"[^"]*"|Dòng \d+ đang ghi: .*', "", message)), message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="Không tìm thấy tệp cấu hình"):
        load_settings(tmp_path / "không-có.toml")


def test_a_file_saved_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + DEFAULT.encode())
    assert load_settings(path).as_of == dt.date(2022, 6, 5)


def test_paths_are_relative_to_the_file(tmp_path):
    settings = _load(tmp_path, DEFAULT)
    assert settings.paths.outbox == tmp_path / "outbox"
    assert settings.paths.roster == tmp_path / "danh-sach-cdcs.csv"


def test_limits_and_processing_come_from_the_file_or_their_defaults(tmp_path):
    from pipeline.guard import Limits

    settings = _load(
        tmp_path, DEFAULT.replace("max_file_mb = 20 ", "max_file_mb = 0.5 ").replace("timeout_s = 60", "timeout_s = 5")
    )
    assert settings.limits.max_file_mb == 0.5 and settings.limits.max_sheets == 100
    assert settings.processing.timeout_s == 5 and settings.processing.memory_mb == 1024
    without = DEFAULT[: DEFAULT.index("[processing]")]  # a configuration from before these sections
    settings = _load(tmp_path, without)
    assert settings.limits == Limits() and settings.processing.timeout_s == 60 and settings.processing.scheduler is None


@pytest.mark.slow
def test_a_lower_size_limit_in_the_file_refuses_a_file_in_a_run(tmp_path, filled, form, roster):
    from pipeline import Period, run
    from pipeline.findings import Code
    from pipeline.results import Status

    settings = _load(tmp_path, DEFAULT.replace("max_file_mb = 20 ", "max_file_mb = 0.001 "))
    settings.paths.inbox.mkdir()
    (settings.paths.inbox / "a.xlsx").write_bytes(filled(rows=[{}]).read_bytes())
    [result] = run(Period(settings, form, roster)).files
    assert result.status is Status.REJECTED
    [finding] = result.findings
    assert finding.code is Code.TOO_LARGE and "giới hạn 1 KB" in finding.message


def test_an_optional_key_left_out_or_blank_takes_its_default(tmp_path):
    blank = (
        DEFAULT.replace('contact_name = "Trần Thị Mẫu"', 'contact_name = ""')
        .replace('report_text = "bao-cao.md"', 'report_text = " "')
        .replace("correction_days = 7\n", "")
    )
    settings = _load(tmp_path, blank)
    assert settings.organisation.contact_name is None and settings.organisation.contact_phone == "0297 3855 123"
    assert settings.paths.history is None and settings.paths.history_dir == tmp_path / "outbox"
    assert settings.paths.report_text == tmp_path / "bao-cao.md"
    assert settings.processing.workers is None and settings.processing.scheduler is None
    assert settings.correction_days == 7
    given = DEFAULT.replace('history = ""', 'history = " lich-su "').replace(
        'report_text = "bao-cao.md"', 'report_text = "van-ban/bao-cao-ky-2.md"'
    )
    settings = _load(tmp_path, given.replace("workers = 0", "workers = 3"))
    assert settings.paths.history_dir == tmp_path / "lich-su"
    assert settings.paths.report_text == tmp_path / "van-ban" / "bao-cao-ky-2.md"
    assert settings.processing.workers == 3


# One declaration: the dataclasses are the schema.


def test_a_new_field_is_a_new_key_with_its_check_and_messages(tmp_path, monkeypatch):
    """A field added to a dataclass is read, defaulted and checked, with its Vietnamese description
    in the messages and in the "did you mean" hints, without any other edit."""

    @dataclasses.dataclass(frozen=True)
    class WithRetries(Processing):
        retries: Annotated[int, "số lần thử đọc lại một tệp"] = 3

    monkeypatch.setattr(config, "Processing", WithRetries)
    assert [k.name for k in layout()["processing"]][-1] == "retries"
    assert _load(tmp_path, DEFAULT).processing.retries == 3
    given = DEFAULT.replace("memory_mb = 1024", "memory_mb = 1024\nretries = 5")
    assert _load(tmp_path, given).processing.retries == 5
    message = _message(tmp_path, given.replace("retries = 5", "retries = 0"))
    assert 'khóa "processing.retries": số lần thử đọc lại một tệp phải là một số nguyên lớn hơn 0' in message
    message = _message(tmp_path, given.replace("retries = 5", "retrys = 5"))
    assert 'khóa "processing.retrys"' in message and 'có phải ý bạn là "processing.retries"?' in message


def _classes(cls):
    """`cls` and the dataclasses of its sections and arrays of tables, depth first."""
    yield cls
    for key in keys_of(cls):
        if key.table is not None:
            yield from _classes(key.table)


def test_only_the_undescribed_fields_stay_out_of_the_file():
    """A field without a Vietnamese description is not a key: only these, on purpose."""
    outside = set()
    for cls in _classes(Settings):
        described = {k.name for k in keys_of(cls)}
        outside |= {f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if f.name not in described}
    assert outside == {"Settings.source", "Limits.max_row", "Limits.max_col"}


def _tables_of_the_file():
    """Every table of the file with its keys, as the declaration gives them (sections and arrays of
    tables are tables of their own)."""
    return {name: [k.name for k in keys] for name, keys in layout().items()}


def test_the_declaration_gives_every_table_of_the_file():
    assert _tables_of_the_file() == {
        "organisation": [
            "parent_name",
            "name",
            "full_name",
            "place",
            "document_number",
            "signatory",
            "signatory_title",
            "signatory_on_behalf",
            "contact_name",
            "contact_phone",
        ],
        "programme": [
            "name",
            "plan_reference",
            "start",
            "eligibility_start",
            "eligibility_end",
            "rate_target_percent",
            "official_rate",
        ],
        "programme.phases": ["name", "start", "end", "target"],
        "report": ["as_of", "deadline", "correction_days"],
        "paths": ["inbox", "outbox", "roster", "history", "report_text"],
        "processing": ["workers", "scheduler", "timeout_s", "memory_mb"],
        "limits": ["max_file_mb", "max_zip_entries", "max_uncompressed_mb", "max_ratio", "max_cells", "max_sheets"],
        "mail": ["address", "name", "cafile"],
        "mail.imap": ["host", "port", "security", "user", "folder", "after_fetch", "move_to"],
        "mail.smtp": ["host", "port", "security", "user"],
    }


VIETNAMESE = re.compile(r"[àáảãạăắằẳẵặâấầẩẫậđèéẻẽẹêếềểễệìíỉĩịòóỏõọôốồổỗộơớờởỡợùúủũụưứừửữựỳýỷỹỵ]", re.IGNORECASE)


def test_the_shipped_configuration_has_every_key_with_a_vietnamese_comment():
    """Each key is in the root pipeline.toml, in its table, with a comment in Vietnamese on its line or
    above the lines of keys it belongs to: the officer learns the keys from this file."""
    lines = DEFAULT.splitlines()
    found: dict[str, dict[str, bool]] = {}
    table = ""
    for i, line in enumerate(lines):
        header = re.fullmatch(r"\[\[?([\w.]+)\]\]?\s*(#.*)?", line.strip())
        if header:
            table = header.group(1)
            continue
        key = re.match(r"(\w+)\s*=", line)
        if not key or key.group(1) in found.setdefault(table, {}):
            continue
        above = i
        while above > 0 and re.match(r"\w+\s*=", lines[above - 1]):
            above -= 1  # up the block of keys this one belongs to
        comments = [line.partition(" #")[2], lines[above - 1] if above and lines[above - 1].startswith("#") else ""]
        found[table][key.group(1)] = any(VIETNAMESE.search(c) for c in comments)
    for name, keys in _tables_of_the_file().items():
        assert list(found.get(name, {})) == keys, name  # every key, in the declaration's order
        assert [k for k, commented in found[name].items() if not commented] == [], name


def test_the_readme_table_names_every_key_and_which_are_optional():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") : readme.index("## The ledger")]
    rows = {}
    for match in re.finditer(r"^\| `\[\[?([\w.]+)\]\]?`( \(optional\))? \| ([^|]*) \|", section, re.MULTILINE):
        name, optional_table, keys = match.groups()
        required, _, optional = keys.partition("optional")
        rows[name] = (re.findall(r"`(\w+)`", required), re.findall(r"`(\w+)`", optional), bool(optional_table))
    declared = {}
    optional_tables = {k.name for k in keys_of(Settings) if k.table is not None and k.optional}
    for name, keys in layout().items():
        declared[name] = (
            [k.name for k in keys if not k.optional or name in optional_tables],
            [k.name for k in keys if k.optional and name not in optional_tables],
            name in optional_tables,
        )
    assert rows == declared
