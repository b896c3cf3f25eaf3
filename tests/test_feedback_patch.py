"""The marked-up copy made by patching the union's package (pipeline/render/patch.py): what it
changes, what it copies byte for byte, what it leaves out, and when it hands over to openpyxl."""

from __future__ import annotations

import re
import subprocess
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from lxml import etree

from pipeline.findings import Code, Finding, Location, Severity
from pipeline.render import feedback
from pipeline.render.feedback import AUTHOR, FILLS, SHEET, write_feedback
from pipeline.render.patch import MAIN, REL, Package, Unpatchable
from tests.conftest import CORPUS, soffice

M = f"{{{MAIN}}}"


def finding(sheet: str, ref: str, severity: Severity = Severity.ERROR, value: object = "abc") -> Finding:
    column, row = re.fullmatch(r"([A-Z]+)(\d+)", ref).groups()  # type: ignore[union-attr]
    return Finding(Code.NOT_A_NUMBER, severity, Location("x.xlsx", sheet, int(row), column), "Số", value)


@pytest.fixture
def patched_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy must come from the patch: the openpyxl copy fails the test if it is reached."""

    def refuse(*args: object) -> None:
        raise AssertionError("the copy went through openpyxl")

    monkeypatch.setattr(feedback, "_mark_copy_openpyxl", refuse)


def mark(original: Path, findings: list[Finding], out: Path, settings, kind: str = "xlsx") -> Path:
    out.mkdir(exist_ok=True)
    written = write_feedback(original, kind, original.name, findings, out, settings, stem=original.stem + "-fb")
    assert written.workbook is not None
    return written.workbook


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def first_sheet_part(path: Path) -> str:
    """The part of the workbook's first sheet, through workbook.xml and its relationships."""
    got = parts(path)
    book = etree.fromstring(got["xl/workbook.xml"])
    rid = book.find(f"{M}sheets/{M}sheet").get(f"{{{REL}}}id")
    rels = etree.fromstring(got["xl/_rels/workbook.xml.rels"])
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def canonical(xml: bytes, untab: bool = False) -> bytes:
    """A part's XML in canonical form (C14N), without its tab selection if `untab`."""
    root = etree.fromstring(xml)
    if untab:
        for view in root.iter(f"{M}sheetView"):
            view.attrib.pop("tabSelected", None)
    return etree.tostring(root, method="c14n")


def convert(files: list[Path], fmt: str, out: Path, profile: Path) -> None:
    cmd = [soffice(), "--headless", "--norestore", f"-env:UserInstallation=file://{profile}"]
    subprocess.run([*cmd, "--convert-to", fmt, "--outdir", str(out), *map(str, files)], check=True, timeout=180,
                   capture_output=True)  # fmt: skip


def is_marked(cell, severity: Severity = Severity.ERROR) -> bool:
    return cell.fill.fill_type == "solid" and cell.fill.start_color.rgb[-6:] == FILLS[severity]


# --- a workbook as a union sends it ------------------------------------------------------------


@pytest.mark.slow
def test_every_part_not_marked_is_copied_byte_for_byte(filled, settings, tmp_path, patched_only) -> None:
    original = filled(rows=[{"tac_gia": "An"}], name="b.xlsx")
    assert b't="inlineStr"' in parts(original)["xl/worksheets/sheet3.xml"]  # its text in inline strings
    assert "xl/sharedStrings.xml" not in parts(original)
    copy = mark(original, [finding("Sáng kiến", "C4"), finding("Thông tin đơn vị", "B18", Severity.WARNING)],
                tmp_path / "out", settings)  # fmt: skip
    before, after = parts(original), parts(copy)
    changed = {name for name in before if name in after and before[name] != after[name]}
    # The two marked sheets, the styles that fill them, the workbook that lists one sheet more (and
    # its relationships, and the content types), the sheet whose tab was selected (the listing's is
    # now); the other sheets, the theme and the properties as sent.
    assert changed == {
        "[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml",
        "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml",
    }  # fmt: skip
    assert b'tabSelected="1"' in before["xl/worksheets/sheet1.xml"]
    assert canonical(after["xl/worksheets/sheet1.xml"]) == canonical(before["xl/worksheets/sheet1.xml"], untab=True)
    assert {"xl/worksheets/sheet4.xml", "xl/theme/theme1.xml", "docProps/core.xml", "docProps/app.xml"} <= {
        name for name in before if after.get(name) == before[name]
    }
    assert set(before) <= set(after)
    listing = first_sheet_part(copy)
    assert listing not in before
    added = set(after) - set(before)
    assert added == {listing, "xl/comments1.xml", "xl/comments2.xml", "xl/drawings/vmlDrawing1.vml",
                     "xl/drawings/vmlDrawing2.vml", "xl/worksheets/_rels/sheet2.xml.rels",
                     "xl/worksheets/_rels/sheet3.xml.rels"}  # fmt: skip

    wb = openpyxl.load_workbook(copy)
    assert wb.sheetnames[0] == SHEET and wb.active.title == SHEET
    assert is_marked(wb["Sáng kiến"]["C4"]) and is_marked(wb["Thông tin đơn vị"]["B18"], Severity.WARNING)
    assert "Số" in wb["Sáng kiến"]["C4"].comment.text and wb["Sáng kiến"]["C4"].comment.author == AUTHOR
    # The marked cell keeps what its format had besides the fill: here its font, border and lock.
    source = openpyxl.load_workbook(original)
    for sheet, ref in [("Sáng kiến", "C4"), ("Thông tin đơn vị", "B18")]:
        was, now = source[sheet][ref], wb[sheet][ref]
        for aspect in ("font", "border", "number_format", "protection", "alignment"):
            assert repr(getattr(now, aspect)) == repr(getattr(was, aspect)), (sheet, ref, aspect)
        assert now.value == was.value
    # The listing's part: inline strings, no formula, the payload-looking text neutralised.
    xml = after[listing].decode()
    assert "<f>" not in xml and 't="inlineStr"' in xml


@pytest.mark.slow
def test_the_copy_opens_in_libreoffice_marked_and_reads_as_a_clerk_would(filled, settings, tmp_path,
                                                                          patched_only) -> None:  # fmt: skip
    original = filled(rows=[{"tac_gia": "An"}, {"linh_vuc": "=1+1"}], name="b.xlsx")
    copy = mark(original, [finding("Sáng kiến", "C4"), finding("Sáng kiến", "G5", value="=1+1")], tmp_path / "o",
                settings)  # fmt: skip
    out = tmp_path / "lo"
    convert([copy], "pdf", out, tmp_path / "profile")
    convert([copy], "xlsx", out, tmp_path / "profile")
    text = subprocess.run(["pdftotext", "-layout", str(out / f"{copy.stem}.pdf"), "-"], capture_output=True,
                          check=True, text=True).stdout  # fmt: skip
    assert 'CÁC LỖI CẦN SỬA TRONG TỆP "b.xlsx"' in text and "Trang Sáng kiến, dòng 5" in text
    wb = openpyxl.load_workbook(out / copy.name)
    assert wb.sheetnames[0] == SHEET
    for ref in ("C4", "G5"):
        assert is_marked(wb["Sáng kiến"][ref]) and "Số" in wb["Sáng kiến"][ref].comment.text
    assert wb[SHEET]["E6"].value == "'=1+1"


@pytest.mark.slow
def test_a_macro_workbook_loses_its_macros_and_nothing_else(filled, settings, tmp_path, patched_only) -> None:
    """The copy is an .xlsx: the macros are never carried over (tests/test_hostile.py asks the same
    of every workbook the pipeline writes); every other part of the .xlsm is kept as it was."""
    source = filled(rows=[{"tac_gia": "An"}], name="b.xlsx")
    xlsm = tmp_path / "m.xlsm"
    vba = bytes(range(256)) * 8
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(xlsm, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")  # fmt: skip
                data = data.replace(b"<Default Extension=\"xml\"", b'<Default Extension="bin" ContentType='
                                    b'"application/vnd.ms-office.vbaProject"/><Default Extension="xml"')  # fmt: skip
            if item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rId99" Target="vbaProject.bin" Type='
                                    b'"http://schemas.microsoft.com/office/2006/relationships/vbaProject"/>'
                                    b"</Relationships>")  # fmt: skip
            dst.writestr(item, data)
        dst.writestr("xl/vbaProject.bin", vba)
    assert openpyxl.load_workbook(xlsm, keep_vba=True).vba_archive is not None  # a macro workbook indeed
    copy = mark(xlsm, [finding("Sáng kiến", "C4")], tmp_path / "out", settings, kind="xlsm")
    before, after = parts(xlsm), parts(copy)
    assert "xl/vbaProject.bin" not in after and not any(b"vbaProject" in after[n] for n in after if n.endswith("rels"))
    assert b"macroEnabled" not in after["[Content_Types].xml"] and b"vbaProject" not in after["[Content_Types].xml"]
    assert b"spreadsheetml.sheet.main+xml" in after["[Content_Types].xml"]
    for name in ("xl/worksheets/sheet2.xml", "xl/worksheets/sheet4.xml", "xl/theme/theme1.xml", "docProps/app.xml"):
        assert after[name] == before[name], name
    assert is_marked(openpyxl.load_workbook(copy)["Sáng kiến"]["C4"])


# --- workbooks of other writers ----------------------------------------------------------------


def _shared_strings_book(folder: Path) -> Path:
    path = folder / "shared.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("S")
    ws.set_column(1, 1, 20)
    wrap = wb.add_format({"text_wrap": True, "num_format": "@", "font_name": "Arial", "font_size": 12})
    arial = wb.add_format({"font_name": "Arial", "font_size": 12})
    ws.write_string("A1", "Tên", arial)
    ws.write_string("B2", "Một đoạn chữ rất dài để xuống dòng nhiều lần trong một ô hẹp " * 3, wrap)
    ws.write_formula("C2", "=1+1", arial, 2)
    ws.write_formula("D2", '="a"&"b"', arial, "ab")
    ws.write_formula("E2", "=NOW()", None, "")
    wb.close()
    return path


def test_shared_strings_formulas_and_a_long_wrapped_text(settings, tmp_path, patched_only) -> None:
    """A workbook with a shared string table (xlsxwriter's, as Excel's): the table is copied as it
    is, a marked row of wrapped text is made tall enough to show it, and formulas go, leaving the
    results the file saved."""
    path = _shared_strings_book(tmp_path)
    copy = mark(path, [finding("S", "B2"), finding("S", "C2", Severity.WARNING)], tmp_path / "out", settings)
    before, after = parts(path), parts(copy)
    assert after["xl/sharedStrings.xml"] == before["xl/sharedStrings.xml"]
    sheet = after["xl/worksheets/sheet1.xml"].decode()
    assert not re.search(r"<(\w+:)?f[ >/]", sheet)
    got = openpyxl.load_workbook(copy)["S"]
    assert (got["C2"].value, got["D2"].value, got["E2"].value) == (2, "ab", None)
    assert is_marked(got["B2"]) and is_marked(got["C2"], Severity.WARNING)
    assert got["B2"].font.name == "Arial" and got["B2"].number_format == "@" and got["B2"].alignment.wrap_text
    assert got.row_dimensions[2].height >= 4 * 12  # wrapped over several lines of 12 points
    assert got.parent.sheetnames == [SHEET, "S"]
    assert got.parent[SHEET]["A5"].value == 1 and got.parent[SHEET]["D6"].value == "C2"
    assert (got.parent[SHEET]["A1"].font.name, got.parent[SHEET]["A1"].font.sz) == ("Arial", 14)  # its own font


def _package(path: Path, sheet: str, extra: dict[str, str | bytes] | None = None) -> Path:
    """A small .xlsx of one sheet "S" written by hand, with inline strings and two cell formats."""
    main, r = MAIN, REL
    parts_: dict[str, str | bytes] = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
            'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="'
            'application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{r}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{r}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{r}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{r}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}"><numFmts count="1"><numFmt '
            'numFmtId="164" formatCode="#,##0"/></numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/>'
            '</font><font><b/><sz val="13"/><name val="Cambria"/></font></fonts><fills count="2"><fill><patternFill '
            'patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1">'
            '<border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf '
            'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0" '
            'fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="164" fontId="1" fillId="0" borderId="0" '
            'xfId="0" applyNumberFormat="1" applyFont="1"/><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
            'xfId="0"><protection locked="0"/></xf></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
            'builtinId="0"/></cellStyles></styleSheet>'
        ),
        "xl/worksheets/sheet1.xml": sheet,
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts_.items():
            zf.writestr(name, data)
    return path


def _sheet(body: str, after: str = "", before: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}" xmlns:r="{REL}">'
        f"{before}<sheetData>{body}</sheetData>{after}</worksheet>"
    )


def _inline(ref: str, text: str, style: int = 0) -> str:
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t>{text}</t></is></c>'


GAPS = ["A1", "B2", "C2", "D2", "A4", "E5", "F7"]  # marked cells, most of them not in the sheet


def _gaps_book(folder: Path) -> Path:
    body = (
        f'<row r="2" spans="1:3">{_inline("A2", "a")}<c r="C2" s="1"><v>1500</v></c></row>'
        f'<row r="4" s="2" customFormat="1">{_inline("B4", "b")}</row>'
        f'<row r="6">{_inline("A6", "c")}</row>'
    )
    cols = '<cols><col min="4" max="5" width="20" style="1" customWidth="1"/></cols>'
    return _package(folder / "gaps.xlsx", _sheet(body, before=f'<dimension ref="A2:C6"/>{cols}'))


def test_cells_the_sheet_lacks_are_made_in_their_rows_in_column_order(settings, tmp_path, patched_only) -> None:
    path, refs = _gaps_book(tmp_path), GAPS
    copy = mark(path, [finding("S", ref) for ref in refs], tmp_path / "out", settings)
    xml = etree.fromstring(parts(copy)["xl/worksheets/sheet1.xml"])
    rows = xml.find(f"{M}sheetData")
    got = [(row.get("r"), [c.get("r") for c in row]) for row in rows]
    assert got == [("1", ["A1"]), ("2", ["A2", "B2", "C2", "D2"]), ("4", ["A4", "B4"]), ("5", ["E5"]),
                   ("6", ["A6"]), ("7", ["F7"])]  # fmt: skip
    assert xml.find(f"{M}dimension").get("ref") == "A1:F7"
    assert rows[1].get("spans") is None  # no longer true of the row
    ws = openpyxl.load_workbook(copy)["S"]
    for ref in refs:
        assert is_marked(ws[ref]) and "Số" in ws[ref].comment.text, ref
    # A new cell takes the format the place had: the column's (D, E), the row's (row 4); the cell
    # that was there keeps its own (C2: #,##0 in bold Cambria) under the fill.
    assert ws["C2"].number_format == "#,##0" and ws["C2"].font.name == "Cambria" and ws["C2"].value == 1500
    assert ws["D2"].number_format == "#,##0" and ws["E5"].font.name == "Cambria"
    assert ws["A4"].protection.locked is False and ws["F7"].font.name == "Calibri"


def _commented_book(folder: Path) -> Path:
    path = folder / "comments.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["A1"], ws["B2"], ws["C3"] = "tên", "x", "y"
    ws["A1"].comment = openpyxl.comments.Comment("Ghi chú của đơn vị", "Chị Lan")
    ws["B2"].comment = openpyxl.comments.Comment("Ghi chú cũ ở ô sai", "Chị Lan")
    wb.save(path)
    return path


def test_existing_comments_are_kept_and_a_marked_cells_own_is_replaced(settings, tmp_path, patched_only) -> None:
    path = _commented_book(tmp_path)
    copy = mark(path, [finding("S", "B2"), finding("S", "C3", Severity.WARNING)], tmp_path / "out", settings)
    before, after = parts(path), parts(copy)
    assert set(n for n in after if "comment" in n.lower()) == set(n for n in before if "comment" in n.lower())
    got = openpyxl.load_workbook(copy)["S"]
    assert got["A1"].comment.text == "Ghi chú của đơn vị" and got["A1"].comment.author == "Chị Lan"
    assert "Số" in got["B2"].comment.text and "Ghi chú cũ" not in got["B2"].comment.text
    assert got["C3"].comment.author == AUTHOR and is_marked(got["C3"], Severity.WARNING)
    vml = next(after[n] for n in after if n.endswith(".vml"))
    shapes = etree.fromstring(vml).findall("{urn:schemas-microsoft-com:vml}shape")
    assert len(shapes) == 3 and len({s.get("id") for s in shapes}) == 3  # one note shape a comment


def test_a_legacy_drawing_goes_where_the_schema_has_it(settings, tmp_path, patched_only) -> None:
    margins = '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    after = f'{margins}<tableParts count="0"/>'
    path = _package(tmp_path / "order.xlsx", _sheet(f'<row r="1">{_inline("A1", "a")}</row>', after=after))
    copy = mark(path, [finding("S", "A1")], tmp_path / "out", settings)
    xml = etree.fromstring(parts(copy)["xl/worksheets/sheet1.xml"])
    assert [etree.QName(e).localname for e in xml] == ["sheetData", "pageMargins", "legacyDrawing", "tableParts"]


def test_a_sheet_without_the_relationships_prefix_gets_one(settings, tmp_path, patched_only) -> None:
    sheet = f'<worksheet xmlns="{MAIN}"><sheetData><row r="1">{_inline("A1", "a")}</row></sheetData></worksheet>'
    copy = mark(_package(tmp_path / "p.xlsx", sheet), [finding("S", "A1")], tmp_path / "out", settings)
    ws = openpyxl.load_workbook(copy)["S"]
    assert is_marked(ws["A1"]) and ws["A1"].comment is not None


@pytest.mark.slow
def test_libreoffice_reads_the_created_cells_the_kept_comments_and_the_shared_strings(settings, tmp_path,
                                                                                     patched_only) -> None:  # fmt: skip
    out = tmp_path / "out"
    copies = [
        mark(_gaps_book(tmp_path), [finding("S", ref) for ref in GAPS], out, settings),
        mark(_commented_book(tmp_path), [finding("S", "B2"), finding("S", "C3", Severity.WARNING)], out, settings),
        mark(_shared_strings_book(tmp_path), [finding("S", "B2"), finding("S", "C2")], out, settings),
    ]
    lo = tmp_path / "lo"
    convert(copies, "xlsx", lo, tmp_path / "profile")
    gaps, commented, shared = (openpyxl.load_workbook(lo / p.name) for p in copies)
    for book, refs in [(gaps, GAPS), (commented, ["B2", "C3"]), (shared, ["B2", "C2"])]:
        assert book.sheetnames == [SHEET, "S"]
        for ref in refs:
            cell = book["S"][ref]
            assert cell.fill.fill_type == "solid" and cell.fill.start_color.rgb[-6:] in FILLS.values(), ref
            assert cell.comment is not None and "Số" in cell.comment.text, ref
    assert commented["S"]["A1"].comment.text == "Ghi chú của đơn vị"
    assert gaps["S"]["C2"].value == 1500 and shared["S"]["C2"].value == 2


def test_links_to_other_workbooks_and_the_calculation_chain_are_left_out(settings, tmp_path, patched_only) -> None:
    link = (
        f'<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="{MAIN}" xmlns:r="{REL}"><externalBook '
        'r:id="rId1"><sheetNames><sheetName val="A"/></sheetNames></externalBook></externalLink>'
    )
    link_rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        f'2006/relationships"><Relationship Id="rId1" Type="{REL}/externalLinkPath" '
        'Target="file:///C:/Windows/win.ini" TargetMode="External"/></Relationships>'
    )
    chain = f'<?xml version="1.0" encoding="UTF-8"?><calcChain xmlns="{MAIN}"><c r="B1" i="1"/></calcChain>'
    extra = {
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="S" sheetId="1" r:id="rId1"/></sheets><externalReferences><externalReference r:id="rId3"/>'
            '</externalReferences><definedNames><definedName name="_xlnm.Print_Area" localSheetId="0">S!$A$1:$B$1'
            "</definedName></definedNames></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            f'2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{REL}/externalLink" Target="externalLinks/externalLink1.xml"/>'
            f'<Relationship Id="rId4" Type="{REL}/calcChain" Target="calcChain.xml"/></Relationships>'
        ),
        "xl/externalLinks/externalLink1.xml": link,
        "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels,
        "xl/calcChain.xml": chain,
    }
    sheet = _sheet(f'<row r="1">{_inline("A1", "a")}<c r="B1"><f>[1]A!A1*2</f><v>42</v></c></row>')
    copy = mark(_package(tmp_path / "linked.xlsx", sheet, extra), [finding("S", "A1")], tmp_path / "out", settings)
    after = parts(copy)
    assert not [n for n in after if "externalLink" in n or "calcChain" in n]
    book = etree.fromstring(after["xl/workbook.xml"])
    assert book.find(f"{M}externalReferences") is None
    names = {(n.get("name"), n.get("localSheetId")) for n in book.iter(f"{M}definedName")}
    assert names == {("_xlnm.Print_Area", "1"), ("_xlnm.Print_Titles", "0")}  # the sheet's own moved one along
    assert (
        b"externalLink" not in after["xl/_rels/workbook.xml.rels"]
        and b"calcChain" not in after["xl/_rels/workbook.xml.rels"]
    )
    ws = openpyxl.load_workbook(copy)["S"]
    assert ws["B1"].value == 42 and is_marked(ws["A1"])
    assert ws.print_area == "'S'!$A$1:$B$1"


# --- what the patch leaves to openpyxl ---------------------------------------------------------


def test_a_package_the_patch_does_not_know_is_copied_through_openpyxl(settings, tmp_path, monkeypatch) -> None:
    """A part of a kind the patch does not handle (here data connections): openpyxl makes the copy,
    which is marked all the same."""
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        f'2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId3" Type="{REL}/connections" Target="connections.xml"/></Relationships>'
    )
    connections = f'<?xml version="1.0" encoding="UTF-8"?><connections xmlns="{MAIN}"/>'
    path = _package(tmp_path / "odd.xlsx", _sheet(f'<row r="1">{_inline("A1", "a")}</row>'),
                    {"xl/_rels/workbook.xml.rels": rels, "xl/connections.xml": connections})  # fmt: skip
    with pytest.raises(Unpatchable, match="connections"):
        Package(path)
    used: list[Path] = []
    through = feedback._mark_copy_openpyxl
    monkeypatch.setattr(
        feedback, "_mark_copy_openpyxl", lambda original, *a: used.append(original) or through(original, *a)
    )
    copy = mark(path, [finding("S", "A1")], tmp_path / "out", settings)
    assert used == [path]
    ws = openpyxl.load_workbook(copy)["S"]
    assert is_marked(ws["A1"]) and ws.parent.sheetnames == [SHEET, "S"]


@pytest.mark.parametrize(
    "part",
    [
        "xl/worksheets/sheet1.xml",  # read as a stream
        "xl/styles.xml",  # read whole
    ],
)
def test_an_entity_in_a_part_is_never_expanded(tmp_path, settings, part: str) -> None:
    """The guard refuses a DOCTYPE before any reader; the patch, given one all the same, declines
    the package without expanding anything."""
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(8))
        + "]>"
    )
    sheet = _sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>&i;</t></is></c></row>')
    styles = parts(_package(tmp_path / "s.xlsx", sheet))["xl/styles.xml"].decode()
    extra = {part: bomb + (sheet if part.endswith("sheet1.xml") else styles).split("?>", 1)[1]}
    path = _package(tmp_path / "bomb.xlsx", sheet.replace("&i;", "x"), extra)
    started = time.perf_counter()
    with pytest.raises(Unpatchable), Package(path) as package:
        package.write(tmp_path / "out.xlsx", feedback._notes([finding("S", "A1")], ["S"]),
                      feedback._listing([finding("S", "A1")], "bomb.xlsx", "", ["S"]))  # fmt: skip
    assert time.perf_counter() - started < 2


@pytest.mark.corpus
@pytest.mark.slow
def test_every_corpus_workbook_is_patched_or_declined(tmp_path) -> None:
    """The patch on every .xlsx and .xlsm of the shared corpus that the guard lets through: it
    declines the package (`Unpatchable`: openpyxl makes that copy), or writes a copy whose XML parts
    all parse, whose parts all have a content type, whose first sheet is the listing, whose marked
    cells are filled and commented, with no cell formula left; openpyxl opens it when it opens the
    original (the small ones: openpyxl takes seconds on some large ones)."""
    from pipeline.guard import inspect

    seen: Counter[str] = Counter()
    for path in sorted(CORPUS.rglob("*")):
        kind = path.suffix.lower().lstrip(".")
        if kind not in ("xlsx", "xlsm") or not path.is_file() or inspect(path, kind) is not None:
            continue
        target = tmp_path / "copy.xlsx"
        try:
            with Package(path) as package:
                names = package.sheet_names
                worksheets = [s.name for s in package.sheets if s.kind == "worksheet"]
                if not worksheets:
                    continue  # only chart sheets: no cell to mark
                findings = [finding(worksheets[0], "A1"), finding(worksheets[-1], "C7", Severity.WARNING)]
                notes = feedback._notes(findings, names)
                package.write(target, notes, feedback._listing(findings, path.name, "", names))
        except Unpatchable:
            seen["declined"] += 1
            continue
        seen["patched"] += 1
        got = parts(target)
        types = etree.fromstring(got["[Content_Types].xml"])
        typed = {e.get("PartName", "").lstrip("/").lower() for e in types} | {
            n.lower() for n in got if any(n.lower().endswith("." + e.get("Extension", "").lower()) for e in types)
        }  # fmt: skip
        assert {n.lower() for n in got} - {"[content_types].xml"} <= typed, path
        for name, data in got.items():
            if name.endswith((".xml", ".rels", ".vml")):
                etree.fromstring(data)  # well-formed
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                assert not re.search(rb"<(\w+:)?f[ >/]", data.split(b"<sheetData", 1)[-1].split(b"</sheetData>")[0]), (
                    path
                )
        assert not [n for n in got if "vbaproject" in n.lower() or "externallink" in n.lower()], path
        if path.stat().st_size > 200_000:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's about the parts it does not read
            try:
                opened = openpyxl.load_workbook(path)
            except Exception:
                continue  # nor does it open the original
            wb = openpyxl.load_workbook(target)
        assert wb.sheetnames[0].startswith(SHEET) and len(wb.sheetnames) == len(opened.sheetnames) + 1, path
        first = wb[worksheets[0]]["A1"]
        assert is_marked(first) and first.comment is not None and "Số" in first.comment.text, path
        seen["opened"] += 1
    assert seen["patched"] > 350 and seen["declined"] < 80 and seen["opened"] > 300, seen
