"""Build pipeline/templates/bao-cao.docx, the Word template of the consolidated report (spec §5).

Run `python pipeline/templates/make_docx_template.py [output.docx]` after changing this script and keep the
.docx it writes beside it: the renderer (`pipeline.render.docx`) fills that file with docxtpl, and a
test checks that the kept file is what this script builds.

The template is a Vietnamese administrative document in the format of Nghị định 30/2020/NĐ-CP: A4,
margins 20/20/30/15 mm, Times New Roman, body 14 pt justified; the two-column header block without
borders; title, sections I–V, "Nơi nhận" and the signature block; then the appendices in a
landscape section. Page numbers are in the header, centred, from page 2.

Its jinja tags (docxtpl syntax) read a context of ready-made strings, built by
`pipeline.render.docx.report_context`: every number is already formatted the Vietnamese way, and
every value is escaped by the renderer (autoescape), so the template holds no logic beyond loops
and conditions. Each tag sits whole in one run, so Word's run splitting never breaks one.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Length, Mm, Pt, Twips
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

OUTPUT = Path(__file__).resolve().parent / "bao-cao.docx"
FONT = "Times New Roman"

# Page setup (Nghị định 30/2020/NĐ-CP, Phụ lục I): A4; top and bottom 20–25 mm, left 30–35 mm,
# right 15–20 mm. The landscape appendices keep the same margins on the same edges.
A4 = (Mm(210), Mm(297))
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


def v(expr: str) -> str:
    """A docxtpl variable tag: v("r.label") -> "{{ r.label }}"."""
    return "{{ " + expr + " }}"


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
PLACEHOLDER = "Report Placeholder"
CAPTION = "Table Caption"
NOTE = "Table Note"
CELL = "Table Text"
CELL_NUMBER = "Table Number"
CELL_HEAD = "Table Heading"
SMALL = "Appendix Table Text"
SMALL_NUMBER = "Appendix Table Number"
SMALL_HEAD = "Appendix Table Heading"
HASH = "Appendix Hash"
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
    _paragraph_style(doc, PLACEHOLDER, Look(align=JUSTIFIED, first_line=FIRST_LINE, after=6, line=1.15, italic=True))
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
    _paragraph_style(doc, HASH, Look(size=8, before=1, after=1))
    hash_rpr = doc.styles[HASH].element.get_or_add_rPr()
    _put(hash_rpr, _element("w:rFonts", ascii="Courier New", hAnsi="Courier New", cs="Courier New"), _R_PR)


# --- paragraphs and tables ------------------------------------------------------------------------------


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
) -> Paragraph:
    """A paragraph with its text in one run (so a jinja tag is never split); `first`: a cell's own."""
    p = where.paragraphs[0] if first else where.add_paragraph()
    p.style = style
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


def _rule_below(p: Paragraph, indent_mm: float) -> None:
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


def _table(doc: DocumentObject, widths_mm: Sequence[float], *, borders: bool = True) -> Table:
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


def _row(table: Table, *, header: bool = False) -> _Row:
    """A new row that is never split across pages; a header row repeats on every page."""
    row = table.add_row()
    tr_pr = row._tr.get_or_add_trPr()
    _put(tr_pr, _element("w:cantSplit"), _TR_PR)
    if header:
        _put(tr_pr, _element("w:tblHeader"), _TR_PR)
    for cell in row.cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    return row


def _cells(
    table: Table,
    texts: Sequence[str],
    styles: Sequence[str] | str,
    *,
    header: bool = False,
    bold: bool | None = None,
    span: Sequence[int] | None = None,
) -> _Row:
    """A row of one-paragraph cells; `span` merges cells: (2, 1, ...) makes the first cell two wide."""
    row = _row(table, header=header)
    cells = list(row.cells)
    if span:
        merged, i = [], 0
        for n in span:
            merged.append(cells[i].merge(cells[i + n - 1]) if n > 1 else cells[i])
            i += n
        cells = merged
    names = [styles] * len(cells) if isinstance(styles, str) else list(styles)
    for cell, text, style in zip(cells, texts, names, strict=True):
        _paragraph(cell, text, style, bold=bold, first=True)
    return row


def _tag_row(table: Table, tag: str) -> None:
    """A row holding only a docxtpl row tag ({%tr ... %}): the renderer replaces the whole row."""
    row = table.add_row()
    cell = row.cells[0].merge(row.cells[-1]) if len(row.cells) > 1 else row.cells[0]
    _paragraph(cell, tag, CELL, first=True)


def _page_number(section: Section) -> None:
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


def _page(section: Section, *, landscape: bool) -> None:
    width, height = A4
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    section.header_distance = section.footer_distance = Mm(10)
    section.gutter = Mm(0)


# --- the document ----------------------------------------------------------------------------------------


def _header_block(doc: DocumentObject) -> None:
    """Nghị định 30: issuer on the left, national title and motto on the right; number and dateline below."""
    left, right = 68.0, 107.0  # mm: the block is a little wider than the text, as usual
    table = _table(doc, (left, right), borders=False)
    top = table.add_row().cells
    _paragraph(top[0], "{{ parent_name }}", size=13, align=CENTRED, first=True)
    _paragraph(top[0], "{{ org_name }}", size=13, bold=True, align=CENTRED)
    _rule_below(_paragraph(top[0]), indent_mm=left / 2 - 12)
    _paragraph(top[1], "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=13, bold=True, align=CENTRED, first=True)
    _paragraph(top[1], "Độc lập - Tự do - Hạnh phúc", size=14, bold=True, underline=True, align=CENTRED)
    bottom = table.add_row().cells
    _paragraph(bottom[0], "Số: {{ document_number }}", size=13, align=CENTRED, before=6, first=True)
    _paragraph(bottom[1], "{{ dateline }}", size=14, italic=True, align=CENTRED, before=6, first=True)


def _title(doc: DocumentObject) -> None:
    _paragraph(doc, "BÁO CÁO", bold=True, align=CENTRED, before=18)
    _paragraph(doc, "Kết quả thực hiện {{ programme_name }}", bold=True, align=CENTRED)
    _paragraph(doc, "{{ period }}", bold=True, align=CENTRED)
    _rule_below(_paragraph(doc), indent_mm=PORTRAIT_WIDTH / 2 - 20)
    _paragraph(doc, after=6)
    _paragraph(
        doc,
        "Thực hiện {{ plan_reference }} về việc triển khai thực hiện {{ programme_name }}, "
        "Ban Thường vụ LĐLĐ huyện báo cáo kết quả như sau:",
        BODY,
    )


def _section_i(doc: DocumentObject) -> None:
    doc.add_paragraph("I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI", "Heading 1")
    _paragraph(
        doc,
        "(Đơn vị bổ sung nội dung công tác chỉ đạo, triển khai: các văn bản đã ban hành, hình thức "
        "tuyên truyền, phổ biến Chương trình đến đoàn viên, người lao động.)",
        PLACEHOLDER,
    )
    _paragraph(doc, "Tổng hợp báo cáo của {{ units_reported }} CĐCS đã gửi báo cáo hợp lệ:", BODY)
    _paragraph(doc, "{%p for a in activities %}", BODY)
    _paragraph(doc, "- {{ a.label }}: {{ a.value }}{{ a.end }}", BODY)
    _paragraph(doc, "{%p endfor %}", BODY)


def _share_table(doc: DocumentObject, caption: str, name: str) -> None:
    _paragraph(doc, caption, CAPTION)
    table = _table(doc, (12, 94, 29, 30))
    _cells(table, ("TT", v(f"{name}.label"), "Số sáng kiến", "Tỷ lệ"), CELL_HEAD, header=True)
    _tag_row(table, f"{{%tr for r in {name}.rows %}}")
    _cells(
        table,
        ("{{ r.no }}", "{{ r.label }}", "{{ r.count }}", "{{ r.share }}"),
        (CELL_NUMBER, CELL, CELL_NUMBER, CELL_NUMBER),
    )
    _tag_row(table, "{%tr endfor %}")
    _cells(
        table,
        ("", *(v(f"{name}.total.{k}") for k in ("label", "count", "share"))),
        (CELL_NUMBER, CELL, CELL_NUMBER, CELL_NUMBER),
        bold=True,
    )


def _section_ii(doc: DocumentObject) -> None:
    doc.add_paragraph("II. KẾT QUẢ THỰC HIỆN", "Heading 1")
    doc.add_paragraph("1. Kết quả thực hiện các chỉ tiêu", "Heading 2")
    _paragraph(doc, "Bảng 1. Kết quả thực hiện các chỉ tiêu (tính đến ngày {{ as_of }})", CAPTION)
    table = _table(doc, (10, 60, 30, 20, 19, 26))
    _cells(table, ("TT", "Chỉ tiêu", "Kết quả", "Chỉ tiêu kế hoạch", "Tỷ lệ đạt", "Đánh giá"), CELL_HEAD, header=True)
    _tag_row(table, "{%tr for r in targets %}")
    _cells(
        table,
        ("{{ r.no }}", "{{ r.label }}", "{{ r.actual }}", "{{ r.target }}", "{{ r.ratio }}", "{{ r.verdict }}"),
        (CELL_NUMBER, CELL, CELL_NUMBER, CELL_NUMBER, CELL_NUMBER, CELL_NUMBER),
    )
    _tag_row(table, "{%tr endfor %}")
    _paragraph(doc, "{{ targets_note }}", NOTE)

    doc.add_paragraph("2. Kết quả theo khối", "Heading 2")
    _paragraph(doc, "Bảng 2. Kết quả theo khối", CAPTION)
    table = _table(doc, (38, 15, 17, 16, 16, 19, 15, 29))
    heads = (
        "Khối",
        "Số CĐCS",
        "CĐCS có sáng kiến",
        "Đoàn viên",
        "Sáng kiến",
        "{{ rate_short }}",
        "Đã lên Cổng",
        "Giá trị làm lợi (đồng)",
    )
    _cells(table, heads, CELL_HEAD, header=True)
    numbers = ("units", "units_with_initiatives", "members", "initiatives", "rate", "uploaded", "benefit")
    _tag_row(table, "{%tr for r in by_sector.rows %}")
    _cells(table, ("{{ r.sector }}", *(v(f"r.{k}") for k in numbers)), (CELL, *[CELL_NUMBER] * 7))
    _tag_row(table, "{%tr endfor %}")
    _cells(table, ("Tổng cộng", *(v(f"by_sector.total.{k}") for k in numbers)), (CELL, *[CELL_NUMBER] * 7), bold=True)

    doc.add_paragraph("3. Kết quả theo lĩnh vực và loại giải pháp", "Heading 2")
    _share_table(doc, "Bảng 3. Sáng kiến theo lĩnh vực", "by_field")
    _share_table(doc, "Bảng 4. Sáng kiến theo loại giải pháp", "by_kind")

    doc.add_paragraph("4. Sáng kiến tiêu biểu đề nghị khen thưởng", "Heading 2")
    _paragraph(doc, "{%p if outstanding %}", BODY)
    _paragraph(
        doc,
        "Có {{ outstanding_count }} sáng kiến được các CĐCS đề nghị công nhận tiêu biểu (chi tiết tại Phụ lục II):",
        BODY,
    )
    _paragraph(doc, "{%p for o in outstanding %}", BODY)
    _paragraph(doc, "- {{ o.title }} (tác giả: {{ o.authors }}; {{ o.unit }}){{ o.end }}", BODY)
    _paragraph(doc, "{%p endfor %}", BODY)
    _paragraph(doc, "{%p else %}", BODY)
    _paragraph(doc, "Chưa có sáng kiến nào được các CĐCS đề nghị công nhận tiêu biểu.", BODY)
    _paragraph(doc, "{%p endif %}", BODY)

    doc.add_paragraph("5. Khen thưởng", "Heading 2")
    _paragraph(doc, "{%p if commendations %}", BODY)
    _paragraph(doc, "Có {{ commendations_count }} sáng kiến đã được khen thưởng, gồm:", BODY)
    _paragraph(doc, "{%p for c in commendations %}", BODY)
    _paragraph(doc, "- {{ c.label }}: {{ c.count }} sáng kiến{{ c.end }}", BODY)
    _paragraph(doc, "{%p endfor %}", BODY)
    _paragraph(doc, "{%p else %}", BODY)
    _paragraph(doc, "Chưa có sáng kiến nào được khen thưởng.", BODY)
    _paragraph(doc, "{%p endif %}", BODY)


def _points(doc: DocumentObject, heading: str, name: str, none: str) -> None:
    doc.add_paragraph(heading, "Heading 2")
    _paragraph(doc, f"{{%p for text in {name} %}}", BODY)
    _paragraph(doc, "- {{ text }}", BODY)
    _paragraph(doc, "{%p endfor %}", BODY)
    _paragraph(doc, f"{{%p if not {name} %}}", BODY)
    _paragraph(doc, none, BODY)
    _paragraph(doc, "{%p endif %}", BODY)


def _sections_iii_to_v(doc: DocumentObject) -> None:
    doc.add_paragraph("III. ĐÁNH GIÁ CHUNG", "Heading 1")
    _points(doc, "1. Ưu điểm", "strengths", "(Đơn vị bổ sung ưu điểm.)")
    _points(doc, "2. Hạn chế", "shortcomings", "(Đơn vị bổ sung hạn chế.)")
    doc.add_paragraph("IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI", "Heading 1")
    _paragraph(doc, "(Đơn vị bổ sung phương hướng, nhiệm vụ thời gian tới.)", PLACEHOLDER)
    doc.add_paragraph("V. ĐỀ XUẤT, KIẾN NGHỊ", "Heading 1")
    _paragraph(doc, "(Đơn vị bổ sung đề xuất, kiến nghị với LĐLĐ tỉnh.)", PLACEHOLDER)
    _paragraph(doc, "Trên đây là báo cáo kết quả thực hiện {{ programme_name }} của {{ org_full_name }}.", BODY)


def _signature(doc: DocumentObject) -> None:
    """The recipients ("Nơi nhận") on the left; the authority, title and name of the signatory on the right."""
    _paragraph(doc, after=6)
    table = _table(doc, (80, 85), borders=False)
    cells = _row(table).cells
    for cell in cells:
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    left, right = cells
    _paragraph(left, "Nơi nhận:", size=12, bold=True, italic=True, first=True)
    _paragraph(left, "- LĐLĐ tỉnh (b/c);", size=11)
    _paragraph(left, "- Lưu: VT.", size=11)
    _paragraph(right, "{{ signatory_on_behalf }}", bold=True, align=CENTRED, first=True)
    _paragraph(right, "{{ signatory_title }}", bold=True, align=CENTRED)
    for _ in range(4):
        _paragraph(right, align=CENTRED)
    _paragraph(right, "{{ signatory }}", bold=True, align=CENTRED)


def _appendix_heading(doc: DocumentObject, number: str, title: str, *, new_page: bool) -> None:
    p = _paragraph(doc, f"Phụ lục {number}", bold=True, align=CENTRED)
    p.paragraph_format.page_break_before = new_page
    p.paragraph_format.keep_with_next = True
    _paragraph(doc, title, bold=True, align=CENTRED).paragraph_format.keep_with_next = True
    note = _paragraph(doc, "{{ attached }}", italic=True, size=13, align=CENTRED, after=6)
    note.paragraph_format.keep_with_next = True


def _appendix_i(doc: DocumentObject) -> None:
    _appendix_heading(doc, "I", "KẾT QUẢ THỰC HIỆN CỦA CÁC CÔNG ĐOÀN CƠ SỞ", new_page=False)
    widths = (9, 14, 50, 25, 16, 18, 16, 19, 19, 16, 30, 20)
    table = _table(doc, widths)
    heads = (
        "TT",
        "Mã",
        "Tên CĐCS",
        "Tình trạng báo cáo",
        "Đoàn viên",
        "Người tham gia",
        "Số sáng kiến",
        "Tỷ lệ ĐV tham gia",
        "Tỷ lệ SK/ĐV",
        "Đã lên Cổng",
        "Giá trị làm lợi (đồng)",
        "Ghi chú",
    )
    _cells(table, heads, SMALL_HEAD, header=True)
    tally = ("members", "participants", "initiatives", "rate_members", "rate_initiatives", "uploaded", "benefit")
    _tag_row(table, "{%tr for g in units.groups %}")
    _cells(table, ("{{ g.no }}. Khối {{ g.sector }}",), SMALL, bold=True, span=(len(widths),))
    _tag_row(table, "{%tr for r in g.rows %}")
    _cells(
        table,
        (
            "{{ r.no }}",
            "{{ r.code }}",
            "{{ r.name }}",
            "{{ r.reporting }}",
            *(v(f"r.{k}") for k in tally),
            "{{ r.note }}",
        ),
        (SMALL_NUMBER, SMALL_NUMBER, SMALL, SMALL, *[SMALL_NUMBER] * 7, SMALL),
    )
    _tag_row(table, "{%tr endfor %}")
    _cells(
        table,
        (
            "Cộng khối ({{ g.subtotal.units }} CĐCS)",
            "{{ g.subtotal.reported }}",
            *(v(f"g.subtotal.{k}") for k in tally),
            "",
        ),
        (SMALL, SMALL, *[SMALL_NUMBER] * 7, SMALL),
        bold=True,
        span=(3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    )
    _tag_row(table, "{%tr endfor %}")
    _cells(
        table,
        (
            "Tổng cộng ({{ units.total.units }} CĐCS)",
            "{{ units.total.reported }}",
            *(v(f"units.total.{k}") for k in tally),
            "",
        ),
        (SMALL, SMALL, *[SMALL_NUMBER] * 7, SMALL),
        bold=True,
        span=(3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    )
    _paragraph(doc, "{{ units_note }}", NOTE)


def _appendix_ii(doc: DocumentObject) -> None:
    _appendix_heading(doc, "II", "SÁNG KIẾN TIÊU BIỂU ĐỀ NGHỊ KHEN THƯỞNG", new_page=True)
    _paragraph(doc, "{%p if outstanding %}", BODY)
    table = _table(doc, (9, 52, 36, 36, 28, 24, 26, 15, 26))
    heads = (
        "TT",
        "Tên sáng kiến",
        "Tác giả, đồng tác giả",
        "CĐCS",
        "Lĩnh vực",
        "Loại giải pháp",
        "Giá trị làm lợi (đồng)",
        "Đã lên Cổng",
        "Khen thưởng đã nhận",
    )
    _cells(table, heads, SMALL_HEAD, header=True)
    _tag_row(table, "{%tr for o in outstanding %}")
    row = _cells(
        table,
        (
            "{{ o.no }}",
            "{{ o.title }}",
            "{{ o.authors }}",
            "{{ o.unit }}",
            "{{ o.field }}",
            "{{ o.kind }}",
            "{{ o.benefit }}",
            "{{ o.uploaded }}",
            "{{ o.commendation }}",
        ),
        (SMALL_NUMBER, SMALL, SMALL, SMALL, SMALL, SMALL, SMALL_NUMBER, SMALL_NUMBER, SMALL),
    )
    _paragraph(row.cells[1], "Nguồn: {{ o.source }}", SMALL, italic=True, size=9)
    _tag_row(table, "{%tr endfor %}")
    _paragraph(doc, "{%p else %}", BODY)
    _paragraph(doc, "Chưa có sáng kiến nào được các CĐCS đề nghị công nhận tiêu biểu.", BODY)
    _paragraph(doc, "{%p endif %}", BODY)


def _appendix_iii(doc: DocumentObject) -> None:
    _appendix_heading(doc, "III", "CÔNG ĐOÀN CƠ SỞ CHƯA BÁO CÁO, BỊ TRẢ LẠI HOẶC CHƯA CÓ SÁNG KIẾN", new_page=True)
    _paragraph(doc, "{%p if gaps %}", BODY)
    table = _table(doc, (9, 14, 55, 32, 30, 112))
    _cells(table, ("TT", "Mã", "Tên CĐCS", "Khối", "Tình trạng", "Lý do"), SMALL_HEAD, header=True)
    _tag_row(table, "{%tr for g in gaps %}")
    row = _cells(
        table,
        ("{{ g.no }}", "{{ g.code }}", "{{ g.name }}", "{{ g.sector }}", "{{ g.kind }}", "{{ g.reason }}"),
        (SMALL_NUMBER, SMALL_NUMBER, SMALL, SMALL, SMALL, SMALL),
    )
    reason = row.cells[5]
    _paragraph(reason, "{%p for line in g.problems %}", SMALL)
    _paragraph(reason, "- {{ line }}", SMALL, size=10)
    _paragraph(reason, "{%p endfor %}", SMALL)
    _tag_row(table, "{%tr endfor %}")
    _paragraph(doc, "{%p else %}", BODY)
    _paragraph(doc, "Tất cả CĐCS đã gửi báo cáo hợp lệ và có sáng kiến.", BODY)
    _paragraph(doc, "{%p endif %}", BODY)


def _appendix_iv(doc: DocumentObject) -> None:
    _appendix_heading(doc, "IV", "CÁC TỆP BÁO CÁO LÀM CĂN CỨ TỔNG HỢP SỐ LIỆU", new_page=True)
    _paragraph(doc, "{%p if sources %}", BODY)
    table = _table(doc, (9, 14, 46, 40, 25, 20, 16, 82))
    heads = ("TT", "Mã", "CĐCS", "Tệp", "Nhận lúc", "Số liệu tính đến", "Số sáng kiến", "Mã băm SHA-256")
    _cells(table, heads, SMALL_HEAD, header=True)
    _tag_row(table, "{%tr for f in sources %}")
    _cells(
        table,
        (
            "{{ f.no }}",
            "{{ f.code }}",
            "{{ f.unit }}",
            "{{ f.file }}",
            "{{ f.received }}",
            "{{ f.as_of }}",
            "{{ f.initiatives }}",
            "{{ f.sha256 }}",
        ),
        (SMALL_NUMBER, SMALL_NUMBER, SMALL, SMALL, SMALL_NUMBER, SMALL_NUMBER, SMALL_NUMBER, HASH),
    )
    _tag_row(table, "{%tr endfor %}")
    _paragraph(doc, "Mã băm SHA-256 cho phép đối chiếu từng số liệu với đúng tệp báo cáo đã nhận.", NOTE)
    _paragraph(doc, "{%p else %}", BODY)
    _paragraph(doc, "Chưa nhận được tệp báo cáo hợp lệ nào.", BODY)
    _paragraph(doc, "{%p endif %}", BODY)


def build(path: Path = OUTPUT) -> Path:
    """Write the template to `path` and return it."""
    doc = Document()
    _drop_thumbnail(doc)
    props = doc.core_properties
    props.title = "Báo cáo kết quả thực hiện Chương trình"
    props.subject = "Báo cáo gửi LĐLĐ tỉnh"
    props.author = props.last_modified_by = ""
    props.comments = "Mẫu báo cáo, tạo bởi pipeline/templates/make_docx_template.py"
    props.language = "vi-VN"
    props.keywords = props.category = props.identifier = props.content_status = props.version = ""
    props.revision = 1
    props.created = props.modified = dt.datetime(2022, 1, 1)
    _styles(doc)
    body = doc.paragraphs[0]._p if doc.paragraphs else None
    if body is not None:
        body.getparent().remove(body)

    first = doc.sections[0]
    _page(first, landscape=False)
    _page_number(first)
    _header_block(doc)
    _title(doc)
    _section_i(doc)
    _section_ii(doc)
    _sections_iii_to_v(doc)
    _signature(doc)

    appendices = doc.add_section(WD_SECTION.NEW_PAGE)
    _page(appendices, landscape=True)
    appendices.different_first_page_header_footer = False
    appendices.header.is_linked_to_previous = True
    appendices.first_page_header.is_linked_to_previous = True
    _appendix_i(doc)
    _appendix_ii(doc)
    _appendix_iii(doc)
    _appendix_iv(doc)

    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def _drop_thumbnail(doc: DocumentObject) -> None:
    """python-docx's default document carries a thumbnail of itself; a preview would show it."""
    package = doc.part.package
    for rid, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[rid]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = build(Path(args[0]) if args else OUTPUT)
    print(f"Đã tạo mẫu báo cáo: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
