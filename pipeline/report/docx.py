"""The report model as the official document (DOCX) and, through LibreOffice, its PDF.

`write_report_docx(path, report)` writes the `Report` with python-docx in the format of a Vietnamese
administrative document (Nghị định 30/2020/NĐ-CP, spec §5): A4, margins 20/20/30/15 mm, Times New
Roman, body 14 pt justified; the two-column header block without borders; the title, the sections,
"Nơi nhận" and the signature block; then the appendices in a landscape section; page numbers in the
header, centred, from page 2. Every word and number comes from the model: this module only lays it
out. The officer's text that is still its hint is highlighted. Tables: a row never splits across
pages, the header row repeats, a short table stays whole with its title, a long one never leaves
its last rows and its total alone on the next page, and the closing paragraph stays with the
signature. `docx_to_pdf(docx, out_dir)` converts it with LibreOffice, or returns None without it.

Text from the unions' files is written as text runs (python-docx escapes it); characters XML cannot
hold are dropped.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.parts.story import StoryPart
from docx.section import Section as DocxSection
from docx.shared import Length, Mm, Pt, Twips
from docx.table import Table as DocxTable
from docx.table import _Cell, _Row
from docx.text.paragraph import Paragraph as DocxParagraph

from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.report.model import (
    Appendix,
    Block,
    Bullets,
    Chart,
    Paragraph,
    Report,
    Section,
    Table,
    fit_widths,
)

FONT = "Times New Roman"
PDF_TIMEOUT = 180  # seconds: a first start of LibreOffice with a fresh profile takes a few
NO_LIBREOFFICE = (
    "Không tìm thấy LibreOffice (lệnh soffice) nên chưa tạo được bản PDF của báo cáo. "
    "Hãy cài LibreOffice rồi chạy lại, hoặc mở tệp DOCX bằng Word và lưu thành PDF."
)
# Characters XML cannot hold: dropped; line breaks: spaces.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_BREAKS = re.compile(r"[\t\n\r]+")
A4 = (Mm(210), Mm(297))

# Page setup (Nghị định 30/2020/NĐ-CP, Phụ lục I): A4; top and bottom 20–25 mm, left 30–35 mm,
# right 15–20 mm. The landscape appendices keep the same margins on the same edges.
MARGINS = {
    side: Twips(math.ceil(mm * 1440 / 25.4))  # whole twips, never under the millimetres
    for side, mm in (("top", 20), ("bottom", 20), ("left", 30), ("right", 15))
}
PORTRAIT_WIDTH = 210 - 30 - 15  # mm of text
LANDSCAPE_WIDTH = 297 - 30 - 15
BODY_PT = 14
FIRST_LINE = Mm(10)

# Children orders of the OOXML schema, for the properties python-docx has no API for.
_TBL_PR = (
    "w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize", "w:tblStyleColBandSize",
    "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar",
    "w:tblLook", "w:tblCaption", "w:tblDescription",
)  # fmt: skip
_TR_PR = (
    "w:cnfStyle", "w:divId", "w:gridBefore", "w:gridAfter", "w:wBefore", "w:wAfter", "w:cantSplit", "w:trHeight",
    "w:tblHeader", "w:tblCellSpacing", "w:jc", "w:hidden", "w:ins", "w:del", "w:trPrChange",
)  # fmt: skip
_P_PR = (
    "w:pStyle", "w:keepNext", "w:keepLines", "w:pageBreakBefore", "w:framePr", "w:widowControl", "w:numPr",
    "w:suppressLineNumbers", "w:pBdr", "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
    "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
    "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
    "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr",
    "w:sectPr", "w:pPrChange",
)  # fmt: skip
_R_PR = (
    "w:rStyle", "w:rFonts", "w:b", "w:bCs", "w:i", "w:iCs", "w:caps", "w:smallCaps", "w:strike", "w:dstrike",
    "w:outline", "w:shadow", "w:emboss", "w:imprint", "w:noProof", "w:snapToGrid", "w:vanish", "w:webHidden",
    "w:color", "w:spacing", "w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect",
    "w:bdr", "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout",
    "w:specVanish", "w:oMath",
)  # fmt: skip


def _put(parent: BaseOxmlElement, child: BaseOxmlElement, order: Sequence[str]) -> BaseOxmlElement:
    """Replace `parent`'s child of the same tag by `child`, at its place in the schema's order."""
    tag = child.tag
    for old in parent.findall(tag):
        parent.remove(old)
    name = next(t for t in order if qn(t) == tag)
    parent.insert_element_before(child, *order[order.index(name) + 1 :])
    return child


def _element(tag: str, **attrs: str) -> BaseOxmlElement:
    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


# --- styles ---------------------------------------------------------------------------------------------


def _fonts(rpr: BaseOxmlElement) -> None:
    """Times New Roman for every script, with no theme font that would take precedence."""
    fonts = _element("w:rFonts", ascii=FONT, hAnsi=FONT, cs=FONT, eastAsia=FONT)
    _put(rpr, fonts, _R_PR)


@dataclass(frozen=True)
class Look:
    """How a paragraph style looks."""

    size: float = BODY_PT
    bold: bool = False
    italic: bool = False
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT
    first_line: Length | None = None
    before: float = 0
    after: float = 0
    line: float | None = None  # a multiple of single spacing; None: single
    keep_next: bool = False


def _paragraph_style(doc: DocumentObject, name: str, look: Look, base: str = "Normal") -> None:
    styles = doc.styles
    style = styles[name] if name in [s.name for s in styles] else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = styles[base]
    style.quick_style = True
    font = style.font
    font.name = FONT
    _fonts(style.element.get_or_add_rPr())
    font.size = Pt(look.size)
    font.bold = look.bold
    font.italic = look.italic
    rpr = style.element.get_or_add_rPr()
    for color in rpr.findall(qn("w:color")):
        rpr.remove(color)
    fmt = style.paragraph_format
    fmt.alignment = look.align
    fmt.first_line_indent = look.first_line
    fmt.left_indent = None
    fmt.space_before = Pt(look.before)
    fmt.space_after = Pt(look.after)
    if look.line is None:
        fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
    else:
        fmt.line_spacing = look.line
    fmt.keep_with_next = look.keep_next
    fmt.widow_control = True


BODY = "Report Body"
CAPTION = "Table Caption"
NOTE = "Table Note"
CELL = "Table Text"
CELL_NUMBER = "Table Number"
CELL_HEAD = "Table Heading"
SMALL = "Appendix Table Text"
SMALL_NUMBER = "Appendix Table Number"
SMALL_HEAD = "Appendix Table Heading"
CENTRED = WD_ALIGN_PARAGRAPH.CENTER
JUSTIFIED = WD_ALIGN_PARAGRAPH.JUSTIFY


def _styles(doc: DocumentObject) -> None:
    """Normal: Times New Roman 14, Vietnamese; the report's paragraph styles on top of it."""
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _fonts(rpr)
    for sz in ("w:sz", "w:szCs"):
        _put(rpr, _element(sz, val=str(BODY_PT * 2)), _R_PR)
    _put(rpr, _element("w:lang", val="vi-VN", eastAsia="vi-VN", bidi="ar-SA"), _R_PR)
    ppr = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
    _put(ppr, _element("w:spacing", after="0", line="240", lineRule="auto"), _P_PR)

    _paragraph_style(doc, "Normal", Look())
    doc.styles["Normal"].base_style = None
    body = Look(align=JUSTIFIED, first_line=FIRST_LINE, after=6, line=1.15)
    _paragraph_style(doc, BODY, body)
    # Section headings: "I. ..." and "1. ...", bold, in the navigation pane (outline levels 1, 2).
    for name in ("Heading 1", "Heading 2"):
        _paragraph_style(
            doc,
            name,
            Look(bold=True, align=JUSTIFIED, first_line=FIRST_LINE, before=6, after=6, line=1.15, keep_next=True),
        )
    _paragraph_style(doc, CAPTION, Look(size=13, bold=True, align=CENTRED, before=6, after=6, keep_next=True))
    _paragraph_style(doc, NOTE, Look(size=12, italic=True, align=JUSTIFIED, before=3, after=6))
    # Table cells: a point of air above and below the text.
    _paragraph_style(doc, CELL, Look(size=12, before=1, after=1))
    _paragraph_style(doc, CELL_NUMBER, Look(size=12, align=CENTRED, before=1, after=1))
    _paragraph_style(doc, CELL_HEAD, Look(size=12, bold=True, align=CENTRED, before=1, after=1))
    _paragraph_style(doc, SMALL, Look(size=11, before=1, after=1))
    _paragraph_style(doc, SMALL_NUMBER, Look(size=11, align=CENTRED, before=1, after=1))
    _paragraph_style(doc, SMALL_HEAD, Look(size=11, bold=True, align=CENTRED, before=1, after=1))


# --- paragraphs and tables ------------------------------------------------------------------------------

# The paragraph styles' ids by name, per document: python-docx finds a style given by name in a
# scan of all the document's styles, 2 ms a paragraph (seconds for the lists of a provincial report).
_STYLE_IDS: weakref.WeakKeyDictionary[StoryPart, dict[str, str | None]] = weakref.WeakKeyDictionary()


def _style_id(part: StoryPart, name: str) -> str | None:
    """The id of the paragraph style `name` (None for the default one), as `Paragraph.style` sets it."""
    ids = _STYLE_IDS.setdefault(part, {})
    if name not in ids:
        ids[name] = part.get_style_id(name, WD_STYLE_TYPE.PARAGRAPH)
    return ids[name]


def _paragraph(
    where: DocumentObject | _Cell,
    text: str = "",
    style: str = "Normal",
    *,
    bold: bool | None = None,
    italic: bool | None = None,
    underline: bool | None = None,
    size: float | None = None,
    align: WD_ALIGN_PARAGRAPH | None = None,
    before: float | None = None,
    after: float | None = None,
    first: bool = False,
) -> DocxParagraph:
    """A paragraph with its text in one run (so a jinja tag is never split); `first`: a cell's own."""
    p = where.paragraphs[0] if first else where.add_paragraph()
    p._p.style = _style_id(where.part, style)
    if text:
        run = p.add_run(text)
        run.bold, run.italic, run.underline = bold, italic, underline
        if size is not None:
            run.font.size = Pt(size)
    if align is not None:
        p.alignment = align
    if before is not None:
        p.paragraph_format.space_before = Pt(before)
    if after is not None:
        p.paragraph_format.space_after = Pt(after)
    return p


def _rule_below(p: DocxParagraph, indent_mm: float) -> None:
    """A short line under a centred heading (the line under the issuer's name or the subject)."""
    ppr = p._p.get_or_add_pPr()
    border = _element("w:pBdr")
    border.append(_element("w:bottom", val="single", sz="6", space="1", color="auto"))
    _put(ppr, border, _P_PR)
    p.paragraph_format.left_indent = Mm(indent_mm)
    p.paragraph_format.right_indent = Mm(indent_mm)
    p.paragraph_format.first_line_indent = Mm(0)
    p.paragraph_format.line_spacing = Pt(4)
    p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY


def _table(doc: DocumentObject, widths_mm: Sequence[float], *, borders: bool = True) -> DocxTable:
    """A table of fixed column widths, centred; with thin borders or none at all."""
    table = doc.add_table(rows=0, cols=len(widths_mm))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    _put(tbl_pr, _element("w:tblW", w=str(int(Mm(sum(widths_mm)).twips)), type="dxa"), _TBL_PR)
    edges = _element("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        attrs = {"val": "single", "sz": "4", "space": "0", "color": "auto"} if borders else {"val": "nil"}
        edges.append(_element(f"w:{edge}", **attrs))
    _put(tbl_pr, edges, _TBL_PR)
    _put(tbl_pr, _element("w:tblLayout", type="fixed"), _TBL_PR)
    margins = _element("w:tblCellMar")
    pad = "57" if borders else "0"  # 1 mm
    for side in ("top", "left", "bottom", "right"):
        margins.append(_element(f"w:{side}", w=pad if side in ("left", "right") else "0", type="dxa"))
    _put(tbl_pr, margins, _TBL_PR)
    for col, width in zip(table.columns, widths_mm, strict=True):
        col.width = Mm(width)
    return table


def _row(table: DocxTable, *, header: bool = False) -> _Row:
    """A new row that is never split across pages; a header row repeats on every page."""
    row = table.add_row()
    tr_pr = row._tr.get_or_add_trPr()
    _put(tr_pr, _element("w:cantSplit"), _TR_PR)
    if header:
        _put(tr_pr, _element("w:tblHeader"), _TR_PR)
    for cell in row.cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    return row


def _page_number(section: DocxSection) -> None:
    """The page number, centred in the header, from the section's second page (NĐ 30: not on page 1)."""
    section.different_first_page_header_footer = True
    section.first_page_header.is_linked_to_previous = False
    section.first_page_header.paragraphs[0].text = ""
    header = section.header
    header.is_linked_to_previous = False
    p = header.paragraphs[0]
    p.style = "Normal"
    p.alignment = CENTRED
    for kind, text in (("begin", None), ("instr", " PAGE "), ("separate", None), ("text", "2"), ("end", None)):
        run = p.add_run()
        if kind == "instr":
            instr = _element("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        elif kind == "text":
            run.text = text or ""
        else:
            run._r.append(_element("w:fldChar", fldCharType=kind))


def _page(section: DocxSection, *, landscape: bool) -> None:
    width, height = A4
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    section.header_distance = section.footer_distance = Mm(10)
    section.gutter = Mm(0)


# --- the document ---------------------------------------------------------------------------------------


def write_report_docx(path: Path, report: Report) -> Path:
    """Write the report to `path` (to a temporary file, then renamed); return `path`."""
    doc = Document()
    _drop_thumbnail(doc)
    props = doc.core_properties
    props.title = _clean(report.document_title)
    props.subject = "Báo cáo gửi LĐLĐ tỉnh"
    props.author = props.last_modified_by = _clean(report.author)
    props.language = "vi-VN"
    props.comments = props.keywords = props.category = props.identifier = props.content_status = ""
    props.version = ""
    props.revision = 1
    props.created = props.modified = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    _styles(doc)
    for p in list(doc.paragraphs):  # python-docx's empty first paragraph
        p._p.getparent().remove(p._p)

    first = doc.sections[0]
    _page(first, landscape=False)
    _page_number(first)
    _header_block(doc, report)
    _title(doc, report)
    for section in report.sections:
        _section(doc, section, 1)
    _closing_and_signature(doc, report)

    appendices = doc.add_section(WD_SECTION.NEW_PAGE)
    _page(appendices, landscape=True)
    appendices.different_first_page_header_footer = False
    appendices.header.is_linked_to_previous = True
    appendices.first_page_header.is_linked_to_previous = True
    for i, appendix in enumerate(report.appendices):
        _appendix(doc, appendix, new_page=i > 0)

    with atomic_path(path) as tmp:
        doc.save(str(tmp))
    return path


def _clean(text: str) -> str:
    """Text without characters XML cannot hold, breaks made spaces."""
    if text.isprintable():  # most text: none of those characters is printable
        return text
    return _NOT_XML.sub("", _BREAKS.sub(" ", text))


def _text(
    where: DocumentObject | _Cell,
    text: str,
    style: str = "Normal",
    *,
    hint: bool = False,
    keep: bool = False,
    **look: object,
) -> DocxParagraph:
    """A paragraph of `text`; the officer's hint italic and highlighted; `keep`: with the next one."""
    p = _paragraph(where, _clean(text), style, **look)  # type: ignore[arg-type]
    if hint:
        for run in p.runs:
            run.italic = True
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
    if keep:
        p.paragraph_format.keep_with_next = True
    return p


def _paragraphs(doc: DocumentObject, texts: Iterable[str], style: str, *, hint: bool = False) -> None:
    """A paragraph of each text, as `_text` writes it (one run; the officer's hint italic and
    highlighted), all of them in one parse: a list of a province's thousand initiatives costs
    milliseconds, not python-docx's tenths of a second."""
    style_id = _style_id(doc.part, style)
    look = '<w:rPr><w:i/><w:highlight w:val="yellow"/></w:rPr>' if hint else "<w:rPr/>"
    xml = [f'<w:p><w:pPr><w:pStyle w:val="{style_id}"/></w:pPr>{_run_xml(text, look)}</w:p>' for text in texts]
    body = doc.element.body
    for p in parse_xml(f"<w:body {nsdecls('w')}>{''.join(xml)}</w:body>"):
        body._insert_p(p)  # before the section's properties, as add_paragraph puts it


def _run_xml(text: str, look: str) -> str:
    """A run (`w:r`) of `text`, cleaned, in the run properties `look` (`w:rPr`), as python-docx's
    `add_run` writes it (its spaces kept at either end); "" when nothing is left of the text."""
    text = _clean(text)
    if not text:
        return ""
    space = ' xml:space="preserve"' if len(text.strip()) < len(text) else ""
    return f"<w:r>{look}<w:t{space}>{xml_escape(text)}</w:t></w:r>"


def _header_block(doc: DocumentObject, report: Report) -> None:
    """Nghị định 30: issuer on the left, national title and motto on the right; number and dateline below."""
    h = report.header
    left, right = 68.0, 107.0  # mm: the block is a little wider than the text, as usual
    table = _table(doc, (left, right), borders=False)
    top = table.add_row().cells
    _text(top[0], h.parent_name, size=13, align=CENTRED, first=True)
    _text(top[0], h.org_name, size=13, bold=True, align=CENTRED)
    _rule_below(_paragraph(top[0]), indent_mm=left / 2 - 12)
    _text(top[1], h.nation, size=13, bold=True, align=CENTRED, first=True)
    _text(top[1], h.motto, size=14, bold=True, underline=True, align=CENTRED)
    bottom = table.add_row().cells
    _text(bottom[0], h.number, size=13, align=CENTRED, before=6, first=True)
    _text(bottom[1], h.dateline, size=14, italic=True, align=CENTRED, before=6, first=True)


def _title(doc: DocumentObject, report: Report) -> None:
    _text(doc, report.title, bold=True, align=CENTRED, before=18)
    _text(doc, report.subtitle, bold=True, align=CENTRED)
    _text(doc, report.period, bold=True, align=CENTRED)
    _rule_below(_paragraph(doc), indent_mm=PORTRAIT_WIDTH / 2 - 20)
    _paragraph(doc, after=6)
    _text(doc, report.opening.text, BODY)


def _section(doc: DocumentObject, section: Section, level: int) -> None:
    _text(doc, section.heading, f"Heading {level}")
    _blocks(doc, section.blocks, PORTRAIT_WIDTH, small=False)
    for sub in section.subsections:
        _section(doc, sub, level + 1)


def _blocks(doc: DocumentObject, blocks: Sequence[Block], width: float, *, small: bool) -> None:
    for block in blocks:
        if isinstance(block, Paragraph):
            _text(doc, block.text, BODY, hint=block.hint)
        elif isinstance(block, Bullets):
            _paragraphs(doc, block.items, BODY, hint=block.hint)
        elif isinstance(block, Table):
            _table_block(doc, block, width, small=small)
        elif isinstance(block, Chart):
            continue  # the charts are drawn by the page and the workbook; the document keeps the tables


def _closing_and_signature(doc: DocumentObject, report: Report) -> None:
    """The closing paragraph kept on the page of the recipients and the signature that follow it."""
    for p in report.closing:
        _text(doc, p.text, BODY, hint=p.hint, keep=True)
    _paragraph(doc, after=6).paragraph_format.keep_with_next = True
    table = _table(doc, (80, 85), borders=False)
    row = _row(table)
    left, right = row.cells
    for cell in (left, right):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    _text(left, report.recipients_title, size=12, bold=True, italic=True, first=True)
    for line in report.recipients:
        _text(left, line, size=11)
    s = report.signature
    _text(right, s.on_behalf, bold=True, align=CENTRED, first=True)
    _text(right, s.title, bold=True, align=CENTRED)
    for _ in range(4):
        _paragraph(right, align=CENTRED)
    _text(right, s.name, bold=True, align=CENTRED)


def _appendix(doc: DocumentObject, appendix: Appendix, *, new_page: bool) -> None:
    heading = _text(doc, appendix.heading, bold=True, align=CENTRED, keep=True)
    heading.paragraph_format.page_break_before = new_page
    _text(doc, appendix.title, bold=True, align=CENTRED, keep=True)
    _text(doc, appendix.attached, italic=True, size=13, align=CENTRED, after=6, keep=True)
    _blocks(doc, appendix.blocks, LANDSCAPE_WIDTH, small=True)


# --- tables -----------------------------------------------------------------------------------------------

HEAD_ROWS = 2  # a table's title and header never end a page: its first rows come with them
TAIL_ROWS = 3  # nor do its last rows (with its total) start one alone
_RIGHT = ("no", "count", "percent", "money", "code", "date")


def _table_block(doc: DocumentObject, block: Table, width: float, *, small: bool) -> None:
    if block.title:
        _text(doc, block.title, CAPTION)
    if not block.rows:
        _text(doc, block.empty, BODY)
        return
    size = 11 if small else 12
    head, text_style, number_style = (SMALL_HEAD, SMALL, SMALL_NUMBER) if small else (CELL_HEAD, CELL, CELL_NUMBER)
    table = _table(doc, fit_widths(block.columns, block.rows, width, size))
    head_id, text_id, number_id = (_style_id(doc.part, name) for name in (head, text_style, number_style))
    grid = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid.gridCol_lst]  # twips
    # The header and the first rows keep with what follows; so do the rows before the last one.
    last = len(block.rows) - 1
    kept = {*range(HEAD_ROWS - 1), *range(max(last + 1 - TAIL_ROWS, 0), last)}
    headers = [(c.header, 1) for c in block.columns]
    xml = [_row_xml(headers, grid, [head_id] * len(grid), head_id, bold=False, keep=True, header=True)]
    by_column = [number_id if c.kind in _RIGHT else text_id for c in block.columns]
    for i, row in enumerate(block.rows):
        cells = zip((c.text for c in row.cells), row.span or (1,) * len(row.cells), strict=True)
        xml.append(_row_xml(cells, grid, by_column, text_id, bold=row.kind != "body", keep=i in kept))
    # Every row in one parse: a table of thousands of rows costs milliseconds, not seconds.
    for tr in parse_xml(f"<w:tbl {nsdecls('w')}>{''.join(xml)}</w:tbl>"):
        table._tbl.append(tr)
    for note in block.notes:
        _text(doc, note, NOTE)


def _row_xml(
    cells: Iterable[tuple[str, int]],
    grid: Sequence[int],
    styles: Sequence[str | None],
    merged_style: str | None,
    *,
    bold: bool,
    keep: bool,
    header: bool = False,
) -> str:
    """A table row (`w:tr`) as python-docx writes one: never split across pages, a header row
    repeated on every page; each cell (its text, the grid columns it spans) centred vertically, as
    wide as its columns, in its column's paragraph style (a merged cell: `merged_style`), its text
    bold in a group, subtotal or total row; `keep`: every paragraph kept with the next."""
    out = ["<w:tr><w:trPr><w:cantSplit/>", "<w:tblHeader/>" if header else "", "</w:trPr>"]
    keep_next = "<w:keepNext/>" if keep else ""
    col = 0
    for text, span in cells:
        style = styles[col] if span == 1 else merged_style
        width = sum(grid[col : col + span])
        merged = f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
        out.append(f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/>{merged}<w:vAlign w:val="center"/></w:tcPr>')
        style_xml = f'<w:pStyle w:val="{style}"/>' if style else ""  # none: the default style
        out.append(f"<w:p><w:pPr>{style_xml}{keep_next}</w:pPr>")
        out.append(_run_xml(text, "<w:rPr><w:b/></w:rPr>" if bold else "<w:rPr/>"))
        out.append("</w:p></w:tc>")
        col += span
    out.append("</w:tr>")
    return "".join(out)


# --- PDF ------------------------------------------------------------------------------------------------


class ConversionError(PipelineError):
    """LibreOffice is installed but could not turn the report into a PDF."""


def docx_to_pdf(docx: Path, out_dir: Path, *, timeout: float = PDF_TIMEOUT) -> Path | None:
    """`out_dir`/<name>.pdf converted by LibreOffice; None when LibreOffice is not installed.

    LibreOffice runs headless with a private, throw-away profile (so it neither meets an open
    LibreOffice nor another conversion), in its own process group, killed whole after `timeout`.
    """
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    if binary is None:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{docx.stem}.pdf"
    with (
        tempfile.TemporaryDirectory(prefix="lo-profile-", ignore_cleanup_errors=True) as profile,
        tempfile.TemporaryDirectory(prefix=".pdf-", dir=out_dir) as work,
    ):
        command = [
            binary,
            "--headless",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            work,
            str(docx.resolve()),
        ]
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # POSIX: its own process group, killed whole below
        ) as process:
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                if hasattr(os, "killpg"):
                    os.killpg(process.pid, signal.SIGKILL)
                else:  # Windows: no process groups here; soffice is the process itself
                    process.kill()
                process.communicate()
                raise ConversionError(
                    f'LibreOffice không chuyển xong "{docx.name}" sang PDF sau {timeout:g} giây; '
                    "hãy thử lại, hoặc mở tệp DOCX bằng Word và lưu thành PDF."
                ) from None
        produced = Path(work) / f"{docx.stem}.pdf"
        if process.returncode != 0 or not produced.is_file():
            detail = (err or out).strip().splitlines()
            raise ConversionError(
                f'LibreOffice không chuyển được "{docx.name}" sang PDF'
                + (f" ({detail[-1]})" if detail else "")
                + "; hãy mở tệp DOCX bằng Word và lưu thành PDF."
            )
        os.replace(produced, target)
    return target


def _drop_thumbnail(doc: DocumentObject) -> None:
    """python-docx's default document carries a thumbnail of itself; a preview would show it."""
    package = doc.part.package
    for rid, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[rid]
