"""The command line, in-process: Vietnamese output, exit codes, the same options everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.cli import main
from pipeline.demo import demo_roster_path
from tests.conftest import ROOT


def test_help_is_vietnamese(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("Cách dùng: pipeline")
    for command in ("template", "run", "check", "demo", "status"):
        assert command in out
    assert "hiện hướng dẫn này rồi thoát" in out


def test_usage_mistake_is_vietnamese_and_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check"])
    assert info.value.code == 2
    assert "thiếu tham số bắt buộc" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["run", "--outbx", "x"], "--outbx (có phải ý bạn là --outbox?)"),
        (["status", "--as-off=2022-06-05"], "--as-off=2022-06-05 (có phải ý bạn là --as-of?)"),
        (["run", "--pfd"], "--pfd (có phải ý bạn là --pdf?)"),
        (["--verison"], "--verison (có phải ý bạn là --version?)"),
    ],
)
def test_a_mistyped_option_gets_a_did_you_mean(capsys, argv, hint):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "không hiểu tham số" in err and hint in err, err
    if argv[0] != "--verison":
        assert f"Cách dùng: pipeline {argv[0]}" in err  # the usage of the command that was meant


@pytest.mark.parametrize("command", ["template", "run", "check", "status"])
def test_the_same_options_everywhere(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    for option in ("--config", "--inbox", "--outbox", "--as-of"):
        assert option in out, (command, option)


@pytest.mark.slow
def test_template_writes_blank_and_personalised(tmp_path, capsys):
    out = tmp_path / "biểu mẫu"
    roster = demo_roster_path()
    code = main(["template", "--config", str(ROOT / "pipeline.toml"), "--roster", str(roster), "--out", str(out)])
    assert code == 0
    files = sorted(p.name for p in out.iterdir())
    assert "Mẫu báo cáo sáng kiến v1.0.xlsx" in files
    assert len(files) == 68 and any(name.startswith("VT001 - CĐCS") for name in files)
    assert "Đã tạo 67 biểu mẫu riêng" in capsys.readouterr().out


def test_check_json_gives_one_object_per_finding(filled, capsys):
    path = filled(rows=[{"tac_gia": "An"}])
    assert main(["check", "--config", str(ROOT / "pipeline.toml"), "--json", str(path)]) == 0
    findings = json.loads(capsys.readouterr().out)
    assert [(f["sheet"], f["cell"], f["rule"], f["severity"]) for f in findings] == [
        ("Sáng kiến", "C4", "too-few-words", "error")
    ]
    assert set(findings[0]) == {"file", "sheet", "cell", "field", "value", "severity", "rule", "message"}


def test_check_prints_a_table_and_exits_0_on_a_rejected_file(filled, capsys):
    path = filled(rows=[{"linh_vuc": "Lĩnh vực lạ"}])
    assert main(["check", "--config", str(ROOT / "pipeline.toml"), str(path)]) == 0
    out = capsys.readouterr().out
    assert "Trả lại" in out and "Sáng kiến!G4" in out


def test_config_error_exit_3_names_the_key(tmp_path, capsys):
    bad = tmp_path / "pipeline.toml"
    bad.write_text(
        (ROOT / "pipeline.toml").read_text(encoding="utf-8").replace("deadline", "han_nop"), encoding="utf-8"
    )
    assert main(["run", "--config", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "report.han_nop" in err and "pipeline.toml" in err


@pytest.mark.slow
def test_run_on_an_inbox_writes_findings_and_archive(tmp_path, filled, capsys):
    inbox = tmp_path / "hộp thư"
    inbox.mkdir()
    good = filled(rows=[{}], name="tốt.xlsx")
    bad = filled(rows=[{"tac_gia": "An"}], name="sai.xlsx")
    (inbox / "Báo cáo VT021.xlsx").write_bytes(good.read_bytes())
    (inbox / "bản sao.xlsx").write_bytes(good.read_bytes())
    (inbox / "sai.xlsx").write_bytes(bad.read_bytes())
    (inbox / "~$sai.xlsx").write_bytes(b"lock")
    outbox = tmp_path / "kết quả"
    roster = demo_roster_path()
    args = ["run", "--config", str(ROOT / "pipeline.toml"), "--inbox", str(inbox), "--outbox", str(outbox)]
    assert main([*args, "--roster", str(roster), "--as-of", "2022-06-05", "--pdf"]) == 0
    out = capsys.readouterr().out
    assert f"Bản PDF: {outbox / 'bao-cao-tong-hop.pdf'}" in out
    assert (outbox / "bao-cao-tong-hop.pdf").read_bytes().startswith(b"%PDF")
    assert "Nhận: 1 · Nhận, có cảnh báo: 0 · Trả lại: 1 · Trùng tệp đã có: 1 · Đã có bản mới hơn: 0 · Bỏ qua: 1" in out
    csv_text = (outbox / "ket-qua-kiem-tra.csv").read_text(encoding="utf-8-sig")
    assert "sai.xlsx,Sáng kiến,C4" in csv_text
    archived = sorted(p.read_bytes() for p in (outbox / "luu-tru").iterdir())
    assert archived == sorted([good.read_bytes(), bad.read_bytes()])
    assert (inbox / "sai.xlsx").read_bytes() == bad.read_bytes()

    # status reads the ledger the run wrote: VT021 has reported, the other unions have not.
    status = ["status", "--config", str(ROOT / "pipeline.toml"), "--outbox", str(outbox), "--roster", str(roster)]
    assert main([*status, "--as-of", "2022-06-05"]) == 0
    out = capsys.readouterr().out
    assert "Tỷ lệ nộp báo cáo: 1/67 CĐCS (1,5%)" in out
    assert "VT021" in out and "Chưa nộp: 66" in out


def test_status_without_a_ledger_says_to_run_first(tmp_path, capsys):
    roster = demo_roster_path()
    args = ["status", "--config", str(ROOT / "pipeline.toml"), "--outbox", str(tmp_path), "--roster", str(roster)]
    assert main(args) == 1
    assert "hãy chạy lệnh run trước" in capsys.readouterr().err


def test_python_dash_m_pipeline_works():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, encoding="utf-8", check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("pipeline ")


def test_the_command_ends_with_its_exit_code_and_all_it_printed(tmp_path, filled):
    """`pipeline` (and `python -m pipeline`) end the process at once once the command is done
    (`cli.console`): what it printed to a pipe (buffered, unlike a console) is all there, to the
    last line, and the exit code is the command's."""
    inbox = tmp_path / "hộp thư"
    inbox.mkdir()
    (inbox / "sai.xlsx").write_bytes(filled(rows=[{"tac_gia": "An"}], name="sai.xlsx").read_bytes())
    config = ["--config", str(ROOT / "pipeline.toml"), "--outbox", str(tmp_path / "kết quả")]
    run = [sys.executable, "-m", "pipeline", "run", *config, "--inbox", str(inbox), "--roster", str(demo_roster_path())]
    done = subprocess.run(run, capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 0, done.stderr
    assert "Trả lại: 1" in done.stdout
    assert done.stdout.rstrip().endswith("rồi chạy lại lệnh run.")  # the run's last line
    (tmp_path / "sai.toml").write_text("[period\n", encoding="utf-8")
    broken = [sys.executable, "-m", "pipeline", "status", "--config", str(tmp_path / "sai.toml")]
    done = subprocess.run(broken, capture_output=True, text=True, encoding="utf-8", check=False)
    assert done.returncode == 3 and done.stderr.startswith("Lỗi:")


@pytest.mark.slow
def test_pdf_without_libreoffice_says_so_and_the_run_still_works(tmp_path, filled, capsys, monkeypatch):
    # LibreOffice is looked for on PATH, in the worker process that writes the DOCX (which
    # inherits this environment): an empty PATH is a machine without it.
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.xlsx").write_bytes(filled(rows=[{}]).read_bytes())
    outbox = tmp_path / "outbox"
    roster = demo_roster_path()
    args = ["run", "--config", str(ROOT / "pipeline.toml"), "--inbox", str(inbox), "--outbox", str(outbox)]
    assert main([*args, "--roster", str(roster), "--pdf"]) == 0
    out = capsys.readouterr().out
    assert "Chưa xuất được bản PDF" in out and "lưu thành PDF" in out
    assert not (outbox / "bao-cao-tong-hop.pdf").exists() and (outbox / "bao-cao-tong-hop.docx").exists()
