"""Configuration: every mistake is a Vietnamese message naming the key and the file."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (ROOT / "pipeline.toml").read_text(encoding="utf-8")


def _load(tmp_path: Path, text: str):
    path = tmp_path / "cấu hình.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


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
    ],
)
def test_wrong_or_missing_key_names_key_and_file(tmp_path, edit, key, words):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, edit(DEFAULT))
    message = str(info.value)
    assert "?." not in message and not re.search(r"[^.]\.\.(\s|$)", message), message  # one stop, not two
    assert f'khóa "{key}"' in message
    assert "cấu hình.toml" in message
    assert words in message
    assert info.value.exit_code == 3


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
    english = ("Unescaped", "Invalid", "Expected", "at line", "Cannot", "Illegal", "Unclosed", "Unterminated")
    assert not any(e in message for e in english), message


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
    from pipeline.findings import Code
    from pipeline.results import Status
    from pipeline.run import run

    settings = _load(tmp_path, DEFAULT.replace("max_file_mb = 20 ", "max_file_mb = 0.001 "))
    settings.paths.inbox.mkdir()
    (settings.paths.inbox / "a.xlsx").write_bytes(filled(rows=[{}]).read_bytes())
    [result] = run(settings, form, roster).files
    assert result.status is Status.REJECTED
    [finding] = result.findings
    assert finding.code is Code.TOO_LARGE and "giới hạn 1 KB" in finding.message
