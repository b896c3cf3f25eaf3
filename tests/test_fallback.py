"""The second reader (`pipeline.fallback`): what reads a file that passed the guard when
python-calamine cannot, before the file is called corrupt.

Its grids are calamine's (an .ods indented by its writer reads like the same .ods written compact,
read by calamine); it expands no empty repeat and refuses a filled area over the guard's limit
before building it; a file both readers fail on is `corrupt-file` with a reason in words; and a
file the guard refuses never reaches it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from python_calamine import CalamineError

from pipeline import fallback
from pipeline.fallback import GridTooLarge, Unreadable, read_either
from pipeline.findings import Code, Severity
from pipeline.form import Form
from pipeline.guard import Limits, inspect
from pipeline.intake import fingerprint
from pipeline.isolate import examine, read_books
from pipeline.read import read_workbook
from pipeline.sheets import CellError, read_grids
from tests.conftest import CORPUS
from tests.hostile import package, rezip, sheet_part, sheet_xml

_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)
_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
)


def content_xml(tables: dict[str, list[list[str]]], indent: bool) -> str:
    """An ODS content.xml: each table's rows of cell elements, indented as Gnumeric writes it
    (whitespace between the cells) or compact as LibreOffice does."""
    nl = (lambda depth: "\n" + "  " * depth) if indent else (lambda _depth: "")
    body = ""
    for name, rows in tables.items():
        body += f'{nl(3)}<table:table table:name="{name}">'
        for cells in rows:
            body += f"{nl(4)}<table:table-row>" + "".join(nl(5) + c for c in cells) + f"{nl(4)}</table:table-row>"
        body += f"{nl(3)}</table:table>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {_NS} office:version="1.2">'
        f"{nl(1)}<office:body>{nl(2)}<office:spreadsheet>{body}{nl(2)}</office:spreadsheet>{nl(1)}</office:body>"
        "\n</office:document-content>\n"
    )


def ods(path: Path, content: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", _MANIFEST, zipfile.ZIP_DEFLATED)
    return path


def cell(kind: str = "", value: str = "", text: str = "", extra: str = "") -> str:
    attrs = (f' office:value-type="{kind}"' if kind else "") + (f" {value}" if value else "") + extra
    return f"<table:table-cell{attrs}>{text}</table:table-cell>" if text else f"<table:table-cell{attrs}/>"


# Every kind of value a cell holds, and the markup around text; one table has rows of its own.
TYPES = {
    "Loại": [
        [
            cell("string", text="<text:p>Sáng kiến</text:p>"),
            cell("float", 'office:value="1500000"', "<text:p>1.500.000</text:p>"),
            cell("percentage", 'office:value="0.25"', "<text:p>25%</text:p>"),
            cell("currency", 'office:value="2.5"', "<text:p>2,50 ₫</text:p>"),
            cell("date", 'office:date-value="2022-04-02"', "<text:p>02/04/2022</text:p>"),
            cell("date", 'office:date-value="2022-04-02T10:15:00"', "<text:p>02/04/2022 10:15</text:p>"),
            cell("time", 'office:time-value="PT10H30M00S"', "<text:p>10:30</text:p>"),
            cell("boolean", 'office:boolean-value="true"', "<text:p>TRUE</text:p>"),
        ],
        [
            cell(
                "string", text='<text:p>Hai<text:s text:c="3"/>khoảng<text:s/>trắng</text:p><text:p>dòng hai</text:p>'
            ),
            cell("string", text="<text:p>Chữ <text:span>đậm</text:span> và <text:a>liên kết</text:a></text:p>"),
            cell(
                "string",
                text="<office:annotation><text:p>ghi chú</text:p></office:annotation><text:p>có ghi chú</text:p>",
            ),
            cell("string", 'office:string-value="giá trị riêng"', "<text:p>hiển thị</text:p>"),
            cell(extra=' table:number-columns-repeated="2"'),
            cell("float", 'office:value="7"', "<text:p>7</text:p>", ' table:number-columns-repeated="3"'),
            cell("string", text="<text:p/>"),
        ],
        [cell(extra=' table:number-columns-repeated="16384"')],
        [cell("float", 'office:value="-1.5E3"', "<text:p>-1500</text:p>"), cell(extra=' table:formula="of:=1/0"')],
    ],
    "Trống": [[cell(extra=' table:number-columns-repeated="16384"')]],
}


@contextlib.contextmanager
def _peak_memory() -> Iterator[Callable[[], int]]:
    """The most memory Python held at once in the block, beyond what it held before (tracemalloc):
    what a reader builds, counted in bytes, the same on a fast machine as on a busy one."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    peak = 0
    try:
        yield lambda: peak
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()


def test_an_indented_ods_reads_as_the_compact_one_reads_in_calamine(tmp_path: Path) -> None:
    compact = ods(tmp_path / "compact.ods", content_xml(TYPES, indent=False))
    indented = ods(tmp_path / "indented.ods", content_xml(TYPES, indent=True))
    expected = read_grids(compact)  # calamine, which reads the compact one
    got = read_either(indented)
    assert got.reader == fallback.READERS["ods"]
    assert got.sheets == expected
    assert [[type(v) for v in row] for row in got.sheets["Loại"]] == [
        [type(v) for v in row] for row in expected["Loại"]
    ]
    first, second = got.sheets["Loại"][:2]
    assert first == ["Sáng kiến", 1500000.0, 0.25, 2.5, dt.date(2022, 4, 2), dt.datetime(2022, 4, 2, 10, 15),
                     dt.time(10, 30), True, None, None]  # fmt: skip
    # The last cell is an empty text: no value, but the sheet's area reaches it, as in calamine.
    assert second == ["Hai   khoảng trắng\ndòng hai", "Chữ đậm và liên kết", "có ghi chú", "giá trị riêng",
                      None, None, 7.0, 7.0, 7.0, None]  # fmt: skip


def test_rows_and_columns_repeated_empty_cost_nothing(tmp_path: Path) -> None:
    """LibreOffice writes the rest of a sheet as one empty row repeated a million times."""
    rows = [
        [cell("string", text="<text:p>A1</text:p>"), cell(extra=' table:number-columns-repeated="16383"')],
        *[[cell(extra=' table:number-columns-repeated="16384"')]] * 3,
    ]
    first, end, rest = content_xml({"S": rows}, indent=True).partition("</table:table-row>")
    rest = rest.replace("<table:table-row>", '<table:table-row table:number-rows-repeated="1048575">')
    path = ods(tmp_path / "rest.ods", first + end + rest)
    with _peak_memory() as peak:
        got = read_either(path)
    assert got.sheets == {"S": [["A1"]]}
    # Counted, not stored: a million empty rows as lists would take 50 MB, 16,383 empty cells 128 KB.
    assert peak() < 2 << 20, f"{peak() >> 10} KB"


def test_a_filled_repeat_past_the_limit_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """A filled cell repeated across the whole grid (17 billion cells): refused without building a row."""
    rows = [[cell("string", text="<text:p>x</text:p>", extra=' table:number-columns-repeated="16384"')]]
    content = content_xml({"S": rows}, indent=True).replace(
        "<table:table-row>", '<table:table-row table:number-rows-repeated="1048576">'
    )
    path = ods(tmp_path / "bomb.ods", content)
    with pytest.raises(Unreadable) as caught:
        read_either(path, max_cells=2_000_000)
    assert isinstance(caught.value.second, GridTooLarge) and caught.value.code is Code.GRID_TOO_LARGE
    assert "2.000.000 ô" in caught.value.reason
    # Refused before a row is copied: 300 copies of the 16,384-cell row would take 40 MB.
    few = content.replace("1048576", "300")
    with _peak_memory() as peak, pytest.raises(Unreadable):
        read_either(ods(tmp_path / "few.ods", few), max_cells=2_000_000)
    assert peak() < 2 << 20, f"{peak() >> 10} KB"
    # Within the limit, the same repeat is read, every row.
    small = content.replace("1048576", "100").replace("16384", "30")
    assert read_either(ods(tmp_path / "small.ods", small)).sheets == {"S": [["x"] * 30] * 100}


def test_the_second_reader_refuses_a_doctype_even_unguarded(tmp_path: Path) -> None:
    content = content_xml(TYPES, indent=True).replace(
        "<office:document-content", '<!DOCTYPE x [<!ENTITY a "b">]><office:document-content', 1
    )
    with pytest.raises(Unreadable) as caught:
        read_either(ods(tmp_path / "dtd.ods", content))
    assert caught.value.code is Code.FORBIDDEN_XML


def _file_error(book) -> tuple[Code, str]:  # type: ignore[no-untyped-def]
    [error] = [f for f in book.findings if f.severity is Severity.ERROR]
    assert error.location.row is None
    return error.code, error.message


_READER_WORDS = re.compile(r"BytesText|Expecting|Error|Cannot detect|Traceback|\bat line\b")


def test_both_readers_failing_is_corrupt_with_words_a_clerk_can_act_on(tmp_path: Path, form: Form) -> None:
    broken = content_xml(TYPES, indent=True).replace("</table:table-row>", "</table:row>", 1)
    code, message = _file_error(read_workbook(ods(tmp_path / "hong.ods", broken), form))
    assert code is Code.CORRUPT_FILE
    assert re.search(r"sai cấu trúc XML ở dòng \d+, cột \d+; đã thử hai trình đọc", message), message
    assert not _READER_WORDS.search(message), message

    # (in a sheet the reader wants: the others' values are not looked at)
    in_form = {form.sheets["initiatives"]: TYPES["Loại"]}
    bad_number = content_xml(in_form, indent=True).replace('office:value="7"', 'office:value="bảy"')
    code, message = _file_error(read_workbook(ods(tmp_path / "so.ods", bad_number), form))
    assert code is Code.CORRUPT_FILE
    assert 'ô G2 của trang "Sáng kiến" ghi giá trị "bảy" không đúng kiểu của ô' in message, message

    no_content = tmp_path / "rong.ods"
    with zipfile.ZipFile(no_content, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", _MANIFEST)
    code, message = _file_error(read_workbook(no_content, form))
    assert code is Code.CORRUPT_FILE and 'tệp thiếu phần "content.xml" bên trong' in message, message


def test_an_xlsx_both_readers_fail_on(tmp_path: Path, form: Form, filled: Callable[..., Path]) -> None:
    source = filled()
    part = sheet_part(source, form.sheets["initiatives"])
    broken = rezip(
        source, tmp_path / "hong.xlsx", lambda n, d: d.replace(b"</sheetData>", b"</sheetDat>") if n == part else d
    )
    code, message = _file_error(read_workbook(broken, form))
    assert code is Code.CORRUPT_FILE and "đã thử hai trình đọc" in message and not _READER_WORDS.search(message)


@pytest.mark.corpus
def test_the_package_and_strict_checks_keep_openpyxl_from_reading_too_much(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """openpyxl would read a Strict workbook as empty sheets, and ignores a broken package root."""
    monkeypatch.setattr("pipeline.fallback.read_grids", _calamine_fails)
    with pytest.raises(Unreadable) as caught:
        read_either(CORPUS / "poi/SimpleStrict.xlsx")
    assert caught.value.code is Code.UNSUPPORTED_FORMAT and "Strict" in caught.value.reason
    with pytest.raises(Unreadable) as caught:
        read_either(CORPUS / "poi/xlsx-corrupted.xlsx")  # _rels/.rels is "CORRUPTED"
    assert caught.value.code is Code.CORRUPT_FILE and "dòng 2" in caught.value.reason
    no_root = package(tmp_path / "khong-goc.xlsx", sheet_xml(""), {"_rels/.rels": "<Relationships/>"})
    with pytest.raises(Unreadable) as caught:
        read_either(no_root)
    assert 'thiếu phần "_rels/.rels"' in caught.value.reason


def test_a_package_with_a_sheet_missing_or_parts_swapped_stays_broken(
    tmp_path: Path, form: Form, filled: Callable[..., Path]
) -> None:
    """What the fuzzer found openpyxl reading where calamine would not: a listed sheet without its
    part (openpyxl skips it), a sheet's part holding the styles and the reverse."""
    source = filled()
    part = sheet_part(source, form.sheets["initiatives"])
    dropped = rezip(source, tmp_path / "thieu.xlsx", lambda n, d: None if n == part else d)
    code, message = _file_error(read_workbook(dropped, form))
    assert code is Code.CORRUPT_FILE and f'tệp thiếu phần "{part}" bên trong' in message, message

    with zipfile.ZipFile(source) as zf:
        styles, sheet = zf.read("xl/styles.xml"), zf.read(part)
    swapped = rezip(
        source, tmp_path / "doi.xlsx", lambda n, d: sheet if n == "xl/styles.xml" else styles if n == part else d
    )
    code, message = _file_error(read_workbook(swapped, form))
    assert code is Code.CORRUPT_FILE and f'phần "{part}" bên trong tệp không chứa đúng nội dung' in message, message


@pytest.mark.corpus
def test_cells_the_file_does_not_hold_are_marked_whoever_read(
    monkeypatch: pytest.MonkeyPatch, filled: Callable[..., Path], form: Form
) -> None:
    """Error values and formulas without results are found in the package, not by the reader."""
    monkeypatch.setattr("pipeline.fallback.read_grids", _calamine_fails)
    grid = read_either(CORPUS / "calamine/errors.xlsx", unknown_cells=True).sheets["Feuil1"]
    expected = ["#DIV/0!", "#NAME?", "#VALUE!", "#NULL!", "#REF!", "#NUM!", "#N/A"]
    assert [row[0] for row in grid] == expected and all(isinstance(row[0], CellError) for row in grid)


# --- when the second reader runs ---------------------------------------------------------------------


def _calamine_fails(*_args: object, **_kwargs: object) -> None:
    raise CalamineError("calamine stand-in")


class PanicException(BaseException):  # pyo3's: the reader knows a Rust panic by this name
    pass


class PasswordError(Exception):
    pass


def test_a_calamine_panic_gets_the_second_reader(
    monkeypatch: pytest.MonkeyPatch, filled: Callable[..., Path], form: Form
) -> None:
    def panic(*_args: object, **_kwargs: object) -> None:
        raise PanicException("index out of range")

    monkeypatch.setattr("pipeline.fallback.read_grids", panic)
    book = read_workbook(filled(), form)
    assert book.readable and book.count == 1
    assert [f.code for f in book.findings] == [Code.FALLBACK_READER]
    # When the second reader fails too, the panic is the caller's: a reader crash, as before.
    monkeypatch.setattr("pipeline.fallback._READ", {})
    with pytest.raises(PanicException):
        read_workbook(filled(name="b.xlsx"), form)


def test_an_encrypted_file_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, filled: Callable[..., Path], form: Form
) -> None:
    calls: list[Path] = []

    def password(*_args: object, **_kwargs: object) -> None:
        raise PasswordError("password")

    monkeypatch.setattr("pipeline.fallback.read_grids", password)
    monkeypatch.setattr("pipeline.fallback._READ", {"xlsx": lambda path, *_: calls.append(path) or {}})
    code, _ = _file_error(read_workbook(filled(), form))
    assert code is Code.PASSWORD_PROTECTED and calls == []


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each reader was called in this process (calamine, and each second reader)."""
    calls = {"calamine": 0, "second": 0}
    real_calamine, real_second = fallback.read_grids, dict(fallback._READ)

    def calamine(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["calamine"] += 1
        return real_calamine(*args, **kwargs)

    def second(kind: str):  # type: ignore[no-untyped-def]
        def read(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["second"] += 1
            return real_second[kind](*args, **kwargs)

        return read

    monkeypatch.setattr("pipeline.fallback.read_grids", calamine)
    monkeypatch.setattr("pipeline.fallback._READ", {kind: second(kind) for kind in real_second})
    return calls


def _guarded(path: Path, form: Form, limits: Limits = Limits()):  # type: ignore[no-untyped-def]  # noqa: B008
    """What a worker does with the file (guard, then the readers), here, where the counts reach."""
    return examine(fingerprint(path, path.name), form, limits)


def test_a_file_the_guard_refuses_reaches_neither_reader(tmp_path: Path, form: Form, counted: dict[str, int]) -> None:
    """The second reader would read this indented .ods; with a cell limit the guard refuses it, and
    neither reader ever sees it."""
    path = ods(tmp_path / "gnumeric.ods", content_xml(TYPES, indent=True))
    book = _guarded(path, form, Limits(max_cells=10))
    assert [f.code for f in book.findings] == [Code.GRID_TOO_LARGE]
    assert counted == {"calamine": 0, "second": 0}
    # Unguarded, the same file is read by the second reader: the guard, not the readers, stopped it.
    assert next(f.code for f in read_workbook(path, form).findings) is Code.FALLBACK_READER
    assert counted == {"calamine": 1, "second": 1}
    # Guarded with the usual limits, it passes and the second reader reads it.
    assert next(f.code for f in _guarded(path, form).findings) is Code.FALLBACK_READER
    assert counted == {"calamine": 2, "second": 2}


HOSTILE_ODS = {
    "repeat bomb": lambda c: (
        c.replace("<table:table-row>", '<table:table-row table:number-rows-repeated="1048576">', 1)
        .replace("<text:p>Sáng kiến</text:p>", "<text:p>x</text:p>")
        .replace(
            'office:value-type="string"><text:p>x',
            'table:number-columns-repeated="16384" office:value-type="string"><text:p>x',
            1,
        )
    ),
    "entity": lambda c: c.replace(
        "<office:document-content", '<!DOCTYPE x [<!ENTITY a "b">]><office:document-content', 1
    ),
    "utf-7": lambda c: c.replace('encoding="UTF-8"', 'encoding="UTF-7"', 1),
    "far row": lambda c: c.replace("<table:table-row>", '<table:table-row table:number-rows-repeated="2000000">', 1),
}


@pytest.mark.parametrize("trick", sorted(HOSTILE_ODS))
def test_hostile_indented_ods_are_refused_by_the_guard_unread(
    trick: str, tmp_path: Path, form: Form, counted: dict[str, int]
) -> None:
    path = ods(tmp_path / "x.ods", HOSTILE_ODS[trick](content_xml(TYPES, indent=True)))
    book = _guarded(path, form)
    assert [f.code for f in book.findings] in ([Code.GRID_TOO_LARGE], [Code.FORBIDDEN_XML]), book.findings
    assert counted == {"calamine": 0, "second": 0}


def test_in_the_workers_the_second_reader_reads_what_calamine_cannot(tmp_path: Path, form: Form) -> None:
    """The run's path: both readers in one job of an isolated worker."""
    indented = ods(tmp_path / "gnumeric.ods", content_xml(TYPES, indent=True))
    broken = ods(tmp_path / "hong.ods", content_xml(TYPES, indent=True).replace("</table:table>", "</table:tabl>", 1))
    good, bad = read_books([fingerprint(p, p.name) for p in (indented, broken)], form, workers=1)
    assert next((f.code, f.severity) for f in good.findings) == (Code.FALLBACK_READER, Severity.NOTICE)
    assert [f.code for f in good.findings][1:] == [Code.MISSING_SHEET, Code.MISSING_SHEET]  # not our form
    assert [f.code for f in bad.findings] == [Code.CORRUPT_FILE]


@pytest.mark.corpus
def test_every_corpus_ods_calamine_reads_gives_the_same_grid_to_the_second_reader() -> None:
    """Written by LibreOffice, Excel, Google Sheets, WPS, fuzzers...: the grids are calamine's."""
    compared = 0
    for path in sorted(CORPUS.rglob("*.ods")):
        if inspect(path, "ods") is not None:
            continue  # refused: no reader sees it
        try:
            expected = read_grids(path)
        except CalamineError:
            continue  # what the second reader is for (test_corpus lists them)
        got = fallback._read_ods(path, None, Limits().max_cells)
        assert _typed(got) == _typed(expected), path.name
        compared += 1
    assert compared >= 60


def _typed(grids: dict[str, list[list[object]]]) -> dict[str, list[list[tuple[type, object]]]]:
    return {name: [[(type(v), v) for v in row] for row in grid] for name, grid in grids.items()}
