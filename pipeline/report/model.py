"""The report model: the consolidated report as data, the one source of every format.

`build_report(figures, settings, text)` turns the figures of the period and the officer's own
text (`pipeline.report.officer`) into a `Report`: the header block, the title, the opening, the
sections in order with their numbers and titles, every sentence with its numbers written the
Vietnamese way, every table (its title, columns with a header and a kind, rows, total row, notes),
the closing, the recipients, the signature and the appendices. The DOCX, the HTML page and the
report workbook render this model and spell nothing of their own, so the three always carry the
same headings, tables and numbers in the same order.

The model holds what the province reads and signs; where each figure comes from (file names,
sheets, cells, hashes) is for the report workbook and the audit file (`pipeline.report.audit`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline import numbers
from pipeline.config import RATE_MEASURES, Settings
from pipeline.figures import (
    TOTAL,
    Figures,
    Outstanding,
    Point,
    ShareTable,
    Tally,
    TargetRow,
)
from pipeline.merge import Reporting
from pipeline.report.officer import OfficerText, Passage

Kind = Literal["no", "text", "code", "count", "percent", "money", "date"]
NONE = "–"  # a figure that does not exist (a union that has not reported has no rate)
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV")
RATE_SHORT = {RATE_MEASURES[0]: "Tỷ lệ ĐV tham gia", RATE_MEASURES[1]: "Tỷ lệ SK/ĐV"}
NO_OUTSTANDING = "Chưa có sáng kiến nào được các CĐCS đề nghị công nhận tiêu biểu."


# --- the building blocks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of body text. `hint` marks the officer's text still showing its hint."""

    text: str
    hint: bool = False


@dataclass(frozen=True)
class Bullets:
    """A list; each item ends with ";" and the last with "." as Vietnamese documents write them."""

    items: tuple[str, ...]
    hint: bool = False


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind  # how its cells are aligned and, in the workbook, formatted; widths fit the content


@dataclass(frozen=True)
class Cell:
    text: str  # as printed
    value: Any = None  # the number behind it (a fraction for a percentage), for the workbook


@dataclass(frozen=True)
class Row:
    """A row of a table. A "group" row is one cell across the table; a "subtotal" or "total" row
    may merge its first cells (`span`, the columns each cell takes)."""

    cells: tuple[Cell, ...]
    kind: Literal["body", "group", "subtotal", "total"] = "body"
    span: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Table:
    key: str  # stable: "bang-1", "phu-luc-1", ...
    title: str  # "Bảng 1. Kết quả thực hiện các chỉ tiêu (tính đến ngày 05/06/2022)"; "" in an appendix
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    empty: str = ""  # what to say instead of a table without rows


@dataclass(frozen=True)
class Chart:
    """A chart of the figures (the HTML page and the workbook draw it; the DOCX does not)."""

    key: Literal["progress", "by_sector", "by_field", "rate_by_unit", "reporting"]
    title: str


Block = Paragraph | Bullets | Table | Chart


@dataclass(frozen=True)
class Section:
    number: str  # "I", "1"
    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass(frozen=True)
class Appendix:
    number: str  # "I"
    title: str
    attached: str  # "(Kèm theo Báo cáo số ... ngày ... của ...)"
    blocks: tuple[Block, ...]

    @property
    def heading(self) -> str:
        return f"Phụ lục {self.number}"


@dataclass(frozen=True)
class Header:
    parent_name: str
    org_name: str
    number: str  # "Số: ..../BC-LĐLĐ"
    nation: str
    motto: str
    dateline: str


@dataclass(frozen=True)
class Signature:
    on_behalf: str
    title: str
    name: str


@dataclass(frozen=True)
class Report:
    header: Header
    title: str
    subtitle: str
    period: str
    opening: Paragraph
    sections: tuple[Section, ...]
    closing: tuple[Paragraph, ...]
    recipients_title: str
    recipients: tuple[str, ...]
    signature: Signature
    appendices: tuple[Appendix, ...]
    unfilled: tuple[str, ...]  # the officer's sections still showing their hint, by heading
    document_title: str  # the file's properties
    author: str
    as_of: dt.date
    figures: Figures = field(repr=False, compare=False)  # what the charts are drawn from

    def blocks(self) -> list[Block]:
        """Every block of the sections and appendices, in the order of the document."""
        out: list[Block] = []

        def walk(section: Section) -> None:
            out.extend(section.blocks)
            for sub in section.subsections:
                walk(sub)

        for s in self.sections:
            walk(s)
        for a in self.appendices:
            out.extend(a.blocks)
        return out

    def tables(self) -> list[Table]:
        return [b for b in self.blocks() if isinstance(b, Table)]


# --- section III: what the data shows, as sentences --------------------------------------------------

# One sentence per point of `figures.assess`, by its message; {units} is the names of the unions.
POINTS: dict[str, str] = {
    "phase-reached": "{phase} có {actual} sáng kiến đăng ký, đạt {ratio} chỉ tiêu {target} sáng kiến.",
    "phase-not-reached": "{phase} có {actual} sáng kiến đăng ký, chưa đạt chỉ tiêu {target} sáng kiến (đạt {ratio}).",
    "phase-in-progress": "{phase} đang thực hiện: mới có {actual} sáng kiến đăng ký trên chỉ tiêu {target} ({ratio}).",
    "rate-reached": "{measure} đạt {actual}, đạt chỉ tiêu {target}.",
    "rate-not-reached": "{measure} mới đạt {actual}, chưa đạt chỉ tiêu {target}.",
    "reported": "{reported} trên {all} CĐCS đã gửi báo cáo hợp lệ; {with_initiatives} CĐCS có sáng kiến.",
    "initiatives": "Có {initiatives} sáng kiến với {participants} người tham gia; "
    "tổng giá trị làm lợi ước tính {benefit} đồng.",
    "outstanding": "{count} sáng kiến được các CĐCS đề nghị công nhận tiêu biểu.",
    "all-uploaded": "Toàn bộ {count} sáng kiến đã được cập nhật lên {portal}.",
    "missing": "Còn {count} CĐCS chưa gửi báo cáo: {units}.",
    "rejected": "Có {count} CĐCS gửi báo cáo bị trả lại do có lỗi, chưa gửi lại bản đúng: {units}.",
    "no-initiative": "Có {count} CĐCS đã báo cáo nhưng chưa có sáng kiến nào: {units}.",
    "below-rate": "Có {count} CĐCS có sáng kiến nhưng {measure} dưới chỉ tiêu {target}: {units}.",
    "not-uploaded": "Còn {count} trên {total} sáng kiến ({share}) chưa được cập nhật lên {portal}.",
}


def point_text(point: Point) -> str:
    """A point of section III as a sentence, its numbers written the Vietnamese way."""
    values: dict[str, str] = {k: numbers.number(v) for k, v in point.numbers}
    values.update((k, numbers.percent(v)) for k, v in point.shares)
    values.update(point.words)
    values["units"] = ", ".join(point.units)
    return POINTS[point.message].format(**values)


# --- building the report -------------------------------------------------------------------------------


def build_report(figures: Figures, settings: Settings, text: OfficerText) -> Report:
    """The report of the period, from its figures and the officer's text."""
    org, programme = settings.organisation, settings.programme
    as_of = numbers.date(figures.as_of)
    attached = f"(Kèm theo Báo cáo số {org.document_number} ngày {as_of} của {org.full_name})"
    sections = (
        _section_i(figures, text),
        _section_ii(figures, settings),
        _section_iii(figures),
        _officer_section("IV", "PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI", text),
        _officer_section("V", "ĐỀ XUẤT, KIẾN NGHỊ", text),
    )
    closing = _passage(text.closing)
    return Report(
        header=Header(
            org.parent_name,
            org.name,
            f"Số: {org.document_number}",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            numbers.place_and_date(org.place, figures.as_of),
        ),
        title="BÁO CÁO",
        subtitle=f"Kết quả thực hiện {programme.name}",
        period=f"(Số liệu tính đến ngày {as_of})",
        opening=Paragraph(
            f"Thực hiện {programme.plan_reference} về việc triển khai thực hiện {programme.name}, "
            "Ban Thường vụ LĐLĐ huyện báo cáo kết quả như sau:"
        ),
        sections=sections,
        closing=tuple(b for b in closing if isinstance(b, Paragraph)),
        recipients_title="Nơi nhận:",
        recipients=("- LĐLĐ tỉnh (b/c);", "- Lưu: VT."),
        signature=Signature(org.signatory_on_behalf, org.signatory_title, org.signatory),
        appendices=(
            Appendix("I", "KẾT QUẢ THỰC HIỆN CỦA CÁC CÔNG ĐOÀN CƠ SỞ", attached, _appendix_i(figures)),
            Appendix("II", "SÁNG KIẾN TIÊU BIỂU ĐỀ NGHỊ KHEN THƯỞNG", attached, _appendix_ii(figures)),
            Appendix(
                "III",
                "CÔNG ĐOÀN CƠ SỞ CHƯA BÁO CÁO, BỊ TRẢ LẠI HOẶC CHƯA CÓ SÁNG KIẾN",
                attached,
                _appendix_iii(figures),
            ),
        ),
        unfilled=tuple(p.heading for p in text.unfilled()),
        document_title=f"Báo cáo kết quả thực hiện {programme.name}",
        author=org.full_name,
        as_of=figures.as_of,
        figures=figures,
    )


def _passage(passage: Passage) -> tuple[Block, ...]:
    """The officer's text of a section: its paragraphs and lists, marked while still the hint."""
    blocks: list[Block] = []
    for part in passage.parts:
        if isinstance(part, str):
            blocks.append(Paragraph(part, hint=passage.hint))
        else:
            blocks.append(Bullets(tuple(part), hint=passage.hint))
    return tuple(blocks)


def _officer_section(number: str, title: str, text: OfficerText) -> Section:
    return Section(number, title, _passage(text.sections[number]))


def _listed(items: Sequence[str]) -> tuple[str, ...]:
    """Vietnamese list punctuation: ";" after each item, "." after the last."""
    return tuple(f"{item}{'.' if i == len(items) - 1 else ';'}" for i, item in enumerate(items))


def _section_i(figures: Figures, text: OfficerText) -> Section:
    activities = _listed([f"- {a.label}: {numbers.number(a.value)}" for a in figures.activities])
    reported = numbers.number(figures.totals.units_reported)
    return Section(
        "I",
        "CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI",
        (
            *_passage(text.sections["I"]),
            Paragraph(f"Tổng hợp báo cáo của {reported} CĐCS đã gửi báo cáo hợp lệ:"),
            Bullets(activities),
        ),
    )


def _section_ii(figures: Figures, settings: Settings) -> Section:
    as_of = numbers.date(figures.as_of)
    outstanding = figures.outstanding
    commended = [r for r in figures.commendations.rows if r.count]
    return Section(
        "II",
        "KẾT QUẢ THỰC HIỆN",
        subsections=(
            Section(
                "1",
                "Kết quả thực hiện các chỉ tiêu",
                (
                    _targets(figures, settings, f"Bảng 1. Kết quả thực hiện các chỉ tiêu (tính đến ngày {as_of})"),
                    Chart("progress", "Tiến độ so với chỉ tiêu từng giai đoạn"),
                ),
            ),
            Section(
                "2",
                "Kết quả theo khối",
                (
                    _by_sector(figures, "Bảng 2. Kết quả thực hiện theo khối"),
                    Chart("by_sector", "Số sáng kiến theo khối"),
                ),
            ),
            Section(
                "3",
                "Kết quả theo lĩnh vực và loại giải pháp",
                (
                    _shares("bang-3", "Bảng 3. Sáng kiến theo lĩnh vực", figures.by_field),
                    Chart("by_field", "Số sáng kiến theo lĩnh vực"),
                    _shares("bang-4", "Bảng 4. Sáng kiến theo loại giải pháp", figures.by_kind),
                ),
            ),
            Section(
                "4",
                "Sáng kiến tiêu biểu đề nghị khen thưởng",
                (
                    Paragraph(
                        f"Có {numbers.number(len(outstanding))} sáng kiến được các CĐCS đề nghị công nhận tiêu biểu "
                        "(chi tiết tại Phụ lục II):"
                    ),
                    Bullets(_listed([f"- {o.title} (tác giả: {_authors(o)}; {o.unit})" for o in outstanding])),
                )
                if outstanding
                else (Paragraph(NO_OUTSTANDING),),
            ),
            Section(
                "5",
                "Khen thưởng",
                (
                    Paragraph(
                        f"Có {numbers.number(figures.commendations.total.count)} sáng kiến đã được khen thưởng, gồm:"
                    ),
                    Bullets(_listed([f"- {r.label}: {numbers.number(r.count)} sáng kiến" for r in commended])),
                )
                if commended
                else (Paragraph("Chưa có sáng kiến nào được khen thưởng."),),
            ),
        ),
    )


def _section_iii(figures: Figures) -> Section:
    strengths = [point_text(p) for p in figures.assessment.strengths]
    shortcomings = [point_text(p) for p in figures.assessment.shortcomings]
    return Section(
        "III",
        "ĐÁNH GIÁ CHUNG",
        subsections=(
            Section("1", "Ưu điểm", (Bullets(tuple(f"- {s}" for s in strengths)),) if strengths else ()),
            Section("2", "Hạn chế", (Bullets(tuple(f"- {s}" for s in shortcomings)),) if shortcomings else ()),
        ),
    )


def _authors(o: Outstanding) -> str:
    return f"{o.author}; {o.coauthors}" if o.coauthors else o.author


# --- the tables ---------------------------------------------------------------------------------------


def _c(text: str, value: Any = None) -> Cell:
    return Cell(text, value)


def _count(value: int | None) -> Cell:
    return Cell(numbers.number(value), value)


def _rate(value: float | None, absent: str = "") -> Cell:
    return Cell(numbers.percent(value), value) if value is not None else Cell(absent)


def _verdict(row: TargetRow, figures: Figures, settings: Settings) -> str:
    if row.reached is True:
        return "Đạt"
    if row.reached is False:
        return "Chưa đạt"
    if row.target is None:
        return ""
    phases = {f"phase-{i}": p for i, p in enumerate(settings.programme.phases, start=1)}
    if row.key in phases and phases[row.key].start > figures.as_of:
        return "Chưa bắt đầu"
    return "Đang thực hiện"


def _targets(figures: Figures, settings: Settings, title: str) -> Table:
    columns = (
        Column("TT", "no"),
        Column("Chỉ tiêu", "text"),
        Column("Kết quả", "text"),
        Column("Chỉ tiêu kế hoạch", "text"),
        Column("Tỷ lệ đạt", "percent"),
        Column("Đánh giá", "text"),
    )
    rows = []
    for i, t in enumerate(figures.targets, start=1):
        if t.kind == "rate":
            actual = numbers.percent(t.actual)
            if t.numerator is not None and t.denominator:
                actual += f" ({numbers.number(t.numerator)}/{numbers.number(t.denominator)})"
            target = _rate(t.target)
        else:
            actual = numbers.number(t.actual)
            if t.target is None and t.denominator is not None:
                actual += f"/{numbers.number(t.denominator)}"
            target = _count(int(t.target)) if t.target is not None else Cell("")
        label = t.label + (" (chỉ tiêu chính thức)" if t.official else "")
        rows.append(
            Row(
                (
                    _c(str(i), i),
                    _c(label),
                    _c(actual, t.actual),
                    target,
                    _rate(t.ratio),
                    _c(_verdict(t, figures, settings)),
                )
            )
        )
    rate_label = figures.official_rate_label
    note = (
        f"Ghi chú: tỷ lệ chính thức là {rate_label[0].lower()}{rate_label[1:]}, chỉ tiêu "
        f"{numbers.percent(figures.rate_target)}. Cột “Tỷ lệ đạt” so kết quả với chỉ tiêu kế hoạch; "
        "ở các dòng không có chỉ tiêu là tỷ lệ trên tổng số."
    )
    return Table("bang-1", title, columns, tuple(rows), (note,))


def _tally_cells(t: Tally) -> tuple[Cell, ...]:
    return (
        _count(t.units),
        _count(t.units_with_initiatives),
        _count(t.members),
        _count(t.initiatives),
        _rate(t.rate, NONE),
        _count(t.uploaded),
        _count(t.benefit),
    )


def _by_sector(figures: Figures, title: str) -> Table:
    columns = (
        Column("Khối", "text"),
        Column("Số CĐCS", "count"),
        Column("CĐCS có sáng kiến", "count"),
        Column("Đoàn viên", "count"),
        Column("Sáng kiến", "count"),
        Column(RATE_SHORT[figures.official_rate], "percent"),
        Column("Đã lên Cổng", "count"),
        Column("Giá trị làm lợi (đồng)", "money"),
    )
    official = figures.official_rate
    rows = [Row((_c(r.sector), *_tally_cells(r.tally))) for r in figures.by_sector.rows]
    rows.append(Row((_c(TOTAL), *_tally_cells(figures.by_sector.total)), "total"))
    note = f"{RATE_SHORT[official]}: {figures.official_rate_label[0].lower()}{figures.official_rate_label[1:]}."
    return Table("bang-2", title, columns, tuple(rows), (note,))


def _shares(key: str, title: str, table: ShareTable) -> Table:
    """Counts and shares of a list of the form; the printed shares add up to the printed total."""
    columns = (
        Column("TT", "no"),
        Column(table.label, "text"),
        Column("Số sáng kiến", "count"),
        Column("Tỷ lệ", "percent"),
    )
    split = numbers.shares([r.count for r in table.rows])
    rows = []
    for i, r in enumerate(table.rows, start=1):
        share = split[i - 1] if split is not None else None
        cell = Cell(numbers.number(share, 1) + "%", float(share) / 100) if share is not None else Cell("")
        rows.append(Row((_c(str(i), i), _c(r.label), _count(r.count), cell)))
    total = Cell("100,0%", 1.0) if split is not None else Cell("")
    rows.append(Row((_c(""), _c(table.total.label), _count(table.total.count), total), "total"))
    return Table(key, title, columns, tuple(rows))


def _unit_cells(t: Tally, reported: bool = True) -> tuple[Cell, ...]:
    """A union's, a sector's or the district's figures in Appendix I: "–" for a union whose report
    has not been accepted."""
    if not reported:
        return (Cell(NONE),) * 7
    return (
        _count(t.members),
        _count(t.participants),
        _count(t.initiatives),
        _rate(t.rate_members, NONE),
        _rate(t.rate_initiatives, NONE),
        _count(t.uploaded),
        _count(t.benefit),
    )


def _appendix_i(figures: Figures) -> tuple[Block, ...]:
    columns = (
        Column("TT", "no"),
        Column("Mã", "code"),
        Column("Tên CĐCS", "text"),
        Column("Tình trạng báo cáo", "text"),
        Column("Đoàn viên", "count"),
        Column("Người tham gia", "count"),
        Column("Số sáng kiến", "count"),
        Column("Tỷ lệ ĐV tham gia", "percent"),
        Column("Tỷ lệ SK/ĐV", "percent"),
        Column("Đã lên Cổng", "count"),
        Column("Giá trị làm lợi (đồng)", "money"),
        Column("Ghi chú", "text"),
    )
    rows: list[Row] = []
    n = 0
    for i, g in enumerate(figures.units.groups):
        roman = ROMAN[i] if i < len(ROMAN) else str(i + 1)
        rows.append(Row((_c(f"{roman}. Khối {g.sector}"),), "group", (len(columns),)))
        for r in g.rows:
            n += 1
            notes = [] if r.active else ["Không còn hoạt động"]
            if r.below_target and r.tally.initiatives:
                notes.append("Dưới chỉ tiêu")
            reported = r.reporting in (Reporting.ON_TIME, Reporting.LATE)
            rows.append(
                Row(
                    (
                        _c(str(n), n),
                        _c(r.code),
                        _c(r.name),
                        _c(r.reporting_label),
                        *_unit_cells(r.tally, reported),
                        _c("; ".join(notes)),
                    )
                )
            )
        rows.append(_sum_row(f"Cộng khối ({numbers.number(g.subtotal.units)} CĐCS)", g.subtotal, "subtotal"))
    total = figures.units.total
    rows.append(_sum_row(f"Tổng cộng ({numbers.number(total.units)} CĐCS)", total, "total"))
    note = (
        "Tỷ lệ ĐV tham gia = số người tham gia (tác giả, đồng tác giả) / số đoàn viên; "
        f"Tỷ lệ SK/ĐV = số sáng kiến / số đoàn viên; chỉ tiêu {numbers.percent(figures.rate_target)}. "
        f"Dấu “{NONE}”: đơn vị chưa có báo cáo được tiếp nhận."
    )
    return (
        Chart("reporting", "Tình hình nộp báo cáo của các CĐCS"),
        Table("phu-luc-1", "", columns, tuple(rows), (note,)),
        Chart("rate_by_unit", f"{figures.charts.rate_label} theo CĐCS"),
    )


def _sum_row(label: str, t: Tally, kind: Literal["subtotal", "total"]) -> Row:
    reported = f"Đã nộp: {numbers.number(t.units_reported)}/{numbers.number(t.units)}"
    return Row((_c(label), _c(reported), *_unit_cells(t), _c("")), kind, (3, 1, 1, 1, 1, 1, 1, 1, 1, 1))


def _appendix_ii(figures: Figures) -> tuple[Block, ...]:
    """The initiatives proposed as outstanding, by union."""
    columns = (
        Column("TT", "no"),
        Column("Tên sáng kiến", "text"),
        Column("Tác giả, đồng tác giả", "text"),
        Column("Lĩnh vực", "text"),
        Column("Loại giải pháp", "text"),
        Column("Giá trị làm lợi (đồng)", "money"),
        Column("Đã lên Cổng", "text"),
        Column("Khen thưởng đã nhận", "text"),
    )
    rows: list[Row] = []
    unit = None
    for i, o in enumerate(figures.outstanding, start=1):
        if o.code != unit:
            unit = o.code
            rows.append(Row((_c(f"{o.unit} ({o.code})"),), "group", (len(columns),)))
        rows.append(
            Row(
                (
                    _c(str(i), i),
                    _c(o.title),
                    _c(_authors(o)),
                    _c(o.field or ""),
                    _c(o.kind or ""),
                    _count(o.benefit),
                    _c(o.uploaded or ""),
                    _c(o.commendation or ""),
                )
            )
        )
    return (Table("phu-luc-2", "", columns, tuple(rows), empty=NO_OUTSTANDING),)


def _appendix_iii(figures: Figures) -> tuple[Block, ...]:
    columns = (
        Column("TT", "no"),
        Column("Mã", "code"),
        Column("Tên CĐCS", "text"),
        Column("Khối", "text"),
        Column("Tình trạng", "text"),
        Column("Lý do", "text"),
    )
    rows = tuple(
        Row((_c(str(i), i), _c(g.code), _c(g.name), _c(g.sector), _c(g.kind.label), _c(g.reason)))
        for i, g in enumerate(figures.gaps, start=1)
    )
    return (Table("phu-luc-3", "", columns, rows, empty="Tất cả CĐCS đã gửi báo cáo hợp lệ và có sáng kiến."),)


class _CharUnits(dict[str, float]):
    """The width of each character in ems, worked out once per character (at most `_CHARS_KEPT` kept)."""

    def __missing__(self, ch: str) -> float:
        units = 0.74 if ch.isupper() else 0.52 if ch.isdigit() else 0.48
        if len(self) < _CHARS_KEPT:
            self[ch] = units
        return units


_CHARS_KEPT = 4096
_CHAR_UNITS = _CharUnits()


def text_mm(text: str, size: float, bold: bool = False) -> float:
    """About how long `text` is, in millimetres, in Times New Roman of `size` points (capitals and
    digits are wider than small letters; bold a little wider still), erring on the long side."""
    em = size * 0.3528  # mm
    units = sum(map(_CHAR_UNITS.__getitem__, text))
    return units * em * (1.08 if bold else 1.0)


def fit_widths(columns: Sequence[Column], rows: Sequence[Row], total: float, size: float) -> list[float]:
    """Column widths (mm) for a table `total` wide in a font of `size` points: numbers, codes and
    labels of up to 24 characters on one line (a status such as "Đã nộp đúng hạn" never wraps), every
    column at least as wide as its longest word (the header's in bold), and the room left shared in proportion to
    what each column would take on one line (a column of names wraps before a column of statuses
    does)."""
    pad = 3.0  # the cell's margins, with some air
    least, want = [], []
    for c, column in enumerate(columns):
        texts = [r.cells[c].text for r in rows if r.span is None and c < len(r.cells)]
        lengths = {t: text_mm(t, size) for t in texts}  # each text measured once
        words = [text_mm(w, size, bold=True) for w in column.header.split()]
        words += [text_mm(w, size) for w in {w for t in lengths for w in t.split()}]
        whole = [mm for t, mm in lengths.items() if column.kind != "text" or len(t) <= 24]
        least.append(max([*words, *whole, 1.0]) + pad)
        longest = max(lengths.values(), default=0.0)
        want.append(max(least[-1], min(longest, 120.0) + pad) if column.kind == "text" else least[-1])
    if sum(want) <= total:  # room to spare: shared as the columns want it
        widths = [w * total / sum(want) for w in want]
    else:  # short of room: the text columns give up what they want beyond their longest word
        room = total - sum(least)
        extra = [w - m for w, m in zip(want, least, strict=True)]
        widths = [m + max(room, 0) * e / (sum(extra) or 1.0) for m, e in zip(least, extra, strict=True)]
        if room < 0:  # not even the longest words fit: shrink everything alike
            widths = [w * total / sum(widths) for w in widths]
    return [round(w, 1) for w in widths]
