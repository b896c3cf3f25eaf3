"""Every file of the shared corpus of other programs' spreadsheets, in one `read_books` batch.

About 1,050 files written by Excel, LibreOffice, WPS, Google Sheets, old Excel versions and fuzzers,
some hostile on purpose (`../shared/corpus/README.md`). The batch must finish with one result per
file and no crash or hang of the run; each result is either the reader's normal output (findings
such as a missing sheet are expected: these are not our template) or one refusal with its
Vietnamese reason. The cases named in `../shared/spec/bad-inputs.md` end in the outcome it asks for.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.findings import Code, Severity, template
from pipeline.form import Form
from pipeline.intake import Submission, fingerprint
from pipeline.isolate import read_books
from pipeline.read import WorkbookData
from tests.conftest import CORPUS

REFUSALS = {
    Code.EMPTY_FILE,
    Code.PASSWORD_PROTECTED,
    Code.TOO_LARGE,
    Code.GRID_TOO_LARGE,
    Code.FORBIDDEN_XML,
    Code.CORRUPT_FILE,
    Code.UNSUPPORTED_FORMAT,
    Code.READER_CRASH,
    Code.READER_TIMEOUT,
    Code.NOT_SPREADSHEET,
}
# Every corpus file is read once for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.corpus, pytest.mark.slow, pytest.mark.xdist_group("corpus")]

READ = "read"  # the outcome of a file the reader read (whatever it found in it)
TIMEOUT_S = 30

# bad-inputs.md: catalogue number -> files -> the outcomes allowed
CATALOGUE: dict[str, tuple[tuple[str, ...], set[Code | str]]] = {
    "1 empty": (("python-calamine/empty_file.xlsx", "openpyxl__zuarbase-mirror/null_file.xlsx"), {Code.EMPTY_FILE}),
    "2 not a spreadsheet": (("calamine/too_small.xls",), {Code.UNSUPPORTED_FORMAT, Code.NOT_SPREADSHEET}),
    "3 entity bomb": (("poi/poc-xmlbomb.xlsx", "poi/54764.xlsx", "poi/54764-2.xlsx"), {Code.FORBIDDEN_XML}),
    "4 hidden DOCTYPE": (
        (
            "PhpSpreadsheet/utf7white.dontuse",
            "PhpSpreadsheet/utf16entity.dontuse",
            "PhpSpreadsheet/ebcdic.dontuse",
            "PhpSpreadsheet/utf8and16.entity.dontuse",
        ),
        {Code.FORBIDDEN_XML},
    ),
    "4 schema XXE, no reader fetches it": (("poi/xxe_in_schema.xlsx",), {READ, Code.FORBIDDEN_XML}),
    "8 row beyond the grid": (("PhpSpreadsheet/2x6m.dontuse",), {Code.GRID_TOO_LARGE}),
    "11 ODS repeat bomb": (("calamine/issue_594_dos.ods",), {Code.GRID_TOO_LARGE}),
    "12 looping or corrupt container": (
        ("PhpSpreadsheet/oleloop.xls", "calamine/OOM_alloc3.xls"),
        {Code.CORRUPT_FILE, Code.READER_CRASH},
    ),
    "12 odd directory calamine copes with": (
        ("sheetjs-test_files/phpexcel_bad_cfb_dir.xls",),
        {READ, Code.CORRUPT_FILE, Code.READER_CRASH},
    ),
    "13 Rust panic": (("poi/clusterfuzz-testcase-minimized-POIHSSFFuzzer-5816431116615680.xls",), {Code.READER_CRASH}),
    "14 broken package": (
        ("poi/invalid.xlsx", "openpyxl__theorchard-mirror/null_archive.xlsx", "exceljs/missing-bits.xlsx"),
        {Code.CORRUPT_FILE},
    ),
    # calamine refuses it, and so does the second reader: its package root (_rels/.rels) is not XML.
    "14 broken XML": (("poi/xlsx-corrupted.xlsx",), {Code.CORRUPT_FILE}),
    "15 encrypted OOXML": (
        (
            "excelize/encryptAES.xlsx",
            "poi/protect.xlsx",
            "poi/protected_sha512.xlsx",
            "calamine/pass_protected.xlsx",
            "poi/crash-9bf3cd4bd6f50a8a9339d363c2c7af14b536865c.xlsx",  # also #18: an OLE file named .xlsx
        ),
        {Code.PASSWORD_PROTECTED},
    ),
    "16 encrypted xls": (
        ("poi/password.xls", "poi/xor-encryption-abc.xls", "sheetjs-test_files/password_2002_40_xor.xls"),
        {Code.PASSWORD_PROTECTED},
    ),
    "17 protection is not encryption": (
        ("poi/workbookProtection_workbook_structure_protected.xlsx", "poi/sheetProtection_allLocked.xlsx"),
        {READ},
    ),
    "18 renamed, read by content": (
        ("PhpSpreadsheet/sec-j47r.dontuse", "PhpSpreadsheet/sec-p66w.dontuse", "PhpSpreadsheet/sec-q229.dontuse"),
        {READ},
    ),
    "19 Excel 4 and before": (
        ("poi/testEXCEL_3.xls", "sheetjs-test_files/CRLFX5_2.XLS", "xlrd/biff4_no_format_no_window2.xls"),
        {Code.UNSUPPORTED_FORMAT},
    ),
    "19 Excel 95 in OLE": (("poi/testEXCEL_95.xls",), {READ}),
    "20 xlsb": (("calamine/any_sheets.xlsb",), {Code.UNSUPPORTED_FORMAT}),
    "20 ods": (("calamine/any_sheets.ods",), {READ}),
    "21 strict OOXML": (("poi/SimpleStrict.xlsx", "calamine/strict_iso_paths.xlsx"), {READ}),
    "39 duplicate part names": (
        ("poi/duplicate-filename.xlsx", "poi/duplicate-filename-case-insensitive.xlsx"),
        {Code.CORRUPT_FILE},
    ),
}


# Valid files that python-calamine cannot parse: each was refused as corrupt until the second reader
# (pipeline/fallback.py) read it, with a notice saying so. file -> what stops calamine.
SECOND_READER = {
    "PhpSpreadsheet/RepeatedDataCells.ods": "content.xml indented: whitespace between cells",
    "PhpSpreadsheet/issue.4435b.ods": "content.xml indented: whitespace between cells",
    "PhpSpreadsheet/issue.804.ods": "content.xml indented: whitespace between cells",
    "PhpSpreadsheet/maccentraleurope.biff5.xls": "code page 10029 (Mac Central Europe)",
    "sheetjs-test_files/write_57.xls": "code page 32769",
    "PhpSpreadsheet/utf16be.xlsx": "XML parts in UTF-16 (bad-inputs #39)",
    "PhpSpreadsheet/utf16be.bom.xlsx": "XML parts in UTF-16 (bad-inputs #39)",
    "PhpSpreadsheet/utf8and16.dontuse": "XML parts in UTF-16 (bad-inputs #39)",
    "poi/xlmmacro.xlsm": "an Excel 4 macro sheet",
    "sheetjs-test_files/BlankSheetTypes.xlsm": "an Excel 4 macro sheet (bad-inputs #22)",
    "openpyxl__zuarbase-mirror/nonstandard_workbook_name.xlsx": "the workbook part at another name",
}


def outcome(book: WorkbookData) -> Code | str:
    """The refusal code of a result, or READ."""
    codes = [f.code for f in book.findings if f.code in REFUSALS]
    return codes[0] if codes else READ


@pytest.fixture(scope="module")
def corpus(form: Form) -> list[tuple[Submission, WorkbookData]]:
    paths = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in ("MANIFEST.tsv", "SOURCES.md"))
    subs = [fingerprint(p, p.relative_to(CORPUS).as_posix()) for p in paths]
    started = time.monotonic()
    books = read_books(subs, form, timeout_s=TIMEOUT_S)
    elapsed = time.monotonic() - started
    counts = Counter(str(outcome(b)) for b in books)
    print(f"\ncorpus: {len(subs)} files in {elapsed:.1f} s; " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    return list(zip(subs, books, strict=True))


def test_every_file_has_one_result_in_order(corpus: list[tuple[Submission, WorkbookData]]) -> None:
    assert len(corpus) > 1000
    assert all(book.file == sub.name for sub, book in corpus)


def test_every_result_is_a_reading_or_one_refusal_with_a_reason(corpus: list[tuple[Submission, WorkbookData]]) -> None:
    for sub, book in corpus:
        refusals = [f for f in book.findings if f.code in REFUSALS]
        if not refusals:
            continue
        assert len(book.findings) == 1, sub.name
        finding = refusals[0]
        assert finding.severity is Severity.ERROR and finding.location.file == sub.name
        params = dict(finding.params)
        reason = str(params.get("reason") or params.get("kind") or "")
        assert reason.strip() and not reason.isascii(), (sub.name, reason)  # Vietnamese words
        if "{reason}" in template(finding.code) or "{kind}" in template(finding.code):
            assert reason in finding.message, sub.name


def test_no_file_hangs_the_reader(corpus: list[tuple[Submission, WorkbookData]]) -> None:
    assert [sub.name for sub, book in corpus if outcome(book) is Code.READER_TIMEOUT] == []


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_catalogue_cases_end_as_specified(corpus: list[tuple[Submission, WorkbookData]], case: str) -> None:
    names, allowed = CATALOGUE[case]
    by_name = {sub.name: book for sub, book in corpus}
    for name in names:
        assert name in by_name, f"corpus file missing: {name}"
        assert outcome(by_name[name]) in allowed, (name, by_name[name].findings)


def test_valid_files_calamine_cannot_parse_are_read_by_the_second_reader(
    corpus: list[tuple[Submission, WorkbookData]],
) -> None:
    by_name = {sub.name: book for sub, book in corpus}
    for name, why in SECOND_READER.items():
        book = by_name[name]
        assert outcome(book) == READ, (name, why, book.findings)
        assert [f.severity for f in book.findings if f.code is Code.FALLBACK_READER] == [Severity.NOTICE], (name, why)
    # Every other file that needed it is listed above: a new one is a change to look at.
    needed = {sub.name for sub, book in corpus if any(f.code is Code.FALLBACK_READER for f in book.findings)}
    assert needed == set(SECOND_READER)


def test_renamed_workbooks_are_recognised_by_their_bytes(corpus: list[tuple[Submission, WorkbookData]]) -> None:
    kinds = {sub.name: sub.kind for sub, _ in corpus}
    assert kinds["PhpSpreadsheet/sec-j47r.dontuse"] == "xlsx"
    assert kinds["poi/crash-9bf3cd4bd6f50a8a9339d363c2c7af14b536865c.xlsx"] != "xlsx"


def test_most_real_workbooks_are_read(corpus: list[tuple[Submission, WorkbookData]]) -> None:
    # A guard that refused too much would pass every test above: most xlsx/xls/ods files are ordinary.
    spreadsheets = [(sub, book) for sub, book in corpus if sub.kind in ("xlsx", "xlsm", "xls", "ods")]
    read = [sub for sub, book in spreadsheets if outcome(book) == READ]
    assert len(read) >= 0.9 * len(spreadsheets), Counter(str(outcome(b)) for _, b in spreadsheets)


def test_pipeline_check_over_the_whole_corpus_exits_0_with_json(capsys) -> None:
    """The officer's command over every corpus file: no crash, no hang, a finding or a clean read each."""
    from pipeline.cli import main

    files = [str(p) for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name not in ("MANIFEST.tsv", "SOURCES.md")]
    config = str(Path(__file__).resolve().parents[1] / "pipeline.toml")
    assert main(["check", "--config", config, "--json", *files]) == 0
    captured = capsys.readouterr()
    findings = json.loads(captured.out)
    assert captured.err == ""
    assert {f["file"] for f in findings} <= set(files)
    assert all(f["message"] and f["rule"] and f["severity"] in ("error", "warning", "notice") for f in findings)
