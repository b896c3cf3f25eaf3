"""The first run on a fresh machine: the README's Windows steps, the install, the corpus tests
without ../shared, CI's own checks and the Makefile's message when tools are missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# What a fresh clone holds: the working tree without what a run, an install or a test leaves.
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "demo",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",  # hypothesis's examples, which tests running beside this one write and delete
    "*.egg-info",
    "build",
    ".work",
)


def _fresh_copy(target: Path) -> Path:
    shutil.copytree(ROOT, target, ignore=_NOT_IN_A_CLONE)
    for folder in ("inbox", "outbox"):  # as in git: only the placeholder
        for item in (target / folder).iterdir():
            if item.name != ".gitkeep":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    return target


def windows_steps() -> list[str]:
    """The README's Windows block, line by line, as a newcomer pastes it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Windows, without make", 1)[1]
    block = re.search(r"```bat\n(.*?)```", section, re.DOTALL)
    assert block, "the README's Windows section has no ```bat block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_windows_steps_pasted_line_by_line_end_with_a_report(tmp_path: Path) -> None:
    """Each line runs as the Command Prompt would run it (no shell, no make), in a fresh copy: the
    Windows names map to their Linux places (`py` is this Python, `.venv\\Scripts` is `.venv/bin`)."""
    cwd = _fresh_copy(tmp_path / "công cụ")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PIPELINE_CONFIG", "PYTHONPATH")}
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    outputs: dict[str, str] = {}
    steps = windows_steps()
    assert steps[:3] == ["py -m venv .venv", r".venv\Scripts\activate", "pip install ."]
    for step in steps:
        words = step.split()
        if words[0] == "cd":
            cwd = (cwd / words[1]).resolve()
            assert cwd.is_dir(), step
            continue
        if step == r".venv\Scripts\activate":
            venv = cwd / ".venv"
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = str(venv / scripts) + os.pathsep + env["PATH"]
            continue
        if words[:2] == ["pipeline", "serve"]:
            outputs[step] = _serve_answers_then_stops(cwd, env)
            continue
        if words[0] == "py":
            words[0] = sys.executable
        else:
            found = shutil.which(words[0], path=env["PATH"])
            assert found, f"{words[0]} is not on the PATH after the steps before it"
            words[0] = found
        done = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=900)
        assert done.returncode == 0, (step, done.stdout[-3000:], done.stderr[-3000:])
        outputs[step] = done.stdout + done.stderr
        if step == "py -m venv .venv":  # the pip of a current Python, which shows what setuptools prints
            pip = [str(cwd / ".venv" / scripts / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"]
            subprocess.run(pip, cwd=cwd, env=env, capture_output=True, check=True, timeout=300)
    # An install prints nothing alarming: the officer's, and the developers' editable one (make).
    editable = [
        str(tmp_path / "công cụ" / ".venv" / scripts / "python"),
        "-m",
        "pip",
        "install",
        "--no-deps",
        "-e",
        ".",
    ]
    done = subprocess.run(editable, cwd=tmp_path / "công cụ", env=env, capture_output=True, text=True, timeout=300)
    for install in (outputs["pip install ."], done.stdout + done.stderr):
        assert "BuildBackendWarning" not in install and "is absent from the" not in install, install
        assert "Deprecat" not in install and "!!" not in install, install
    demo = tmp_path / "công cụ" / "demo"
    assert (demo / "pipeline.toml").is_file()
    run = outputs["pipeline run"]
    for name in ("bao-cao-tong-hop.docx", "bao-cao-tong-hop.html", "bao-cao-tong-hop.xlsx"):
        assert (demo / "outbox" / name).is_file()
        assert name in run
    assert "Lỗi:" not in run and "Lỗi không mong đợi" not in run
    assert (demo / "outbox" / "bieu-mau" / "Mẫu báo cáo sáng kiến v1.0.xlsx").is_file()  # from `pipeline template`
    assert "Tỷ lệ nộp báo cáo" in outputs["pipeline status"]
    assert "Ctrl+C" in outputs["pipeline serve"]


def _serve_answers_then_stops(cwd: Path, env: dict[str, str]) -> str:
    """`pipeline serve` as the officer starts it: it prints the page's address, the page answers
    (the token of the address, then its cookie), and Ctrl+C stops it cleanly."""
    import http.cookiejar
    import signal
    import urllib.request

    found = shutil.which("pipeline", path=env["PATH"])
    assert found
    browser = {**env, "BROWSER": "true"}  # the browser it opens: a command that does nothing
    server = subprocess.Popen(
        [found, "serve"], cwd=cwd, env=browser, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        encoding="utf-8",
    )  # fmt: skip
    lines = []
    try:
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if "http://127.0.0.1:" in line:
                break
        url = next(w for line in lines for w in line.split() if w.startswith("http://127.0.0.1:"))
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with opener.open(url, timeout=60) as answer:
            page = answer.read().decode("utf-8")
        assert answer.status == 200 and "Tình hình nộp" in page and "?t=" not in answer.url
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl+C
        # The rest through the same reader: communicate() would read the pipe under it, and lose
        # what the reader had already taken in.
        rest = server.stdout.read() if server.stdout else ""
        server.wait(timeout=60)
        if server.stdout:
            server.stdout.close()
    assert server.returncode == 0, rest
    return "".join(lines) + rest


def test_the_shipped_folders_do_not_appear_in_results(tmp_path: Path, settings, form, roster) -> None:
    from pipeline import Period, run

    copy = _fresh_copy(tmp_path / "p")
    assert (copy / "inbox" / ".gitkeep").is_file()
    result = run(Period(settings.with_paths(inbox=copy / "inbox", outbox=copy / "outbox"), form, roster))
    assert result.files == [] and not any(s.value == "ignored" for s in result.counts)


_CORPUS_TEST = """
import pytest

@pytest.mark.corpus
def test_needs_the_corpus():
    pass

def test_does_not():
    pass
"""


@pytest.mark.parametrize("ci", [False, True])
def test_corpus_tests_skip_with_their_reason_without_shared_and_fail_ci(tmp_path: Path, ci: bool) -> None:
    """A clone with no ../shared: the corpus tests skip, saying why; with CI=true the run fails."""
    project = tmp_path / "clone"
    (project / "tests").mkdir(parents=True)
    for name in ("conftest.py", "servers.py"):  # the fixtures, and the mail servers they start
        shutil.copy(ROOT / "tests" / name, project / "tests" / name)
    (project / "tests" / "__init__.py").write_text("")
    (project / "tests" / "test_x.py").write_text(_CORPUS_TEST)
    env = {**os.environ, "CI": "true" if ci else ""}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-o", "markers=corpus: x", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    if ci:
        assert done.returncode != 0 and "CI=true" in out and "shared corpus is absent" in out, out
    else:
        assert done.returncode == 0, out
        assert "1 passed, 1 skipped" in out and "the shared corpus is absent" in out, out


def test_ci_fails_at_once_without_the_corpus(tmp_path: Path) -> None:
    project = tmp_path / "clone"
    (project / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", project / ".ci" / "run")
    (project / "Makefile").write_text("test:\n\techo make-ran\n")
    done = subprocess.run(["bash", ".ci/run"], cwd=project, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "corpus" in done.stderr and "make-ran" not in done.stdout


def _as_a_user(folder: Path, tools: dict[str, int], uid: int = 1000) -> dict[str, str]:
    """The environment of a user (not root unless `uid` is 0) whose PATH holds only `tools`, each a
    script that exits with the given code."""
    folder.mkdir()
    for name, code in {"id": 0, **tools}.items():
        (folder / name).write_text(f"#!/bin/sh\n{f'echo {uid}' if name == 'id' else ''}\nexit {code}\n")
        (folder / name).chmod(0o755)
    return {"PATH": str(folder)}


def _system_deps(env: dict[str, str], sbin: Path = Path("/nonexistent")) -> subprocess.CompletedProcess[str]:
    """`make system-deps`, where Dovecot is looked for in `sbin` beside the PATH, not in this
    machine's /usr/sbin."""
    make = shutil.which("make")
    assert make, "make is required by `make test` itself"
    command = [make, "-s", "-C", str(ROOT), "system-deps", f"SBIN={sbin}"]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def test_makes_missing_tools_message_names_every_tool(tmp_path: Path) -> None:
    """As a user who is not root, on a machine without LibreOffice, poppler, Chromium and the font."""
    done = _system_deps(_as_a_user(tmp_path / "bin", {}))
    assert done.returncode != 0
    for tool in (
        "LibreOffice",
        "Gnumeric",
        "poppler",
        "Chromium",
        "Dovecot",
        "Liberation Serif 2",
        "tiếng Việt",
        "apt-get install",
        "chromium",
        "gnumeric",
        "dovecot-imapd",
        "fonts-liberation2",
    ):
        assert tool in done.stdout, done.stdout
    assert "fonts-liberation " not in done.stdout  # the old one, 1.07, has no Vietnamese letters


@pytest.mark.parametrize("font", [False, True])
def test_make_notices_a_machine_with_every_tool_but_the_vietnamese_font(tmp_path: Path, font: bool) -> None:
    """Set up by an earlier Makefile: LibreOffice and the rest, but only the old Liberation Serif,
    which fontconfig does not list for Vietnamese."""
    tools = dict.fromkeys(("soffice", "pdftotext", "chromium", "ssconvert", "dovecot"), 0)
    done = _system_deps(_as_a_user(tmp_path / "bin", {**tools, "fc-list": 0 if font else 1}))
    if font:
        assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    else:
        assert done.returncode != 0 and "Liberation Serif 2" in done.stdout and "fonts-liberation2" in done.stdout


EVERY_TOOL_BUT_DOVECOT = dict.fromkeys(("soffice", "pdftotext", "chromium", "ssconvert", "fc-list"), 0)


def test_make_finds_dovecot_off_the_path_of_a_user(tmp_path: Path) -> None:
    """Debian puts dovecot in /usr/sbin, which is not on the PATH of a user who is not root."""
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    (sbin / "dovecot").write_text("#!/bin/sh\nexit 0\n")
    (sbin / "dovecot").chmod(0o755)
    done = _system_deps(_as_a_user(tmp_path / "bin", EVERY_TOOL_BUT_DOVECOT), sbin)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


@pytest.mark.parametrize("uid", [1000, 0])
def test_make_installs_dovecot_on_a_machine_set_up_before_the_mail_tests(tmp_path: Path, uid: int) -> None:
    """Every tool but Dovecot: a user is told the packages to install; root installs them (here an
    apt-get that prints its arguments)."""
    env = _as_a_user(tmp_path / "bin", EVERY_TOOL_BUT_DOVECOT, uid)
    apt_get = Path(env["PATH"]) / "apt-get"
    apt_get.write_text('#!/bin/sh\necho "apt-get $*"\n')
    apt_get.chmod(0o755)
    done = _system_deps(env)
    if uid:
        assert done.returncode != 0 and "Dovecot" in done.stdout and "dovecot-imapd" in done.stdout, done.stdout
    else:
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[0] == "apt-get update -q"
        assert done.stdout.splitlines()[1].startswith("apt-get install -y -q --no-install-recommends ")
        assert "dovecot-imapd" in done.stdout.splitlines()[1].split()
