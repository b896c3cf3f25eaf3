"""Fixtures: the form, settings, the demo roster, a factory of filled templates, the report's figures of a run, the
mail servers of tests/servers.py, and Debian's Chromium for pytest-playwright."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from pipeline.config import Settings, load_settings
from pipeline.demo import demo_roster_path
from pipeline.figures import Figures, compute
from pipeline.form import Form, load_form
from pipeline.ledger import LEDGER_NAME, Ledger
from pipeline.merge import current_files, dataset
from pipeline.results import RunResult
from pipeline.roster import Roster, load_roster
from pipeline.template import INITIATIVE_HEADER_ROW, UNIT_FIRST_ROW, UNIT_VALUE_COL, write_template
from tests import servers

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "peer"
SPEC = ROOT.parent / "shared" / "spec" / "bieu-mau.md"
TODAY = dt.date(2022, 6, 10)
ABSENT_CORPUS = (
    f"the shared corpus is absent ({CORPUS}): it lies beside the clone in CI, where these tests run; "
    "clone the project beside shared/ to run them here"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `corpus` need `../shared/corpus/peer`. On a clone without it they skip, each
    with the reason; in CI (CI=true) its absence fails the run, so that CI never skips them."""
    if CORPUS.is_dir():
        return
    needing = [item for item in items if item.get_closest_marker("corpus")]
    if not needing:
        return
    if os.environ.get("CI", "").lower() in ("true", "1"):
        raise pytest.UsageError(f"CI=true, and {ABSENT_CORPUS}; {len(needing)} tests need it.")
    for item in needing:
        item.add_marker(pytest.mark.skip(reason=ABSENT_CORPUS))


@pytest.fixture(scope="session")
def form() -> Form:
    return load_form()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The project's pipeline.toml, with the officer's text of the report (bao-cao.md) in a folder of
    the session's own: a run in a test never writes beside the configuration, and never reads the
    officer's text at the repository's root, which someone may be writing."""
    text = tmp_path_factory.mktemp("officer") / "bao-cao.md"
    return load_settings(ROOT / "pipeline.toml").with_paths(report_text=text)


@pytest.fixture(scope="session")
def roster(form: Form) -> Roster:
    return load_roster(demo_roster_path(), form)


# The mail servers of tests/servers.py: one of each per test, on 127.0.0.1, with the session's certificate.


@pytest.fixture(scope="session")
def mail_tls(tmp_path_factory: pytest.TempPathFactory) -> servers.TlsFiles:
    return servers.make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def dovecot_reaper() -> Iterator[servers.Reaper]:
    reaper = servers.Reaper()
    yield reaper
    reaper.finish()


@pytest.fixture
def imap_server(mail_tls: servers.TlsFiles, dovecot_reaper: servers.Reaper) -> Iterator[servers.ImapServer]:
    with servers.dovecot(mail_tls, dovecot_reaper) as server:
        yield server


@pytest.fixture
def smtp_server(mail_tls: servers.TlsFiles) -> Iterator[servers.SmtpServer]:
    with servers.smtp(mail_tls, starttls=False) as server:
        yield server


@pytest.fixture
def smtp_starttls_server(mail_tls: servers.TlsFiles) -> Iterator[servers.SmtpServer]:
    with servers.smtp(mail_tls, starttls=True) as server:
        yield server


# pytest-playwright's browser: Debian's Chromium (Playwright's own browser download cannot reach its
# host here, and `make test` installs the package chromium), headless. The flags: no sandbox (the
# tests run as root in CI), no GPU, /tmp instead of a small /dev/shm, and none of Chromium's own
# connections (updates, sync, first-run pages), which a machine without a network refuses, many at a
# time, at every start.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options, with Debian's Chromium. Without it the browser tests skip,
    each with the reason; in CI (CI=true) they fail, so that CI never skips them."""
    if not CHROMIUM.is_file():
        reason = f"Chromium is required at {CHROMIUM}: `make test` installs it (Debian's package chromium)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true, and {reason}")
        pytest.skip(reason)
    return {"headless": True, **browser_type_launch_args, "executable_path": str(CHROMIUM), "args": list(CHROMIUM_ARGS)}


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL: each test's server has a port of its own. Defined here because pytest-playwright's
    stand-in for pytest-base-url (0.10) is a session fixture on an instance method, which pytest 9
    warns about, and warnings are errors here."""
    return None


def soffice() -> str:
    """The LibreOffice binary; the tests that need it fail (never skip) when it is missing."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    assert path, "LibreOffice (soffice) is required: `make test` installs it"
    return path


def ssconvert() -> str:
    """Gnumeric's converter; the tests that need it fail (never skip) when it is missing."""
    path = shutil.which("ssconvert")
    assert path, "Gnumeric (ssconvert) is required: `make test` installs it"
    return path


GOOD_UNIT: dict[str, Any] = {
    "tong_cnvcld": 36,
    "tong_doan_vien": 33,  # as in the demo roster for VT021
    "tinh_den_ngay": dt.date(2022, 5, 31),
    "so_hoi_nghi": 2,
    "so_tin_bai": 3,
    "so_tap_the_khen": 0,
    "so_ca_nhan_khen": 1,
    "chu_tich": "Lê Văn Tám",
    "nguoi_lap": "Ngô Thị Hoa",
    "dien_thoai": "0912 345 678",
    "email": "vt021@example.vn",
    "ngay_lap": dt.date(2022, 6, 1),
}


def fill_template(
    folder: Path,
    form: Form,
    settings: Settings,
    roster: Roster,
    unit: dict[str, Any] | None = None,
    rows: list[dict[str, Any]] | None = None,
    name: str = "filled.xlsx",
    code: str = "VT021",
) -> Path:
    """Write a personalised template into `folder`, fill it like a union would, apply edits, save;
    return the path.

    `unit` edits the unit record ({key: value}); `rows` is a list of initiatives, each a dict of
    edits over the form's worked example; `name` is the file name.
    """
    template = folder / f"template-{code}.xlsx"
    if not template.exists():
        write_template(template, form, settings, roster.find(code))
    wb = openpyxl.load_workbook(template)
    ws = wb[form.sheets["unit"]]
    known = roster.find(code)
    counts = {"tong_doan_vien": known.members, "tong_cnvcld": known.workers} if known else {}
    values = {**GOOD_UNIT, **counts, **(unit or {})}
    for i, f in enumerate(form.unit):
        if f.key in values:
            ws.cell(UNIT_FIRST_ROW + i, UNIT_VALUE_COL + 1).value = values[f.key]
    ws = wb[form.sheets["initiatives"]]
    for r, edits in enumerate(rows if rows is not None else [{}]):
        record = {**form.example, "stt": r + 1, **edits}
        for c, f in enumerate(form.initiative, start=1):
            value = record.get(f.key)
            cell = ws.cell(INITIATIVE_HEADER_ROW + 1 + r, c)
            cell.value = None if value == "" else value
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text that looks like a formula, as pasted or imported
    path = folder / name
    wb.save(path)
    return path


@pytest.fixture
def filled(tmp_path: Path, form: Form, settings: Settings, roster: Roster) -> Callable[..., Path]:
    """`fill_template` into the test's folder."""

    def make(
        unit: dict[str, Any] | None = None,
        rows: list[dict[str, Any]] | None = None,
        name: str = "filled.xlsx",
        code: str = "VT021",
    ) -> Path:
        return fill_template(tmp_path, form, settings, roster, unit, rows, name, code)

    return make


def figures_of(
    result: RunResult, settings: Settings, form: Form, roster: Roster
) -> tuple[Figures, pd.DataFrame]:  # fmt: skip
    """What the report stage will do: the dataset of the run's current files, then the figures."""
    with Ledger(settings.paths.history_dir / LEDGER_NAME) as ledger:
        rows = ledger.rows([f.sha256 for f in current_files(result.units)])
        stored = ledger.files()
    frame = dataset(result.units, rows, form, settings)
    findings = {r.sha256: r.findings for r in result.files if r.sha256}
    return compute(result.units, frame, roster, settings, form, sources=stored, findings=findings), frame
