"""Hostile and broken files: refused by the guard before any reader runs, or survived in a child.

Most files are generated here, small, from a minimal workbook package or from a real filled
template; a few cases (encryption, fuzzer crashes) use the shared corpus. The `read_books` tests
prove that a reader that aborts, panics, runs out of memory or hangs costs one file a finding and
the run goes on with the next file.
"""

from __future__ import annotations

import itertools
import os
import re
import struct
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.findings import Code, Severity
from pipeline.form import Form
from pipeline.guard import Limits, Refusal, inspect
from pipeline.intake import Submission, fingerprint
from pipeline.isolate import Job, LocalRunner, read_books
from pipeline.read import WorkbookData
from tests.conftest import CORPUS
from tests.hostile import BOF, FILLER, WORKBOOK, as_sheet, biff, cell, cfb, package, sheet_xml
from tests.jobs import hang

NO_GUARD = Limits(max_cells=10**15, max_row=10**12, max_col=10**12)  # lets everything through to the reader

FAR_CELL = sheet_xml(f'<row r="1">{cell("A1")}</row><row r="1048576">{cell("XFD1048576")}</row>')


def check(path: Path, limits: Limits = Limits()) -> Refusal | None:  # noqa: B008
    """The guard's verdict on `path`, with the kind that intake sniffs from its bytes."""
    return inspect(path, fingerprint(path, path.name).kind, limits)


def file_error(book: WorkbookData) -> tuple[Code, str] | None:
    """The file-level error of a result (a refusal or a reader failure), with its reason."""
    errors = [f for f in book.findings if f.severity is Severity.ERROR and f.location.row is None]
    if not errors:
        return None
    params = dict(errors[0].params)
    return errors[0].code, str(params.get("reason", params.get("kind", "")))


def books(paths: list[Path], form: Form, **options: object) -> list[WorkbookData]:
    subs = [fingerprint(p, p.name) for p in paths]
    return read_books(subs, form, **options)  # type: ignore[arg-type]


# --- the guard alone ------------------------------------------------------------------------------


def test_a_real_template_passes(filled: Callable[..., Path]) -> None:
    assert check(filled()) is None


def test_deflate_bomb_is_refused_from_the_zip_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 MB of sheet XML in a ~40 KB file: refused on the declared sizes, before anything is inflated.
    padding = " " * (40 << 20)
    path = package(tmp_path / "bomb.xlsx", sheet_xml(f'<row r="1">{cell("A1")}</row>' + padding))
    assert path.stat().st_size < 200_000
    # Opening a part is where inflating starts: the guard must decide from the directory alone.
    opened: list[str] = []
    original = zipfile.ZipFile.open

    def counted(zf: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: object, **kwargs: object) -> IO[bytes]:
        opened.append(name if isinstance(name, str) else name.filename)
        return original(zf, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", counted)
    refusal = check(path, Limits(max_uncompressed_mb=10))
    assert refusal is not None and refusal.code is Code.TOO_LARGE
    assert re.fullmatch(r"giải nén ra 40 MB, giới hạn 10 MB", refusal.reason), refusal.reason
    # Under the size limit, the compression ratio alone refuses it.
    refusal = check(path)
    assert refusal is not None and refusal.code is Code.TOO_LARGE and "nén" in refusal.reason
    assert opened == []


def test_too_many_entries_and_a_too_big_file(tmp_path: Path) -> None:
    many = package(tmp_path / "many.xlsx", sheet_xml(""), {f"xl/media/x{i}.png": b"" for i in range(30)})
    assert check(many, Limits(max_zip_entries=20)) == Refusal(Code.TOO_LARGE, "gói có 35 phần, giới hạn 20")
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"PK" + b"\0" * (3 << 20))
    assert check(big, Limits(max_file_mb=2)) == Refusal(Code.TOO_LARGE, "tệp 3 MB, giới hạn 2 MB")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f'<row r="1">{cell("A1")}</row><row r="1048576">{cell("XFD1048576")}</row>', "ô XFD1048576"),
        (f'<row r="1048577">{cell("A1048577")}</row>', "dòng 1.048.577, giới hạn 1.048.576"),
        (f'<row r="999999999">{cell("A999999999")}</row>', "dòng 999.999.999, giới hạn 1.048.576"),
        ('<row r="1"/><row r="999999999" ht="15"/>', "dòng 999.999.999, giới hạn 1.048.576"),  # no cell at all
        (f'<row r="1">{cell("XFE1")}</row>', "ô XFE1 nằm ngoài giới hạn bảng tính"),
        (f'<row r="1">{cell("1A")}</row>', 'địa chỉ ô không hợp lệ "1A"'),
        (f'<row r="0">{cell("A0")}</row>', 'số dòng không hợp lệ "0"'),
        (f'<row r="x">{cell("A1")}</row>', 'địa chỉ ô không hợp lệ "x"'),
        # r after the other attributes, and a namespace prefix: found all the same
        ('<x:row r="2"><x:c t="n" r="XFD1048576"><x:v>1</x:v></x:c></x:row>', "ô XFD1048576"),
        # filled cells A1 and CW20000: the readers allocate 101 x 20,000 cells from A1
        (f'<row r="1">{cell("CW1")}</row><row r="20000">{cell("A20000")}</row>', "vùng dữ liệu đến ô CW20000"),
    ],
)
def test_far_or_invalid_cells_are_refused(tmp_path: Path, body: str, reason: str) -> None:
    refusal = check(package(tmp_path / "far.xlsx", sheet_xml(body)))
    assert refusal is not None and refusal.code is Code.GRID_TOO_LARGE
    assert refusal.reason.startswith(reason)


@pytest.mark.parametrize(
    "body",
    [
        f'<row r="1">{cell("A1")}</row><row r="1048576">{cell("A1048576")}</row>',  # one column, 1M rows
        f'<row r="1">{cell("A1")}{cell("XFD1")}</row>',  # one row, 16,384 columns
        f'<row r="1">{cell("A1")}</row><row r="1048576"><c r="XFD1048576" s="3"/></row>',  # format only
        f'<row r="1">{cell("A1")}</row><row r="1048576" ht="30" customHeight="1"/>',  # row format only
        '<row><c t="inlineStr"><is><t>a</t></is></c><c t="inlineStr"><is><t>b</t></is></c></row><row/>',  # no r
    ],
)
def test_big_but_bounded_sheets_pass(tmp_path: Path, body: str) -> None:
    assert check(package(tmp_path / "ok.xlsx", sheet_xml(body))) is None


def test_a_lying_dimension_alone_is_not_refused(tmp_path: Path) -> None:
    body = f'<row r="1">{cell("A1", "hello")}</row>'
    assert check(package(tmp_path / "dim.xlsx", sheet_xml(body, dimension="A1:XFD1048576"))) is None


_BOMB = '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
_SST = '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>&lol2;</t></si></sst>'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ((_BOMB + _SST).encode(), "khai báo DOCTYPE/ENTITY"),
        ((_BOMB + _SST).replace('"?>', '" encoding="UTF-16"?>').encode("utf-16"), "khai báo DOCTYPE/ENTITY"),
        ((_BOMB + _SST).encode("utf-16-be"), "khai báo DOCTYPE/ENTITY"),  # no byte order mark
        # a DOCTYPE behind 100 KB of comment, past the first bytes looked at
        (('<?xml version="1.0"?>\n<!--' + " " * 100_000 + "-->" + _BOMB[22:] + _SST).encode(), "khai báo DOCTYPE"),
        (b"<?xml version=\"1.0\" encoding='UTF-7'?>\n+ADw-!DOCTYPE foo+AD4-" + _SST.encode(), 'XML mã "UTF-7"'),
        ((_BOMB + _SST).encode("utf-32"), "XML mã UTF-32"),
        ((_BOMB + _SST).encode("cp500"), "XML mã EBCDIC"),
    ],
)
def test_dtd_and_odd_encodings_in_any_xml_part_are_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    path = package(tmp_path / "dtd.xlsx", sheet_xml(f'<row r="1">{cell("A1")}</row>'), {"xl/sharedStrings.xml": data})
    refusal = check(path)
    assert refusal is not None and refusal.code is Code.FORBIDDEN_XML
    assert refusal.reason.startswith(reason) and "xl/sharedStrings.xml" in refusal.reason


def test_openpyxl_parses_through_defusedxml_and_the_guard_needs_neither(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openpyxl opens received workbooks for the feedback copies: with defusedxml installed (a
    dependency) it refuses entity declarations itself. The guard decides before any parser, so
    that turning openpyxl's protection off (OPENPYXL_DEFUSEDXML=False) changes nothing."""
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True
    monkeypatch.setenv("OPENPYXL_DEFUSEDXML", "False")
    bomb = package(tmp_path / "bomb.xlsx", sheet_xml(f'<row r="1">{cell("A1")}</row>'),
                   {"xl/sharedStrings.xml": _BOMB + _SST})  # fmt: skip
    refusal = check(bomb)
    assert refusal is not None and refusal.code is Code.FORBIDDEN_XML


def test_an_svg_picture_with_a_doctype_is_not_xml_to_refuse(tmp_path: Path) -> None:
    svg = '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd"><svg/>'
    path = package(tmp_path / "svg.xlsx", sheet_xml(f'<row r="1">{cell("A1")}</row>'), {"xl/media/image1.svg": svg})
    assert check(path) is None


def test_duplicate_part_names_are_a_corrupt_file(tmp_path: Path) -> None:
    for name, twin in [("xl/worksheets/sheet1.xml", "xl/worksheets/sheet1.xml"), ("xl/styles.xml", "XL/Styles.xml")]:
        path = package(tmp_path / "dup.xlsx", sheet_xml(""), {name: sheet_xml("")})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
            with zipfile.ZipFile(path, "a") as zf:
                zf.writestr(twin, sheet_xml(f'<row r="1">{cell("XFD1048576")}</row>'))
        refusal = check(path)
        assert refusal is not None and refusal.code is Code.CORRUPT_FILE, name
        assert "có hai bản" in refusal.reason


def test_truncated_and_bit_flipped_packages_are_corrupt(filled: Callable[..., Path], tmp_path: Path) -> None:
    data = filled().read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    refusal = check(cut)
    assert refusal is not None and refusal.code is Code.CORRUPT_FILE and "gói ZIP" in refusal.reason
    # A changed byte inside a stored (uncompressed) part: the directory is fine, the CRC is not.
    path = package(tmp_path / "crc.xlsx", sheet_xml(""))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/styles.xml", "<styleSheet>" + "x" * 200 + "</styleSheet>")
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"x" * 200) + 100] = ord("y")
    path.write_bytes(bytes(raw))
    refusal = check(path)
    assert refusal is not None and refusal.code is Code.CORRUPT_FILE and "CRC" in refusal.reason


def test_a_zip_version_python_cannot_extract_is_corrupt_everywhere(
    filled: Callable[..., Path], tmp_path: Path, form: Form
) -> None:
    """A "version needed to extract" of 14.8 in the zip directory makes zipfile raise
    NotImplementedError (found by the fuzz script): intake, the guard and a whole check survive it."""
    raw = bytearray(filled().read_bytes())
    directory = raw.index(b"PK\x01\x02")
    struct.pack_into("<H", raw, directory + 6, 148)
    path = tmp_path / "version.xlsx"
    path.write_bytes(bytes(raw))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(path)
    assert fingerprint(path, path.name).kind == "unknown"
    result = read_books([Submission(path, path.name, "x", len(raw), "xlsx")], form)
    assert file_error(result[0]) is not None and file_error(result[0])[0] is Code.CORRUPT_FILE  # type: ignore[index]
    assert [b.file for b in books([path], form)] == [path.name]


def test_empty_pdf_jpeg_csv_and_old_biff(tmp_path: Path) -> None:
    cases = {
        "empty.xlsx": (b"", "empty", Refusal(Code.EMPTY_FILE, "tệp 0 byte")),
        "photo.xlsx": (b"\xff\xd8\xff\xe0\0\x10JFIF\0" + bytes(range(256)) * 4, "unknown", "ảnh JPEG"),
        "scan.xlsx": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 4, "pdf", "tệp PDF"),
        "export.xls": (b"<html><body><table><tr><td>1</td></tr></table></body></html>", "unknown", "trang web HTML"),
        "data.csv": ("Mã,Tên\n1,Trường\n".encode(), "unknown", "tệp CSV"),
        "excel4.xls": (struct.pack("<HHHH", 0x0409, 6, 0, 0x10) + b"\0" * 100, "unknown", "bảng tính Excel đời cũ"),
    }
    for name, (data, kind, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert fingerprint(path, name).kind == kind, name
        refusal = check(path)
        if isinstance(expected, str):
            assert refusal is not None and refusal.reason.startswith(expected), name
        else:
            assert refusal == expected, name


def test_xlsb_and_odd_packages(tmp_path: Path) -> None:
    xlsb = package(tmp_path / "b.xlsb", b"", {"xl/workbook.bin": b"\x83\x01\0"})
    assert check(xlsb) == Refusal(Code.UNSUPPORTED_FORMAT, "bảng tính Excel nhị phân .xlsb")
    plain = tmp_path / "plain.xlsx"  # a zip with no workbook at all, named like one
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert check(plain) == Refusal(Code.CORRUPT_FILE, "gói ZIP không có phần bảng tính (workbook)")


def test_ods_repeated_rows_and_columns(tmp_path: Path) -> None:
    def ods(table: str) -> Path:
        path = tmp_path / "t.ods"
        content = (
            '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
            f'<table:table table:name="S">{table}</table:table></office:spreadsheet></office:body>'
            "</office:document-content>"
        )
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            zf.writestr("content.xml", content)
        return path

    value = '<table:table-cell office:value-type="string"><text:p>X</text:p></table:table-cell>'
    # LibreOffice's way of saving the empty rest of a sheet: accepted.
    tail = (
        '<table:table-row table:number-rows-repeated="1048575">'
        '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
    )
    assert check(ods(f"<table:table-row>{value}</table:table-row>{tail}")) is None
    # A value repeated over a billion rows and columns (calamine issue 594): refused at once.
    dos = (
        '<table:table-row table:number-rows-repeated="999999999">'
        + value.replace("<table:table-cell", '<table:table-cell table:number-columns-repeated="999999999"')
        + "</table:table-row>"
    )
    refusal = check(ods(dos))
    assert refusal is not None and refusal.code is Code.GRID_TOO_LARGE and "999.999.999 dòng" in refusal.reason
    # An empty run followed by one value far away: the value's position counts.
    far = (
        '<table:table-row table:number-rows-repeated="3000000"><table:table-cell/></table:table-row>'
        f"<table:table-row>{value}</table:table-row>"
    )
    refusal = check(ods(far))
    assert refusal is not None and refusal.code is Code.GRID_TOO_LARGE


# --- OLE2 compound files --------------------------------------------------------------------------


def test_legacy_xls_encryption_and_container_loops(tmp_path: Path) -> None:
    plain, locked, loop = tmp_path / "plain.xls", tmp_path / "locked.xls", tmp_path / "loop.xls"
    plain.write_bytes(cfb({"Workbook": biff(BOF, FILLER, (0x000A, b""))}))
    locked.write_bytes(cfb({"Workbook": biff(BOF, (0x002F, b"\0\0" + b"\0" * 52), FILLER, (0x000A, b""))}))
    loop.write_bytes(cfb({"Workbook": biff(BOF, FILLER)}, loop=True))
    assert check(plain) is None
    assert check(locked) == Refusal(Code.PASSWORD_PROTECTED, "tệp .xls được mã hóa bằng mật khẩu")
    refusal = check(loop)
    assert refusal is not None and refusal.code is Code.CORRUPT_FILE and "vòng lặp" in refusal.reason
    encrypted_xlsx = tmp_path / "enc.xlsx"
    encrypted_xlsx.write_bytes(cfb({"EncryptionInfo": b"\4\0\4\0" * 1024, "EncryptedPackage": b"\0" * 4096}))
    assert check(encrypted_xlsx) == Refusal(Code.PASSWORD_PROTECTED, "tệp Excel được mã hóa bằng mật khẩu")


@pytest.mark.parametrize(
    "name",
    [
        "excelize/encryptAES.xlsx",  # agile encryption, an OLE container named .xlsx
        "poi/protect.xlsx",
        "calamine/pass_protected.ods",  # ODF encryption
        "poi/password.xls",  # RC4
        "sheetjs-test_files/password_2002_40_xor.xls",  # XOR obfuscation (msoffcrypto-tool cannot tell)
        "poi/xor-encryption-abc.xls",  # calamine says "Codepage D7CC not found"
    ],
)
@pytest.mark.corpus
def test_corpus_encrypted_files_are_password_protected(name: str) -> None:
    path = CORPUS / name
    assert path.is_file(), f"corpus file missing: {path}"
    refusal = check(path)
    assert refusal is not None and refusal.code is Code.PASSWORD_PROTECTED


# --- reading in worker processes ------------------------------------------------------------------


def test_read_books_reads_files_in_order_and_passes_refusals_through(
    filled: Callable[..., Path], tmp_path: Path, form: Form
) -> None:
    good = filled(name="good.xlsx")
    far = package(tmp_path / "far.xlsx", FAR_CELL)
    empty = tmp_path / "empty.xlsx"
    empty.touch()
    note = tmp_path / "note.pdf"
    note.write_bytes(b"%PDF-1.4\n")
    done: list[str] = []
    result = books([far, good, empty, note], form, progress=done.append)
    assert [b.file for b in result] == ["far.xlsx", "good.xlsx", "empty.xlsx", "note.pdf"]
    assert sorted(done) == sorted(b.file for b in result)
    assert file_error(result[0]) == (Code.GRID_TOO_LARGE, "ô XFD1048576")
    assert file_error(result[1]) is None and len(result[1].rows) == 1
    assert result[1].rows[0]["ten_sang_kien"].value == form.example["ten_sang_kien"]
    assert file_error(result[2]) == (Code.EMPTY_FILE, "tệp 0 byte")
    assert file_error(result[3]) == (Code.NOT_SPREADSHEET, "tệp PDF")
    assert result[3].findings[0].message.startswith("Tệp không phải bảng tính (tệp PDF)")


def test_a_lying_dimension_is_read_like_the_truth(filled: Callable[..., Path], tmp_path: Path, form: Form) -> None:
    source = filled(rows=[{}, {"stt": 2, "tac_gia": "Phạm Văn Dũng"}])
    lying = tmp_path / "lying.xlsx"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(lying, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", info.filename):
                data, count = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576"/>', data)
                assert count == 1
            dst.writestr(info, data)
    assert check(lying) is None
    truth, lie = books([source, lying], form)
    assert file_error(lie) is None
    assert [{k: v.value for k, v in r.items()} for r in lie.rows] == [
        {k: v.value for k, v in r.items()} for r in truth.rows
    ]
    assert lie.rows[1]["tac_gia"].value == "Phạm Văn Dũng"


@pytest.mark.corpus
def test_a_reader_abort_or_panic_costs_one_file_not_the_run(
    filled: Callable[..., Path], tmp_path: Path, form: Form
) -> None:
    far = package(tmp_path / "far.xlsx", FAR_CELL, as_sheet(form))
    panic = CORPUS / "poi/clusterfuzz-testcase-minimized-POIHSSFFuzzer-5816431116615680.xls"
    good = filled(name="good.xlsx")
    # With the guard's grid limits lifted, calamine gets the far cell and aborts its process.
    result = books([good, far, good, panic, good], form, workers=1, limits=NO_GUARD)
    assert [file_error(b) for b in result[::2]] == [None, None, None]
    assert all(len(b.rows) == 1 for b in result[::2])
    code, reason = file_error(result[1]) or (None, "")
    assert code is Code.READER_CRASH and "SIGABRT" in reason
    code, reason = file_error(result[3]) or (None, "")
    assert code is Code.READER_CRASH and "PanicException" in reason
    assert result[1].findings[0].message.startswith("Tệp làm trình đọc bảng tính bị lỗi nghiêm trọng")


class _HangingOn:
    """A runner whose job for the file at `index` hangs (`tests.jobs.hang`) instead of reading it."""

    def __init__(self, runner: LocalRunner, index: int, pid_file: Path) -> None:
        self.runner, self.index, self.pid_file = runner, index, pid_file

    def abort(self) -> None:
        self.runner.abort()

    def run(self, jobs: Sequence[Job], at_most: int | None = None) -> Iterator[tuple[int, Any]]:
        jobs = list(jobs)
        jobs[self.index] = (hang, (str(self.pid_file), 30.0))
        for index, result in self.runner.run(jobs, at_most):
            assert result != "not stopped", "the job that hung was let run past its deadline"
            yield index, result


def test_a_file_over_the_deadline_is_stopped_and_the_next_is_read(
    filled: Callable[..., Path], tmp_path: Path, form: Form
) -> None:
    stuck, good = filled(name="stuck.xlsx"), filled(name="good.xlsx")
    pid_file = tmp_path / "stuck.pid"
    with LocalRunner(workers=1, timeout_s=0.3) as local:
        result = books([stuck, good], form, runner=_HangingOn(local, 0, pid_file))
    assert file_error(result[0]) == (Code.READER_TIMEOUT, "quá 0,3 giây")
    assert file_error(result[1]) is None and len(result[1].rows) == 1  # read by the worker started in its place
    # Stopped, not left behind: the process that hung is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text(encoding="ascii")), 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space cap is Linux only")
def test_a_worker_out_of_memory_is_a_crash(filled: Callable[..., Path], tmp_path: Path, form: Form) -> None:
    # Two sheets the reader loads, each one column down to a far row: within the guard's limit of
    # cells, beyond what the reader can hold in the cap.
    names = (form.sheets["unit"], form.sheets["initiatives"])
    book = WORKBOOK.replace(
        '<sheet name="S" sheetId="1" r:id="rId1"/>',
        f'<sheet name="{names[0]}" sheetId="1" r:id="rId1"/><sheet name="{names[1]}" sheetId="2" r:id="rId2"/>',
    )
    relationship = '<Relationship Id="{}" Target="worksheets/{}" Type="{}/worksheet"/>'
    kind = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + relationship.format("rId1", "sheet1.xml", kind)
        + relationship.format("rId2", "sheet2.xml", kind)
        + "</Relationships>"
    )
    second = sheet_xml(f'<row r="900000">{cell("A900000")}</row>')
    extra = {"xl/workbook.xml": book, "xl/_rels/workbook.xml.rels": rels, "xl/worksheets/sheet2.xml": second}
    slow = package(tmp_path / "big.xlsx", sheet_xml(f'<row r="1048576">{cell("A1048576")}</row>'), extra)
    assert check(slow) is None
    good = filled(name="good.xlsx")
    result = books([slow, good], form, workers=1, memory_mb=160)
    code, reason = file_error(result[0]) or (None, "")
    assert code is Code.READER_CRASH, reason
    assert file_error(result[1]) is None and len(result[1].rows) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space cap is Linux only")
def test_a_trusted_job_may_lift_the_memory_cap_for_itself_only() -> None:
    from pipeline.isolate import Failure, LocalRunner
    from tests.jobs import allocate, hold

    capped: Job = (allocate, (400,))
    lifted: Job = (allocate, (400,), 60.0, 0)  # as the report jobs are sent
    with LocalRunner(workers=1, memory_mb=300) as runner:
        done = dict(runner.run([capped, lifted, capped]))
    assert isinstance(done[0], Failure) and done[0].code is Code.READER_CRASH
    assert done[0].reason == "hết bộ nhớ cho phép (300 MB)"
    assert done[1] == 400 << 20
    assert isinstance(done[2], Failure), "the next job has the usual cap again"
    with LocalRunner(workers=1, memory_mb=300) as runner:
        # A job that was allowed more may leave its worker holding more than the cap: the jobs
        # after it get a new worker, and fit in the cap as they would have before.
        done = dict(runner.run([(hold, (500,), 60.0, 0), (allocate, (100,))]))
    assert done == {0: 500, 1: 100 << 20}


def test_a_worker_retired_after_a_trusted_job_is_replaced_only_for_jobs_still_waiting() -> None:
    """A worker that ran a job of the program's own is retired; a new one starts at once while
    jobs wait for it, and not when none does (it would import the readers for nothing while the
    report's outputs want the processor); a later run starts what it needs."""
    import multiprocessing

    from pipeline.isolate import LocalRunner
    from tests.jobs import loaded

    with LocalRunner(workers=1) as runner:
        (_, (first, _)), (_, (second, _)) = sorted(runner.run([(loaded, ("os",), 60.0, 0), (loaded, ("os",))]))
        assert second != first, "the job after it had a new worker"
        assert len(multiprocessing.active_children()) == 1
        dict(runner.run([(loaded, ("os",), 60.0, 0)]))
        assert multiprocessing.active_children() == [], "no worker started for no job"
        ((_, (third, _)),) = runner.run([(loaded, ("os",))])
        assert third not in (first, second)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the address-space cap is Linux only")
def test_a_process_started_ahead_for_the_programs_own_job_takes_that_job_alone() -> None:
    """The report workbook's process is started as validation begins, importing its writer:
    it takes the first job of the program's own, never a file's, and is not used again."""
    from pipeline.isolate import Failure, LocalRunner
    from tests.jobs import allocate, loaded

    module = "colorsys"  # imported by no worker of its own accord
    with LocalRunner(workers=1, memory_mb=300) as runner:
        runner.prestart_own([module])
        done = dict(runner.run([(loaded, (module,)), (loaded, (module,), 60.0, 0), (allocate, (400,))]))
        again = dict(runner.run([(loaded, (module,), 60.0, 0)]))
    (file_pid, file_saw), (own_pid, own_saw), (next_pid, next_saw) = done[0], done[1], again[0]
    assert own_saw and not file_saw and own_pid != file_pid
    assert isinstance(done[2], Failure), "a file's job after it still has the usual cap"
    assert not next_saw and next_pid != own_pid, "the process started ahead took one job only"


@pytest.mark.parametrize("crash", [False, True], ids=["prepares", "dies"])
def test_the_process_started_ahead_takes_a_job_that_prepares_its_own_while_others_run(crash: bool) -> None:
    """The report workbook's process is given a job while another thread runs jobs on the pool
    (the feedback's while the run makes the figures): what that job leaves in the process is
    there for the job the process was started for. Should it die, the later job still runs, on a
    usual worker, without what was prepared."""
    import threading

    from pipeline.isolate import Failure, LocalRunner
    from tests.jobs import die, keep, kept, loaded

    with LocalRunner(workers=2) as runner:
        assert not runner.give_own((keep, ("rows", 1))), "no process started ahead: nothing given"
        assert runner.take_own() is None
        runner.prestart_own(["colorsys"])
        others: dict[int, object] = {}
        thread = threading.Thread(target=lambda: others.update(runner.run([(loaded, ("os",))] * 4, 1)))
        thread.start()
        assert runner.give_own((die, ()) if crash else (keep, ("rows", [1, 2, 3]), 60.0, 0))
        assert not runner.give_own((keep, ("rows", 0))), "one job before the one it is for"
        thread.join()
        taken = runner.take_own()
        ((_, (pid, rows)),) = runner.run([(kept, ("rows",), 60.0, 0)])
    assert len(others) == 4
    if crash:
        assert isinstance(taken, Failure) and rows is None
    else:
        assert taken == pid and rows == [1, 2, 3]
        assert all(p != pid for p, _ in others.values()), "the others' jobs went to the pool's workers"


def test_submissions_of_every_kind_get_exactly_one_result(tmp_path: Path, form: Form) -> None:
    subs = []
    for i, kind in enumerate(["docx", "doc", "zip", "unknown", "empty"]):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(b"" if kind == "empty" else b"\x00\x01 not a known format")
        subs.append(Submission(path, path.name, str(i), path.stat().st_size, kind))
    result = read_books(subs, form)
    assert [b.file for b in result] == [s.name for s in subs]
    codes = [file_error(b) for b in result]
    assert [c[0] if c else None for c in codes] == [Code.NOT_SPREADSHEET] * 4 + [Code.EMPTY_FILE]
    assert all(f.message for b in result for f in b.findings)


# --- the sheet scan's fast path decides exactly like the tag-by-tag scan ---------------------------

_COLUMNS = st.sampled_from(["A", "B", "Z", "AA", "XFD", "XFE", "ZZZ", "a", ""])
# Markers of an error value or a formula, and what looks like one and is not.
_MARKED = ['<c r="B2" t="e"><v>#N/A</v></c>', '<c r="C3"><f>A1+1</f></c>', '<c r="D4"><x:f t="shared"/></c>',
           "t=", '"e"', "<f", ">", "f>", "<f/>", "ref ", "of>", ":f", " "]  # fmt: skip
_ROWS = st.sampled_from(["1", "2", "7", "0", "40", "1048576", "1048577", "99999999", ""])


@st.composite
def _sheet_piece(draw: st.DrawFn) -> str:
    """Rows and cells as writers write them, mostly, with the odd missing, invalid or far reference,
    prefixed tag, empty cell or attribute before r."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        row = draw(_ROWS)
        out.append(f'<row r="{row}">' if row and draw(st.booleans()) else "<row>")
        for _ in range(draw(st.integers(0, 5))):
            ref = draw(_COLUMNS) + draw(_ROWS)
            style = draw(st.sampled_from(["", ' s="3"', ' t="s"']))
            form_ = draw(st.sampled_from(["plain", "plain", "plain", "empty", "no-r", "r-later", "prefixed"]))
            if form_ == "plain":
                out.append(f'<c r="{ref}"{style}><v>1</v></c>')
            elif form_ == "empty":
                out.append(f'<c r="{ref}"{style}/>')
            elif form_ == "no-r":
                out.append(f"<c{style}><v>1</v></c>")
            elif form_ == "r-later":
                out.append(f'<c s="1" r="{ref}"><v>1</v></c>')
            else:
                out.append(f'<x:c r="{ref}"><x:v>1</x:v></x:c>')
        out.append("</row>")
    return "".join(out)


def _scan(pieces: list[str], fast: bool, limits: Limits) -> tuple[object, ...]:
    from pipeline.guard import _Refused, _SheetScan

    scan = _SheetScan(limits, 0)
    try:
        for piece in pieces:
            if fast:
                scan.feed(piece)
            else:
                scan._feed_tags(piece)
    except _Refused as refused:
        return ("refused", refused.refusal)
    return (scan.total, scan.last_row, scan.last_col, scan.row, scan.col)


@st.composite
def _written_piece(draw: st.DrawFn) -> str:
    """Rows as spreadsheet programs write them, in order, far down the sheet or not, with the odd
    cell of another row or a wide column: what the quick bounds must vouch for, or leave to the
    exact scan, without ever under-counting."""
    row = draw(st.integers(0, 120_000))
    out = []
    for _ in range(draw(st.integers(1, 5))):
        row += draw(st.integers(1, 30_000))
        out.append(f'<row r="{row}" spans="1:3">')
        for _ in range(draw(st.integers(0, 4))):
            column = draw(st.sampled_from(["A", "B", "S", "Z", "AA", "ZZ", "AAA"]))
            at = row if draw(st.integers(0, 9)) else draw(st.integers(1, 200_000))
            closing = draw(st.sampled_from(["><v>1</v></c>", "/>"]))
            out.append(f'<c r="{column}{at}" s="2"{closing}')
        out.append("</row>")
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_sheet_piece(), _written_piece()), min_size=1, max_size=3),
    st.sampled_from([2_000_000, 60, 10]),
)
@example(['<row r="1"><c r="A0"><v>1</v></c></row>'], 2_000_000)  # row 0: the bounds vouched for it
@example(['<row r="150"><c r="A150"><v>1</v></c></row><row r="40"><c r="B40"/></row>'], 2_000_000)
@example(['<row r="9"><c r="A9"/><c r="B12"><v>1</v></c></row>'], 60)  # a cell below its row
@example(['<row r="60000"><c r="S60000"><v>1</v></c></row>'], 2_000_000)  # vouched for by R itself
def test_the_quick_sheet_scans_agree_with_the_exact_one(pieces: list[str], max_cells: int) -> None:
    limits = Limits(max_cells=max_cells)
    exact = _scan(pieces, fast=False, limits=limits)
    assert _scan(pieces, fast=True, limits=limits) == exact
    # The quick bounds vouch only for what the exact scan allows, and never under-count.
    from pipeline.guard import _SheetBounds, _Undecided

    bounds = _SheetBounds(limits, 0)
    try:
        for piece in pieces:
            bounds.feed(piece)
    except _Undecided:
        return
    assert exact[0] != "refused" and bounds.total >= exact[0]  # type: ignore[operator]


def test_a_filled_template_is_vouched_for_by_the_quick_bounds(
    filled: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a union sends passes on the quick bounds of every sheet; the exact scan never runs."""
    from pipeline.guard import _SheetBounds, _SheetScan

    scanned: dict[str, int] = {"bounds": 0, "exact": 0}

    def counting(kind: str, feed: Callable[[object, str], None]) -> Callable[[object, str], None]:
        def counted(self: object, text: str) -> None:
            scanned[kind] += 1
            feed(self, text)

        return counted

    monkeypatch.setattr(_SheetBounds, "feed", counting("bounds", _SheetBounds.feed))
    monkeypatch.setattr(_SheetScan, "feed", counting("exact", _SheetScan.feed))
    assert check(filled(rows=[{}, {}, {}])) is None
    assert scanned["bounds"] >= 4 and scanned["exact"] == 0, scanned  # the template's four sheets


def test_a_long_sheet_is_vouched_for_by_its_last_row(
    tmp_path: Path, form: Form, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60,000 rows of 19 cells: the round bound (99,999 rows of 26 columns) passes the limit of cells,
    the last row's own number (60,000) does not; the exact scan never runs."""
    from pipeline.guard import _SheetScan

    rows = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{chr(65 + c)}{r}"><v>1</v></c>' for c in range(19)) + "</row>"
        for r in range(1, 60_001)
    )
    path = package(tmp_path / "long.xlsx", sheet_xml(rows), as_sheet(form))
    exact: list[str] = []
    monkeypatch.setattr(_SheetScan, "feed", lambda self, text: exact.append(text))
    assert check(path) is None
    assert exact == []


@pytest.mark.parametrize("number", [1, 2, 9, 10, 11, 19, 20, 99, 100, 101, 203, 999, 1000, 50_003, 1_048_576])
def test_the_bound_of_a_row_number_is_exact(number: int) -> None:
    from pipeline.guard import _at_most

    pattern = re.compile(_at_most(number) + '"')
    tried = sorted({*range(0, min(3 * number + 12, 3000)), *range(max(0, number - 3000), 3 * number + 12, 97),
                    *range(max(0, number - 1500), number + 1500)})  # fmt: skip
    assert [k for k in tried if pattern.fullmatch(f'{k}"')] == [k for k in tried if 1 <= k <= number]
    assert not pattern.fullmatch(f'0{number}"') and not pattern.fullmatch(f'{number + 1}"')


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_sheet_piece(), st.sampled_from(_MARKED)), min_size=1, max_size=4), st.integers(0, 60))
def test_the_scan_finds_every_marker_of_an_unknown_cell(pieces: list[str], cut: int) -> None:
    """A sheet is plain (no reader looks in it for an error value or a formula) only when none of the
    markers is anywhere in it, also where one piece ends and the next begins."""
    from pipeline.guard import _Markers
    from pipeline.sheets import UNKNOWN_MARKERS

    text = "".join(pieces)
    cut = min(cut, len(text))
    markers = _Markers(text[: cut // 3])
    for piece in (text[cut // 3 : cut], text[cut:]):
        markers.feed(piece)
    assert markers.found == any(marker in text for marker in UNKNOWN_MARKERS)


def test_the_verdict_names_the_sheets_without_error_values_or_formulas(filled: Callable[..., Path], form: Form) -> None:
    from pipeline.guard import check as verdict
    from tests.hostile import KINDS

    path = filled(rows=[{}, {}])
    assert verdict(path, "xlsx").plain_sheets == set(form.sheets.values())
    for name in ("error-cells", "formula-no-value"):  # in both the unit's sheet and the initiatives'
        [kind] = [k for k in KINDS if k.name == name]
        bad = kind.build(path, path.with_name(f"{name}.xlsx"))
        plain = verdict(bad, "xlsx").plain_sheets
        assert plain == set(form.sheets.values()) - {form.sheets["unit"], form.sheets["initiatives"]}, name


def test_a_workers_message_is_unpickled_after_the_next_job_is_given_and_checked_then() -> None:
    """The pool gives a freed worker its next job before it unpickles the last result (`_result`):
    a message that does not unpickle, or answers another job, is that job's crash, not the run's."""
    import pickle

    from pipeline.isolate import Failure, _result

    assert _result(3, pickle.dumps((3, "book"))) == "book"
    assert _result(3, Failure(Code.READER_TIMEOUT, "quá 60 giây")) == Failure(Code.READER_TIMEOUT, "quá 60 giây")
    for message in (pickle.dumps((4, "book")), pickle.dumps("ready"), b"\x80\x05not a pickle"):
        failure = _result(3, message)
        assert isinstance(failure, Failure) and failure.code is Code.READER_CRASH, message


def test_a_freed_worker_has_its_next_job_while_the_last_result_is_unpickled() -> None:
    from pipeline.isolate import LocalRunner
    from tests.jobs import slow_result, started_at

    with LocalRunner(workers=1) as runner:
        done = dict(runner.run([(slow_result, (7,)), (started_at, ())]))
    (value, unpickled_at), next_started_at = done[0], done[1]
    assert value == 7 and next_started_at < unpickled_at


@pytest.mark.parametrize("kind", ["local", "executor"])
def test_abort_ends_a_run_of_another_thread_at_once(tmp_path: Path, kind: str) -> None:
    """The run is stopping (Ctrl+C, a failure) while another thread drives the runner: `abort` ends
    that thread's `run` at once, whatever its jobs are doing, and a local worker is killed."""
    import concurrent.futures
    import contextlib
    import threading
    import time

    from pipeline.isolate import ExecutorRunner, LocalRunner

    pid_file = tmp_path / "hung.pid"
    with contextlib.ExitStack() as stack:
        if kind == "local":
            runner: Any = stack.enter_context(LocalRunner(workers=1, timeout_s=60))
        else:
            executor = stack.enter_context(concurrent.futures.ThreadPoolExecutor(1))
            runner = ExecutorRunner(executor, timeout_s=60)
        results: list[Any] = []
        thread = threading.Thread(target=lambda: results.extend(runner.run([(hang, (str(pid_file), 3.0))])))
        thread.start()
        while not pid_file.exists():
            time.sleep(0.02)
        started = time.monotonic()
        runner.abort()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - started < 2
        assert results == []
        if kind == "local":
            with pytest.raises(ProcessLookupError):
                os.kill(int(pid_file.read_text(encoding="ascii")), 0)


def test_at_most_limits_the_jobs_at_once_and_may_widen_while_they_run() -> None:
    """The feedback runs on every worker but one while the run merges, then on every worker: a run
    given at most one job at once, widened to two after its first result."""
    from tests.jobs import span

    width = [1]
    spans = {}
    with LocalRunner(workers=2) as runner:
        for i, result in runner.run([(span, (0.4,))] * 4, lambda: width[0]):
            spans[i] = result
            width[0] = 2
    first = spans[0]
    assert all(end <= first[0] or begun >= first[1] for begun, end in (spans[i] for i in (1, 2, 3))), "one at once"
    later = sorted(spans[i] for i in (1, 2, 3))
    assert any(b[0] < a[1] for a, b in itertools.pairwise(later)), "two at once after it widened"
