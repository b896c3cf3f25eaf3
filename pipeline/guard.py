"""Checks on a received file before any spreadsheet reader opens it.

The readers trust what they read: python-calamine aborts the whole process on a cell at XFD1048576
or a looping .xls container, no reader limits decompression, and a DOCTYPE in a part is an entity
bomb or an external entity for some XML parser. `check` looks at the bytes within fixed budgets
(it never builds a tree nor holds a whole part in memory): the package's directory first (sizes,
ratios, counts), then one streaming pass over the parts, each inflated once. It returns a `Verdict`:
a `Refusal` (a finding code and a short Vietnamese reason) or None when the readers may go ahead,
and what the pass learnt that spares the reader a look of its own (the sheets that hold no error
value and no formula); `inspect` gives the refusal alone. What it lets through is still read in a
child process (`pipeline.isolate`), so a case missed here costs one file's finding, never the run.

What is checked, by container (the bytes decide, not the name):

* any file: empty; larger than `max_file_mb`.
* ZIP (xlsx, xlsm, ods): a readable central directory; the number of entries, their declared total
  size and each large entry's compression ratio; the same part name twice (readers disagree on which
  copy wins); password-protected entries and compression methods Excel never writes. Every XML part
  (whatever its name: the content decides) is read in chunks: a DOCTYPE or ENTITY declaration, or an
  encoding other than UTF-8/UTF-16 (UTF-7, UTF-32, EBCDIC hide a DOCTYPE from byte checks), refuses
  the file; a bad CRC or a truncated stream means a corrupt file. Worksheet parts are scanned for
  `<row r>` and `<c r>`: a reference beyond Excel's grid, an invalid one, or filled cells spanning
  more than `max_cells` from A1 (the readers allocate the whole rectangle) refuses the file (a quick
  bound first, from a few searches over the whole part; the exact scan, tag by tag, only when the
  bound cannot vouch for the file). The `<dimension>` element is not trusted and not used. The same
  pass notes which worksheets may hold an error value or a formula (`sheets.mark_unknown_cells`
  looks only at those). An ODS `content.xml` is scanned the same way, counting repeated rows and
  columns up to the last filled cell. A binary workbook (.xlsb) is refused
  as unsupported, and so is a spreadsheet package at non-standard part names (intake did not
  recognise it).
* OLE2 compound file (xls, encrypted OOXML): header, DIFAT, FAT, directory and the chains that the
  reader follows are walked with loop and bounds checks (a looping container aborts calamine); an
  `EncryptionInfo`/`EncryptedPackage` pair (an encrypted xlsx) or a BIFF FILEPASS record in the
  workbook globals (an encrypted xls, RC4 or XOR) means a password-protected file (as does an ODF
  manifest with encryption data).
* anything else: a raw BIFF2-4 workbook (Excel 4.0 and before) is unsupported; HTML, XML 2003 or text
  files named like a spreadsheet are unsupported (with what they are); images and archives are named.
"""

from __future__ import annotations

import functools
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated

from pipeline.findings import Code
from pipeline.numbers import short
from pipeline.sheets import UNKNOWN_MARKERS, ZIP_ERRORS, column_letter, column_number, parse_sheet_parts

MB = 1 << 20
_CHUNK = 1 << 20  # bytes read from a part at a time
_HEAD = 64 << 10  # bytes of each part examined for DOCTYPE/ENTITY and the encoding
_PROLOG_MAX = 1 << 20  # a root element must start within this many bytes of a part
_RATIO_FLOOR = 1 << 20  # the compression ratio is checked on entries larger than this
_MAX_TAG = 64 << 10  # a start tag longer than this is scanned in pieces


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SHEET_ROOTS = frozenset({"worksheet", "dialogsheet", "macrosheet"})
# Parts that are not XML whatever they hold (SVG may carry a harmless DOCTYPE; no reader parses it).
_BINARY_PARTS = _words(
    "png jpg jpeg jpe jfif gif bmp dib tif tiff emf wmf emz wmz svg svgz ico wdp jxr webp pict bin "
    "mp3 mp4 wav avi mov ttf odttf otf fntdata pdf"
)
_XML_ENCODINGS = _words(
    "utf-8 utf8 utf-16 utf16 utf-16le utf-16be unicode us-ascii ascii iso-8859-1 latin1 latin-1 windows-1252 cp1252"
)
_SPREADSHEET_SUFFIXES = _words(".xls .xlsx .xlsm .xlsb .xlt .xltx .xltm .ods .csv")


@dataclass(frozen=True)
class Limits:
    """What a received file may hold. The defaults fit a report form with a margin of several hundred times.
    A limit described in Vietnamese is a key of [limits] in the configuration (pipeline/config.py)."""

    max_file_mb: Annotated[float, "dung lượng tối đa của một tệp (MB)"] = 20
    max_zip_entries: Annotated[int, "số phần tối đa trong gói ZIP"] = 2000
    max_uncompressed_mb: Annotated[float, "dung lượng tối đa sau khi giải nén (MB)"] = 200
    max_ratio: Annotated[float, "tỷ lệ nén tối đa"] = 200  # for entries over 1 MB uncompressed
    # Cells from A1 to the farthest filled cell, summed over the sheets.
    max_cells: Annotated[int, "số ô tối đa của các trang tính"] = 2_000_000
    max_row: int = 1_048_576  # Excel's grid: not a key of the configuration
    max_col: int = 16_384
    max_sheets: Annotated[int, "số trang tính tối đa"] = 100


@dataclass(frozen=True)
class Refusal:
    code: Code
    reason: str  # short Vietnamese detail, shown inside the code's message


class _Undecided(Exception):
    """The quick scan (`_SheetBounds`) cannot vouch for a file: the exact scan must look at it."""


class _Refused(Exception):
    def __init__(self, code: Code, reason: str) -> None:
        super().__init__(reason)
        self.refusal = Refusal(code, reason)


@dataclass(frozen=True)
class Verdict:
    """The guard's answer about one file: why the readers must not see it (None: they may), and,
    for a workbook package, the sheets (by name) whose part holds no error value and no formula,
    so that nobody need look for cells whose value the file does not hold there."""

    refusal: Refusal | None
    plain_sheets: frozenset[str] = frozenset()


def inspect(path: Path, kind: str, limits: Limits = Limits()) -> Refusal | None:
    """Why `path` must not be given to a spreadsheet reader, or None (`check`'s refusal)."""
    return check(path, kind, limits).refusal


def check(path: Path, kind: str, limits: Limits = Limits()) -> Verdict:
    """The `Verdict` on `path`: the package directory first, then one pass over its parts.

    `kind` is intake's content sniff (`Submission.kind`): it only decides whether a package that
    intake did not recognise as a spreadsheet is reported as one.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return Verdict(Refusal(Code.EMPTY_FILE, "tệp 0 byte"))
        if size > limits.max_file_mb * MB:
            return Verdict(Refusal(Code.TOO_LARGE, f"tệp {_mb(size)}, giới hạn {_mb(limits.max_file_mb * MB)}"))
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head.startswith(_CFB_MAGIC):
            _check_cfb(path.read_bytes(), kind)
        elif head.startswith(b"PK"):
            try:
                return Verdict(None, _check_zip(path, kind, limits, exact=False))
            except (_Undecided, _Refused):  # the bounds were not enough: the exact scan decides
                return Verdict(None, _check_zip(path, kind, limits, exact=True))
        else:
            return Verdict(_other(path, head))
    except _Refused as refused:
        return Verdict(refused.refusal)
    except OSError as exc:
        return Verdict(Refusal(Code.CORRUPT_FILE, f"không đọc được tệp: {exc.strerror or type(exc).__name__}"))
    return Verdict(None)


def _corrupt(reason: str) -> _Refused:
    return _Refused(Code.CORRUPT_FILE, reason)


def _mb(nbytes: float) -> str:
    """A size for people: "850 KB" below a megabyte, "2,5 MB", "40 MB"."""
    if nbytes < MB:
        return f"{short(max(1, round(nbytes / 1024)))} KB"
    mb = nbytes / MB
    return f"{short(round(mb, 1) if mb < 10 else round(mb))} MB"


# --- ZIP packages ---------------------------------------------------------------------------------


def _part_name(name: str) -> str:
    return name.replace("\\", "/").lstrip("/").lower()


def _check_zip(path: Path, kind: str, limits: Limits, exact: bool = True) -> frozenset[str]:
    """Refuses what must not be read (`_Refused`); returns the plain sheets (`Verdict`)."""
    try:
        zf = zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        raise _corrupt(f"gói ZIP không hợp lệ hoặc bị cắt cụt ({exc})"[:160]) from None
    with zf:
        infos = zf.infolist()
        _check_entries(infos, limits)
        names = {_part_name(i.filename) for i in infos}
        if any(name.endswith("workbook.bin") for name in names):
            raise _Refused(Code.UNSUPPORTED_FORMAT, "bảng tính Excel nhị phân .xlsb")
        scan = _PackageScan(limits, exact)
        for info in infos:
            if info.is_dir() or info.file_size == 0:
                continue
            suffix = _part_name(info.filename).rpartition(".")[2]
            if suffix in _BINARY_PARTS:
                continue
            try:
                with zf.open(info) as fh:
                    scan.part(info.filename, fh)
            except _Refused:
                raise
            except RuntimeError as exc:  # encrypted entry (checked above), or zipfile's own limits
                raise _corrupt(f'không mở được phần "{info.filename}" ({exc})'[:160]) from None
            except ZIP_ERRORS as exc:
                raise _corrupt(f'phần "{info.filename}" bị hỏng ({exc})'[:160]) from None
        if scan.sheets > limits.max_sheets:
            raise _Refused(Code.TOO_LARGE, f"{short(scan.sheets)} trang tính, giới hạn {short(limits.max_sheets)}")
        if kind in ("xlsx", "xlsm", "ods") and not scan.workbook:
            # The content types name a workbook that is not there: readers would find no sheet.
            raise _corrupt("gói thiếu phần chính của bảng tính (workbook)")
        if kind == "zip":  # intake found no spreadsheet at the usual part names
            if scan.workbook:
                raise _Refused(Code.UNSUPPORTED_FORMAT, "gói bảng tính có cấu trúc không chuẩn")
            if path.suffix.lower() in _SPREADSHEET_SUFFIXES:
                raise _corrupt("gói ZIP không có phần bảng tính (workbook)")
        return scan.plain_sheets()


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_zip_entries:
        raise _Refused(Code.TOO_LARGE, f"gói có {short(len(infos))} phần, giới hạn {short(limits.max_zip_entries)}")
    seen: set[str] = set()
    for info in infos:
        name = _part_name(info.filename)
        if name in seen:
            raise _corrupt(f'phần "{info.filename}" có hai bản trong gói')
        seen.add(name)
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_mb * MB:
        raise _Refused(Code.TOO_LARGE, f"giải nén ra {_mb(total)}, giới hạn {_mb(limits.max_uncompressed_mb * MB)}")
    for info in infos:
        if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _Refused(
                Code.TOO_LARGE,
                f'phần "{info.filename}" nén {short(ratio)} lần, giới hạn {short(limits.max_ratio)} lần',
            )
        if info.flag_bits & 0x1:
            raise _Refused(Code.PASSWORD_PROTECTED, "gói ZIP có mật khẩu")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(Code.UNSUPPORTED_FORMAT, f"phương thức nén {info.compress_type} không phải của Excel")


_DOCTYPE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([^"']{0,40})["']""")
_ROOT = re.compile(r"<(?![?!])((?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*))")


# The parts that say which part holds which sheet (as `sheets.sheet_parts` reads them), kept while
# they are read when they are no larger than this.
_SHEET_INDEX = ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")
_INDEX_MAX = 16 << 20


class _Recorded:
    """A part's stream that keeps what is read from it (up to `_INDEX_MAX` bytes)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.parts: list[bytes] = []
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.size += len(data)
        if self.size <= _INDEX_MAX:
            self.parts.append(data)
        return data

    def data(self) -> bytes | None:
        return b"".join(self.parts) if self.size <= _INDEX_MAX else None


class _PackageScan:
    """Walks the parts of one package; counts worksheets, notes whether a workbook part is there,
    and which worksheet parts hold no marker of an error value or a formula (`UNKNOWN_MARKERS`)."""

    def __init__(self, limits: Limits, exact: bool = True) -> None:
        self.limits = limits
        self.exact = exact
        self.sheets = 0
        self.cells = 0  # cells from A1 to the farthest filled cell, over the sheets scanned so far
        self.workbook = False
        self.plain_parts: set[str] = set()  # worksheet parts (zip names) read whole without a marker
        self.index: dict[str, bytes | None] = {}

    def part(self, name: str, fh: IO[bytes]) -> None:
        if name in _SHEET_INDEX:
            recorded = _Recorded(fh)
            try:
                self._part(name, recorded)
            finally:
                self.index[name] = recorded.data()
        else:
            self._part(name, fh)

    def plain_sheets(self) -> frozenset[str]:
        """The sheets whose part was read whole and holds no marker (`Verdict.plain_sheets`)."""
        book, rels = (self.index.get(name) for name in _SHEET_INDEX)
        if book is None or rels is None or not self.plain_parts:
            return frozenset()
        parts = parse_sheet_parts(book, rels)
        return frozenset(sheet for sheet, part in parts.items() if part in self.plain_parts)

    def _part(self, name: str, fh: IO[bytes] | _Recorded) -> None:
        head = fh.read(_HEAD)
        utf16 = b"\0" in head[:4096]
        text = _xml_head(name, head, utf16)
        if text is None:
            return  # not XML: no reader parses it as XML
        root = _ROOT.search(text)
        while root is None and len(head) < _PROLOG_MAX:
            more = fh.read(_HEAD)
            if not more:
                return  # no element at all: not a part any reader will find anything in
            head += more
            text = _decode(head, utf16)
            if _DOCTYPE.search(text):
                raise _Refused(Code.FORBIDDEN_XML, f'khai báo DOCTYPE/ENTITY trong phần "{name}"')
            root = _ROOT.search(text)
        if root is None:
            raise _Refused(Code.FORBIDDEN_XML, f'phần mở đầu XML dài bất thường trong phần "{name}"')
        local = root.group(2)
        if local == "manifest" and "encryption-data" in text:  # ODF: META-INF/manifest.xml
            raise _Refused(Code.PASSWORD_PROTECTED, "tệp ODS được mã hóa bằng mật khẩu")
        if local in ("workbook", "document-content"):
            self.workbook = True
        scanner: _Scanner
        markers: _Markers | None = None
        if local in _SHEET_ROOTS:
            self.sheets += 1
            scanner = _SheetScan(self.limits, self.cells) if self.exact else _SheetBounds(self.limits, self.cells)
            markers = _Markers(text[: root.start()])  # from the start of the part
        elif local == "document-content":
            scanner = _OdsScan(self.limits, self.cells)
        else:
            while fh.read(_CHUNK):  # read to the end: the CRC is checked there
                pass
            return
        for chunk in _tags(_chunks(text[root.start() :], fh, utf16)):
            scanner.feed(chunk)
            if markers is not None:
                markers.feed(chunk)
        self.cells = scanner.total
        self.sheets += scanner.tables
        if markers is not None and not markers.found:
            self.plain_parts.add(name)


def _decode(data: bytes, utf16: bool) -> str:
    # Markup is ASCII in every encoding allowed here: dropping the NULs of UTF-16 (either byte
    # order, or mixed with a UTF-8 declaration) leaves the tags and attributes readable.
    return (data.replace(b"\0", b"") if utf16 else data).decode("latin-1")


def _xml_head(name: str, head: bytes, utf16: bool) -> str | None:
    """The start of a part as text, or None when it is not XML; refuses DOCTYPE and odd encodings."""
    if head.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        raise _Refused(Code.FORBIDDEN_XML, f'XML mã EBCDIC trong phần "{name}"')
    if head[:4] in (b"\xff\xfe\0\0", b"\0\0\xfe\xff") or head[:4] in (b"<\0\0\0", b"\0\0\0<"):
        raise _Refused(Code.FORBIDDEN_XML, f'XML mã UTF-32 trong phần "{name}"')
    if head[:4] in (b"+/v8", b"+/v9", b"+/v+", b"+/v/"):
        raise _Refused(Code.FORBIDDEN_XML, f'XML mã UTF-7 trong phần "{name}"')
    text = _decode(head, utf16)
    start = text.lstrip("\ufeff\xef\xbb\xbf\xff\xfe \t\r\n")
    if not start.startswith("<"):
        return None
    declared = _ENCODING.match(start)
    if declared and declared.group(1).strip().lower() not in _XML_ENCODINGS:
        raise _Refused(Code.FORBIDDEN_XML, f'XML mã "{declared.group(1).strip()}" trong phần "{name}"')
    if _DOCTYPE.search(text):
        raise _Refused(Code.FORBIDDEN_XML, f'khai báo DOCTYPE/ENTITY trong phần "{name}"')
    return text


def _chunks(first: str, fh: IO[bytes] | _Recorded, utf16: bool) -> Iterator[str]:
    yield first
    while data := fh.read(_CHUNK):
        yield _decode(data, utf16)


def _tags(chunks: Iterator[str]) -> Iterator[str]:
    """The text again, cut so that no start tag is split between two pieces (unless it is huge)."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        cut = text.rfind("<")
        if cut != -1 and text.find(">", cut) == -1 and len(text) - cut < _MAX_TAG:
            carry, text = text[cut:], text[:cut]
        else:
            carry = ""
        yield text
    if carry:
        yield carry


_ATTR_R = re.compile(r"""(?<![\w:.\-])r\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_REF = re.compile(r"([A-Za-z]{0,7})([0-9]{1,10})")
# A <c> or <row> start tag; its r attribute split into letters and digits when it comes first (as
# every writer puts it), else found in the other attributes.
_SHEET_TAG = re.compile(r'<(?:[A-Za-z_][\w.\-]*:)?(c|row)(?=[\s/>])(?:\s+r="([A-Za-z]{0,7})([0-9]{1,10})")?([^<>]*)')

# The same tags as spreadsheet programs write them: for `_SheetScan._feed_fast`.
_ANY_TAG = re.compile(r"<(?:c|row)[\s/>]")
_PREFIXED_TAG = re.compile(r"<[A-Za-z_][\w.\-]*:(?:c|row)(?=[\s/>])")
_ROW_FAST = re.compile(r'<row r="([0-9]{1,7})"(?=[\s/>])')
_CELL_FAST = re.compile(r'<c r="([A-Z]{1,3})([0-9]{1,7})"(?=[\s/>])[^<>/]*(/?)>')


def _every_tag_has_r_first(text: str, plain: int) -> bool:
    """Whether the piece's `<row>` and `<c>` tags are the `plain` ones the quick scans found (`r`
    written first), none of them with a namespace prefix."""
    if plain != len(_ANY_TAG.findall(text)):
        return False
    return not (_PREFIX_HINT.search(text) and _PREFIXED_TAG.search(text))


class _Scanner:
    total: int
    tables = 0

    def feed(self, text: str) -> None:
        raise NotImplementedError


class _SheetScan(_Scanner):
    """The extent of one worksheet from its `<row r>` and `<c r>` (or their order when r is missing)."""

    def __init__(self, limits: Limits, before: int) -> None:
        self.limits = limits
        self.before = before
        self.row = 0
        self.col = 0
        self.last_row = 0
        self.last_col = 0
        self.total = before
        self.columns: dict[str, int] = {}

    def feed(self, text: str) -> None:
        if not self._feed_fast(text):
            self._feed_tags(text)

    def _feed_fast(self, text: str) -> bool:
        """The same result as `_feed_tags` for a piece written the way spreadsheet programs write
        (`<row r="n"`, `<c r="A1"`), with the loops in the regex engine; False (and nothing
        changed) when the piece is written otherwise or when something in it may be refused, for
        `_feed_tags` to decide with its exact reason."""
        rows = _ROW_FAST.findall(text)
        cells = _CELL_FAST.findall(text)
        if not _every_tag_has_r_first(text, len(rows) + len(cells)):
            return False
        limits = self.limits
        last_row, last_col = self.last_row, self.last_col
        if rows:
            numbers = list(map(int, rows))
            if min(numbers) == 0 or max(numbers) > limits.max_row:
                return False
        if cells:
            letters, digits, closes = zip(*cells, strict=True)
            numbers = list(map(int, digits))
            columns = {ref: self.columns.get(ref) or column_number(ref) for ref in set(letters)}
            if min(numbers) == 0 or max(numbers) > limits.max_row or max(columns.values()) > limits.max_col:
                return False
            # Empty cells that only carry a format (`<c r="A9" s="3"/>`) do not count in the extent.
            filled = [i for i, close in enumerate(closes) if not close]
            if filled:
                last_row = max(last_row, max(numbers[i] for i in filled))
                last_col = max(last_col, max(columns[letters[i]] for i in filled))
                if self.before + last_row * last_col > limits.max_cells:
                    return False
            self.columns.update(columns)
        # The position after the piece, for a following cell written without its reference.
        last_row_tag, last_cell_tag = text.rfind("<row"), max(text.rfind("<c "), text.rfind("<c/"), text.rfind("<c>"))
        if rows:
            self.row, self.col = int(rows[-1]), 0
        if cells and last_cell_tag > last_row_tag:
            self.col = self.columns[cells[-1][0]]
        if last_row > self.last_row or last_col > self.last_col:
            self.last_row, self.last_col = last_row, last_col
            self.total = self.before + last_row * last_col
        return True

    def _feed_tags(self, text: str) -> None:
        limits = self.limits
        for name, letters, digits, rest in _SHEET_TAG.findall(text):
            if not digits:  # r missing, not first, or not letters and digits
                found = _ATTR_R.search(rest)
                if found is not None:
                    ref = found.group(1) if found.group(1) is not None else found.group(2)
                    parts = _REF.fullmatch(ref.strip())
                    if parts is None:
                        raise _Refused(Code.GRID_TOO_LARGE, f'địa chỉ ô không hợp lệ "{ref[:20]}"')
                    letters, digits = parts.groups()
            if name == "row":
                if letters or (digits and int(digits) == 0):
                    raise _Refused(Code.GRID_TOO_LARGE, f'số dòng không hợp lệ "{letters}{digits}"')
                self.row = int(digits) if digits else self.row + 1
                if self.row > limits.max_row:
                    raise _Refused(Code.GRID_TOO_LARGE, f"dòng {short(self.row)}, giới hạn {short(limits.max_row)}")
                self.col = 0
                continue
            if digits:
                row = int(digits)
                if not letters or row == 0:
                    raise _Refused(Code.GRID_TOO_LARGE, f'địa chỉ ô không hợp lệ "{letters}{digits}"')
                col = self.columns.get(letters)
                if col is None:
                    col = self.columns[letters] = column_number(letters)
            else:
                col, row = self.col + 1, max(self.row, 1)
            self.col = col
            if row > limits.max_row or col > limits.max_col:
                raise _Refused(Code.GRID_TOO_LARGE, f"ô {_cell_name(col, row)} nằm ngoài giới hạn bảng tính")
            if rest.rstrip().endswith("/"):
                continue  # an empty cell that only carries a format: the readers skip it
            if row > self.last_row or col > self.last_col:
                self.last_row = max(self.last_row, row)
                self.last_col = max(self.last_col, col)
                self.total = self.before + self.last_row * self.last_col
                if self.total > limits.max_cells:
                    reason = _extent_reason(col, row, self.last_col, self.last_row, limits)
                    raise _Refused(Code.GRID_TOO_LARGE, reason)


class _SheetBounds(_Scanner):
    """A quick upper bound of a worksheet's extent, from a few searches over each piece that the
    regex engine runs with no work of ours per cell: the last `<row r>` of the piece gives a bound R
    (R itself, or the largest number of as many digits); then one search finds any `<row>` tag that
    is not `<row r="n"` with 1 <= n <= R, and one any `<c>` tag that is not `<c r="Xn"` with a
    one-letter column (two letters, on a second search, when there is one) and 1 <= n <= R, each
    followed by a space, "/" or ">". When none is found the piece holds no cell beyond R rows and 26
    (or 702) columns. Raises `_Undecided` otherwise, or when a tag has a namespace prefix, or the
    bound passes the limits; the caller then runs the exact scan (`_SheetScan`) on the whole file. So
    this never lets through what the exact scan refuses: its bound is never smaller than the exact
    extent."""

    def __init__(self, limits: Limits, before: int) -> None:
        self.limits = limits
        self.before = before
        self.total = before
        self.rows = 0  # bound of the last row
        self.cols = 0  # bound of the last column

    def feed(self, text: str) -> None:
        if _PREFIX_HINT.search(text):
            raise _Undecided
        limits = self.limits
        last = _LAST_ROW.match(text, max(0, text.rfind('<row r="')))
        if last is None:
            if _ANY_TAG.search(text):  # cells without a row, or a <row> written otherwise
                raise _Undecided
            return
        rows = int(last.group(1))
        digits = len(last.group(1))
        bound = 10**digits - 1  # one pattern for every R of that many digits: compiled once
        if self.before + max(self.rows, bound) * max(self.cols, 26) > limits.max_cells:
            bound = rows  # the exact R, when the round bound is not enough (a long sheet)
        if bound == 0 or bound > limits.max_row:
            raise _Undecided
        if _bound_pattern("row", bound).search(text):
            raise _Undecided
        # One letter (26 columns), or two (702): the first that every <c> tag keeps to.
        cols = next(
            (cols for letters, cols in _COLUMN_BOUNDS if not _bound_pattern("c", bound, letters).search(text)), 0
        )
        if cols == 0 or cols > limits.max_col:
            raise _Undecided
        if '<c r="' in text:  # rows alone do not extend the filled area
            self.rows = max(self.rows, bound)
            self.cols = max(self.cols, cols)
        self.total = self.before + self.rows * self.cols
        if self.total > limits.max_cells:
            raise _Undecided


_PREFIX_HINT = re.compile(r":(?:c|row)[\s/>]")  # a tag with a namespace prefix, maybe
_LAST_ROW = re.compile(r'<row r="([0-9]{1,7})"')
_COLUMN_BOUNDS = ((1, 26), (2, 702))  # letters of a column, and how many columns they name


@functools.lru_cache(maxsize=64)
def _bound_pattern(tag: str, rows: int, letters: int = 1) -> re.Pattern[str]:
    """A `<row>` (or `<c>`) tag that is not written `<row r="n"` (`<c r="Xn"`, at most `letters`
    letters) with 1 <= n <= `rows`, then a space, "/" or ">"."""
    column = f"[A-Z]{{1,{letters}}}" if tag == "c" else ""
    return re.compile(rf'<{tag}(?! r="{column}{_at_most(rows)}"[\s/>])(?=[\s/>])')


def _at_most(number: int) -> str:
    """A regular expression for the whole numbers from 1 to `number` (>= 1), without leading zeros."""
    text = str(number)
    if set(text) == {"9"}:  # every number of up to so many digits; possessive: no backtracking into it
        return f"[1-9][0-9]{{0,{len(text) - 1}}}+"
    options = [f"[1-9][0-9]{{0,{len(text) - 2}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            options.append(f"{text[:i]}[{low}-{int(digit) - 1}][0-9]{{{len(text) - i - 1}}}")
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class _Markers:
    """Whether a worksheet part holds any of `UNKNOWN_MARKERS` (an error value or a formula, maybe),
    fed piece by piece: a marker may straddle two pieces."""

    def __init__(self, start: str) -> None:
        self.found = _has_marker(start)
        self.tail = start[-8:]

    def feed(self, text: str) -> None:
        if self.found:
            return
        self.found = (
            _has_marker(self.tail + text[:8])
            or _ERROR_MARKER.search(text) is not None
            # "<f>", "<f ", ":f>", ":f ": first "f>" or "f " anywhere, rare in a sheet, then what precedes
            or any(hit.start() and text[hit.start() - 1] in "<:" for hit in _FORMULA_MARKER.finditer(text))
        )
        self.tail = text[-8:]


_ERROR_MARKER = re.compile('t="e"')
_FORMULA_MARKER = re.compile("f[ >]")


def _has_marker(text: str) -> bool:
    return any(marker in text for marker in UNKNOWN_MARKERS)


def _cell_name(col: int, row: int) -> str:
    if col > 16_384 * 26:
        return f"cột {short(col)} dòng {short(row)}"
    return f"{column_letter(col - 1)}{row}"


def _extent_reason(col: int, row: int, last_col: int, last_row: int, limits: Limits) -> str:
    if col * row > limits.max_cells:
        return f"ô {_cell_name(col, row)}"
    return f"vùng dữ liệu đến ô {_cell_name(last_col, last_row)} vượt {short(limits.max_cells)} ô"


_ODS_TAG = re.compile(r"<(/?)(?:[A-Za-z_][\w.\-]*:)?(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^<>]*)")
_ODS_ROWS = re.compile(r"""(?<![\w.\-])(?:[\w.\-]+:)?number-rows-repeated\s*=\s*["']\s*(\d{1,15})""")
_ODS_COLS = re.compile(r"""(?<![\w.\-])(?:[\w.\-]+:)?number-columns-repeated\s*=\s*["']\s*(\d{1,15})""")
_ODS_VALUE = re.compile(r"""(?<![\w.\-])(?:[\w.\-]+:)?(?:value-type|formula)\s*=""")


class _OdsScan(_Scanner):
    """The extent of each table of an ODS `content.xml`, repeated rows and cells counted.

    Only filled cells (with a value type or a formula) count: LibreOffice writes the empty rest of a
    sheet as one empty row repeated a million times, which the readers skip.
    """

    def __init__(self, limits: Limits, before: int) -> None:
        self.limits = limits
        self.total = before
        self.tables = 0
        self._new_table()

    def _new_table(self) -> None:
        self.before = self.total
        self.row = 0  # rows before the current one
        self.row_repeat = 1
        self.row_filled = 0  # last filled column of the current row
        self.col = 0
        self.last_row = 0
        self.last_col = 0

    def feed(self, text: str) -> None:
        for tag in _ODS_TAG.finditer(text):
            closing, name, attrs = tag.groups()
            if name == "table":
                if not closing:
                    self.tables += 1
                    self._new_table()
            elif name == "table-row":
                if closing:
                    self._end_row()
                else:
                    repeat = _ODS_ROWS.search(attrs)
                    self.row_repeat = max(1, int(repeat.group(1))) if repeat else 1
                    self.row_filled = 0
                    self.col = 0
                    if attrs.rstrip().endswith("/"):
                        self._end_row()
            elif not closing:
                repeat = _ODS_COLS.search(attrs)
                count = max(1, int(repeat.group(1))) if repeat else 1
                self.col += count
                if _ODS_VALUE.search(attrs):
                    self.row_filled = self.col

    def _end_row(self) -> None:
        self.row += self.row_repeat
        if not self.row_filled:
            return
        self.last_row = self.row
        self.last_col = max(self.last_col, self.row_filled)
        self.total = self.before + self.last_row * self.last_col
        limits = self.limits
        if self.last_row > limits.max_row or self.last_col > limits.max_col or self.total > limits.max_cells:
            raise _Refused(
                Code.GRID_TOO_LARGE,
                f"ô lặp lại thành vùng {short(self.last_row)} dòng × {short(self.last_col)} cột, "
                f"giới hạn {short(limits.max_cells)} ô",
            )
        self.row_filled = 0


# --- OLE2 compound files (xls, encrypted OOXML) -----------------------------------------------------

_FREE, _END, _MAXREG = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFA
_BIFF_BOF = frozenset({0x0009, 0x0209, 0x0409, 0x0809})
_FILEPASS, _BIFF_EOF = 0x002F, 0x000A


@dataclass(frozen=True)
class _Entry:
    name: str
    type: int  # 1 storage, 2 stream, 5 root
    start: int
    size: int


class _Cfb:
    """Just enough of MS-CFB to list the streams and read one, refusing loops and out-of-file sectors."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 512:
            raise _corrupt("tệp .xls bị cắt cụt")
        shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if shift not in (9, 12) or mini_shift != 6:
            raise _corrupt("phần đầu tệp .xls không hợp lệ")
        self.data = data
        self.size = 1 << shift
        self.count = (len(data) + self.size - 1) // self.size - 1  # sectors after the header
        first_dir, _, cutoff, first_minifat, _, first_difat = struct.unpack_from("<6I", data, 0x30)
        self.cutoff = cutoff if 0 < cutoff <= 1 << 20 else 4096
        difat = list(struct.unpack_from("<109I", data, 0x4C))
        seen: set[int] = set()
        sector = first_difat
        while sector < _MAXREG:
            if sector in seen:
                raise _corrupt("vòng lặp trong bảng cấp phát của tệp .xls")
            seen.add(sector)
            values = struct.unpack(f"<{self.size // 4}I", self._sector(sector))
            difat.extend(values[:-1])
            sector = values[-1]
        fat: list[int] = []
        for sector in difat:
            if sector < min(_MAXREG, self.count):
                fat.extend(struct.unpack(f"<{self.size // 4}I", self._sector(sector)))
            elif sector < _MAXREG:  # past the end: keep the numbering of the sectors that follow
                fat.extend([_FREE] * (self.size // 4))
        self.fat = fat
        directory = self._read(first_dir, self.fat, self.size, None)
        self.entries = [_entry(directory[i : i + 128], self.size) for i in range(0, len(directory) - 127, 128)]
        if not self.entries or self.entries[0].type != 5:
            raise _corrupt("thư mục của tệp .xls không hợp lệ")
        self.first_minifat = first_minifat

    def _sector(self, sector: int) -> bytes:
        if sector >= self.count:
            raise _corrupt("tệp .xls trỏ ra ngoài tệp (bị cắt cụt hoặc hỏng)")
        offset = (sector + 1) * self.size
        return self.data[offset : offset + self.size].ljust(self.size, b"\0")

    def _read(self, start: int, fat: list[int], size: int, length: int | None, mini: bytes | None = None) -> bytes:
        """A chain of sectors (of `mini` when given) from `start`, cut at `length`."""
        parts, seen, sector = [], set(), start
        while sector != _END:
            if sector >= len(fat) or sector in seen:
                raise _corrupt("chuỗi dữ liệu của tệp .xls bị vòng lặp hoặc đứt")
            seen.add(sector)
            if mini is not None:
                if (sector + 1) * 64 > len(mini):
                    raise _corrupt("tệp .xls trỏ ra ngoài vùng dữ liệu nhỏ")
                parts.append(mini[sector * 64 : (sector + 1) * 64])
            else:
                parts.append(self._sector(sector))
            if length is not None and len(parts) * size >= length:
                break
            sector = fat[sector]
        data = b"".join(parts)
        return data if length is None else data[:length]

    def stream(self, entry: _Entry) -> bytes:
        if entry.size >= self.cutoff:
            return self._read(entry.start, self.fat, self.size, entry.size)
        root = self.entries[0]
        mini = self._read(root.start, self.fat, self.size, root.size) if root.start != _END else b""
        minifat_bytes = (
            self._read(self.first_minifat, self.fat, self.size, None) if self.first_minifat < _MAXREG else b""
        )
        minifat = list(struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes[: len(minifat_bytes) // 4 * 4]))
        if entry.size == 0:
            return b""
        return self._read(entry.start, minifat, 64, entry.size, mini)


def _entry(raw: bytes, sector_size: int) -> _Entry:
    (name_len,) = struct.unpack_from("<H", raw, 64)
    name = raw[: max(0, min(name_len, 64) - 2)].decode("utf-16-le", "replace")
    start, size = struct.unpack_from("<II", raw, 116)
    if sector_size == 4096:
        (size,) = struct.unpack_from("<Q", raw, 120)
    return _Entry(name, raw[66], start, size)


def _check_cfb(data: bytes, kind: str) -> None:
    cfb = _Cfb(data)
    streams = {e.name.lower(): e for e in cfb.entries if e.type in (1, 2)}
    if "encryptedpackage" in streams or "encryptioninfo" in streams:
        raise _Refused(Code.PASSWORD_PROTECTED, "tệp Excel được mã hóa bằng mật khẩu")
    entry = streams.get("workbook") or streams.get("book")
    if entry is None or entry.type != 2:
        if kind == "xls":
            raise _corrupt("không có phần dữ liệu bảng tính (Workbook) trong tệp .xls")
        return  # a Word document or another OLE file: not a spreadsheet
    if _biff_encrypted(cfb.stream(entry)):
        raise _Refused(Code.PASSWORD_PROTECTED, "tệp .xls được mã hóa bằng mật khẩu")
    if kind != "xls":  # intake did not recognise it (stream names in other letter case)
        raise _Refused(Code.UNSUPPORTED_FORMAT, "tệp .xls có cấu trúc không chuẩn")


def _biff_encrypted(stream: bytes) -> bool:
    """Whether the workbook globals (BOF ... EOF) hold a FILEPASS record."""
    pos = 0
    while pos + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, pos)
        if kind == _FILEPASS:
            return True
        if kind == _BIFF_EOF:
            return False
        pos += 4 + length
    return False


# --- everything else ----------------------------------------------------------------------------

_MAGIC = (
    (b"%PDF", "tệp PDF"),
    (b"\xff\xd8\xff", "ảnh JPEG"),
    (b"\x89PNG", "ảnh PNG"),
    (b"GIF8", "ảnh GIF"),
    (b"Rar!", "tệp nén RAR"),
    (b"7z\xbc\xaf", "tệp nén 7z"),
    (b"\x1f\x8b", "tệp nén gzip"),
    (b"{\\rtf", "văn bản RTF"),
)


def _other(path: Path, head: bytes) -> Refusal | None:
    if len(head) >= 8:
        kind, length = struct.unpack_from("<HH", head)
        if kind in _BIFF_BOF and 4 <= length <= 20:
            return Refusal(Code.UNSUPPORTED_FORMAT, "bảng tính Excel đời cũ (Excel 4.0 trở về trước)")
    for magic, words in _MAGIC:
        if head.startswith(magic):
            return Refusal(Code.NOT_SPREADSHEET, words)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return Refusal(Code.UNSUPPORTED_FORMAT, "tệp CSV")
    if suffix not in _SPREADSHEET_SUFFIXES:
        return None
    text = _text(head)
    if text is None:
        return None
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in lowered:
        what = "bảng tính XML 2003"
    elif lowered.startswith(("<!doctype html", "<html", "<table", "<meta", "<head", "<body")):
        what = "trang web HTML"
    elif lowered.startswith("<"):
        what = "tệp XML"
    else:
        what = "tệp văn bản (CSV/TXT)"
    return Refusal(Code.UNSUPPORTED_FORMAT, f"{what} đặt tên {suffix}")


def _text(head: bytes) -> str | None:
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, "replace")
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the end of the head is still UTF-8; anything else is a legacy code page.
        cut = exc.start >= len(head) - 4
        text = head[: exc.start].decode("utf-8") if cut else head.decode("cp1258", "replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    return text if controls <= len(text) // 100 else None
