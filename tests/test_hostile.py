"""The bad-input suite: every kind of hostile or broken file of `tests/hostile.py`, each from its own
union, in one inbox with good files, through a whole run (reports and feedback included).

The run must finish; every file gets exactly one result, the one its kind expects, with a reason in
Vietnamese; the good files are all counted; and nothing the run writes is dangerous to open: no
formula, macro or external link in a workbook, no formula-like text in a CSV, no markup in the
HTML, no file name that leaves the outbox or that Windows refuses, no half-written file.
"""

from __future__ import annotations

import csv
import html.parser
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import Period, run
from pipeline.config import Settings
from pipeline.findings import Severity
from pipeline.form import Form
from pipeline.results import FileResult, RunResult, Status
from pipeline.roster import Roster
from tests.conftest import fill_template
from tests.hostile import KINDS, Kind

# The hostile files are made and run once for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile")]

GOOD = 3
_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)
_VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)


@dataclass
class HostileRun:
    result: RunResult
    kinds: dict[str, Kind]  # file name -> its kind
    good: list[str]  # file names
    settings: Settings
    base: Path

    def of(self, name: str) -> FileResult:
        [found] = [r for r in self.result.files if r.name == name]
        return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, form: Form, settings: Settings, roster: Roster) -> HostileRun:
    base = tmp_path_factory.mktemp("hostile")
    sources, inbox = base / "sources", base / "inbox"
    sources.mkdir()
    inbox.mkdir()
    codes = [u.code for u in roster.units]
    assert len(codes) >= len(KINDS) + GOOD
    kinds: dict[str, Kind] = {}
    for i, kind in enumerate(KINDS):
        source = fill_template(sources, form, settings, roster, name=f"{codes[i]}.xlsx", code=codes[i])
        written = kind.build(source, inbox / f"{i:02d} {kind.name}.xlsx")
        assert written.parent == inbox and written.name not in kinds, kind.name
        kinds[written.name] = kind
    good = []
    for code in codes[len(KINDS) : len(KINDS) + GOOD]:
        rows = [{"ten_sang_kien": f"Cải tiến quy trình số {n} của {code}"} for n in range(1, 4)]
        good.append(fill_template(inbox, form, settings, roster, rows=rows, name=f"Tốt {code}.xlsx", code=code).name)
    for template in inbox.glob("template-*.xlsx"):
        template.unlink()
    s = settings.with_paths(inbox=inbox, outbox=base / "outbox")
    return HostileRun(run(Period(s, form, roster)), kinds, good, s, base)


def test_the_suite_has_over_forty_kinds() -> None:
    assert len(KINDS) >= 40
    assert len({k.name for k in KINDS}) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_file_gets_what_its_kind_expects(hostile: HostileRun, kind: Kind) -> None:
    [name] = [n for n, k in hostile.kinds.items() if k is kind]
    got = hostile.of(name)
    codes = {f.code for f in got.findings}
    assert got.status in kind.statuses, (name, got.status, [f.message for f in got.findings], got.reason)
    if kind.codes:
        assert codes & kind.codes, (name, codes)
    if got.status is Status.REJECTED:
        errors = [f for f in got.findings if f.severity is Severity.ERROR]
        assert errors and all(_VIETNAMESE.search(f.message) for f in errors), name
        assert got.message is not None and got.message.is_file(), "the union gets a message"
        assert name in got.message.read_text(encoding="utf-8-sig"), "the message names the file"
    if got.status is Status.IGNORED:
        assert got.reason and _VIETNAMESE.search(got.reason)


def test_no_file_is_lost_and_the_good_ones_are_counted(hostile: HostileRun) -> None:
    inbox = hostile.settings.paths.inbox
    names = sorted(p.name for p in inbox.iterdir())
    assert sorted(r.name for r in hostile.result.files) == names, "one result per file, no more, no less"
    assert Counter(r.name for r in hostile.result.files).most_common(1)[0][1] == 1
    for name in hostile.good:
        got = hostile.of(name)
        assert got.status is Status.ACCEPTED, (name, [f.message for f in got.findings])
        assert got.initiatives == 3
    accepted = [r for r in hostile.result.files if r.status in (Status.ACCEPTED, Status.ACCEPTED_WITH_WARNINGS)]
    assert hostile.result.totals["initiatives"] == sum(r.initiatives for r in accepted)
    # Every file read is kept, byte for byte, in the archive.
    for r in hostile.result.files:
        if r.status is not Status.IGNORED:
            assert r.path is not None and r.path.is_file(), r.name
            assert r.path.read_bytes() == (inbox / r.name).read_bytes(), r.name


def _outputs(hostile: HostileRun, suffix: str) -> list[Path]:
    return sorted(p for p in (hostile.base / "outbox").rglob(f"*{suffix}") if "luu-tru" not in p.parts)


def test_no_workbook_written_holds_a_formula_macro_or_link(hostile: HostileRun) -> None:
    workbooks = _outputs(hostile, ".xlsx")
    copies = {r.feedback for r in hostile.result.files if r.feedback is not None}
    assert len(copies) > 15 and copies <= set(workbooks), "the feedback copies are among them"
    assert any(p.name == "bao-cao-tong-hop.xlsx" for p in workbooks)
    assert not _outputs(hostile, ".xlsm"), "feedback copies are plain .xlsx"
    macro = hostile.of(next(n for n, k in hostile.kinds.items() if k.name == "macro-and-mistake"))
    assert macro.feedback is not None and macro.feedback.suffix == ".xlsx"
    for path in workbooks:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            assert not [n for n in names if "vbaproject" in n.lower() or "externallink" in n.lower()], path
            for name in names:
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):  # (a chart's <c:f> is a range)
                    xml = zf.read(name).decode("utf-8")
                    assert not re.search(r"<(\w+:)?f[ >/]", xml), (path.name, name)


def test_no_csv_cell_starts_like_a_formula(hostile: HostileRun) -> None:
    files = _outputs(hostile, ".csv")
    assert files
    for path in files:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                for value in row:
                    assert not value or value[0] not in "=+-@\t\r" or _is_number(value), (path.name, value)


def _is_number(value: str) -> bool:
    return re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_the_html_report_holds_no_markup_from_the_files(hostile: HostileRun) -> None:
    [page] = _outputs(hostile, ".html")
    text = page.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    assert "script" not in {tag for tag, _ in parser.tags}
    for tag, attrs in parser.tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), (tag, attr)
            if attr in ("href", "src") and value:
                assert value.startswith(("#", "http://", "https://", "mailto:", "data:image/")), (tag, value)
    assert "&lt;script&gt;" in text, "the payload is shown, as text"


def test_the_docx_report_is_well_formed_with_the_text_escaped(hostile: HostileRun) -> None:
    from xml.etree import ElementTree

    [document] = _outputs(hostile, ".docx")
    with zipfile.ZipFile(document) as zf:
        for name in zf.namelist():
            if name.endswith(".xml"):
                ElementTree.fromstring(zf.read(name))  # raises on a stray "<" from the data
        body = zf.read("word/document.xml").decode("utf-8")
    assert "instrText" not in body or "DDE" not in body


def test_every_name_written_stays_in_the_outbox_and_suits_windows(hostile: HostileRun) -> None:
    outbox = (hostile.base / "outbox").resolve()
    top = {p.name for p in hostile.base.iterdir()}
    assert top == {"sources", "inbox", "outbox"}, "nothing written beside the outbox"
    written = [p for p in outbox.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert path.resolve().is_relative_to(outbox)
        name = path.name
        assert not name.startswith(".tmp"), f"a half-written file: {name}"
        if "luu-tru" in path.parts:  # the archive keeps each file under its hash
            continue
        assert not set('<>:"/\\|?*') & set(name) and not any(ord(c) < 32 for c in name), name
        assert not name.endswith((".", " ")) and not _WINDOWS_RESERVED.match(name), name
        assert unicodedata.is_normalized("NFC", name), name
        assert len(name.encode("utf-8")) <= 255 and len(name) <= 200, name
