"""The report as one self-contained HTML page: the same model as the DOCX, every piece of text
escaped, nothing loaded from anywhere, Vietnamese numbers, inline SVG charts (the target line clear
of the labels, the unions by code and name), and Chromium rendering it on a desktop and a phone and
printing it to A4. Chromium is required: these tests fail, never skip, without it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from jinja2 import StrictUndefined

from pipeline import Period, run
from pipeline.config import Settings
from pipeline.figures import Bar, Figures, PhaseProgress, compute
from pipeline.merge import Reporting, dataset
from pipeline.numbers import money, number, percent
from pipeline.report import html as report_html
from pipeline.report.charts import bars_svg, nice_ticks, progress_svg, rate_svg, wrap
from pipeline.report.html import ENV, TEMPLATE, render_report_html, write_report_html
from pipeline.report.model import Report, build_report, point_text
from pipeline.report.officer import parse_text
from pipeline.roster import Roster
from tests.conftest import ROOT, figures_of

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
FORMULA = "=cmd|' /C calc'!A0"
CODES = ("VT005", "VT021", "VT030", "VT044", "VT052")
# VT021: the form's worked example with untrusted title and author, proposed as outstanding; and one more.
A1 = {"ten_sang_kien": SCRIPT, "tac_gia": ATTRIBUTE, "de_nghi_tieu_bieu": "Có"}
A2 = {
    "ten_sang_kien": "Vườn rau sạch cho bữa ăn bán trú",
    "tac_gia": "Võ Thị Hạnh",
    "dong_tac_gia": "",
    "loai_giai_phap": "Giải pháp tác nghiệp",
    "linh_vuc": "Chăm lo đời sống đoàn viên, người lao động",
    "gia_tri_lam_loi": 2_000_000,
    "ngay_dang_ky": dt.date(2022, 5, 10),
    "da_len_cong": "Chưa",
    "tinh_trang_cong": "",
    "khen_thuong": "Chưa",
    "de_nghi_tieu_bieu": "Không",
}
# VT052 (late): an outstanding initiative with a large benefit and a co-author that looks like a formula.
B1 = {
    "ten_sang_kien": "Cải tiến băng chuyền phân loại tôm nguyên liệu",
    "tac_gia": "Trần Văn Hùng",
    "dong_tac_gia": FORMULA,
    "loai_giai_phap": "Giải pháp kỹ thuật",
    "linh_vuc": "Sản xuất, kinh doanh",
    "gia_tri_lam_loi": 1_234_567_000,
    "ngay_ap_dung": dt.date(2022, 2, 15),
    "ngay_dang_ky": dt.date(2022, 3, 1),
    "cap_cong_nhan": "Huyện",
    "da_len_cong": "Có",
    "tinh_trang_cong": "Hợp lệ",
    "khen_thuong": "Bằng khen LĐLĐ tỉnh",
    "de_nghi_tieu_bieu": "Có",
}
RECEIVED = {
    "VT005": dt.datetime(2022, 6, 2, 10, 0),
    "VT021": dt.datetime(2022, 6, 1, 9, 0),
    "VT030": dt.datetime(2022, 6, 1, 14, 0),  # rejected: a one-word author
    "VT052": dt.datetime(2022, 6, 4, 8, 0),  # after the deadline (03/06/2022): late
}
FILE_NAMES = {
    "VT005": "VT005.xlsx",
    "VT021": "VT021 <img src=x onerror=alert(2)>.xlsx",
    "VT030": "VT030.xlsx",
    "VT052": "VT052.xlsx",
}


@pytest.fixture
def period(tmp_path, filled, settings, form, roster) -> tuple[Figures, Settings]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    files = {
        "VT005": filled(rows=[], name="a.xlsx", code="VT005"),
        "VT021": filled(rows=[A1, A2], name="b.xlsx", code="VT021"),
        "VT030": filled(rows=[{"tac_gia": "An"}], name="c.xlsx", code="VT030"),
        "VT052": filled(rows=[B1], name="d.xlsx", code="VT052"),
    }
    for code, path in files.items():
        target = inbox / FILE_NAMES[code]
        target.write_bytes(path.read_bytes())
        os.utime(target, (RECEIVED[code].timestamp(), RECEIVED[code].timestamp()))
    figures, _ = figures_of(run(Period(s, form, few)), s, form, few)
    return figures, s


def model(figures: Figures, s: Settings) -> Report:
    return build_report(figures, s, parse_text("", s))


@pytest.fixture
def page(period, tmp_path) -> tuple[str, Path, Figures, Settings]:
    figures, s = period
    path = write_report_html(tmp_path / "out" / "bao-cao.html", model(figures, s))
    return path.read_text(encoding="utf-8"), path, figures, s


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(text: str) -> Tags:
    parser = Tags()
    parser.feed(text)
    parser.close()
    return parser


def section(text: str, id_: str) -> str:
    """The markup of the <section> with this id, the sections inside it included."""
    start = text.index(f'id="{id_}"')
    depth, at = 1, start
    while depth:
        opening, closing = text.find("<section", at), text.index("</section>", at)
        depth, at = (depth + 1, opening + 1) if 0 <= opening < closing else (depth - 1, closing + 1)
    return text[start:at]


# --- the environment and the template ----------------------------------------------------------------


def test_environment_autoescapes_and_is_strict():
    assert ENV.autoescape is True
    assert ENV.undefined is StrictUndefined
    template = ENV.get_template(TEMPLATE)
    assert template.filename is not None
    assert Path(template.filename).resolve() == (ROOT / "pipeline" / "templates" / "bao-cao.html.j2").resolve()
    # The loader looks inside the package, installed or checked out alike.
    assert Path(report_html.__file__).resolve().parent.parent / "templates" == report_html.TEMPLATE_DIR


def test_untrusted_text_is_escaped(page):
    text, _, figures, _ = page
    assert figures.outstanding[0].title == SCRIPT  # the figures carry the raw text
    tags = parse(text)
    names = {t for t, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "link", "base", "form", "input"}
    assert not [(t, a) for t, attrs in tags.tags for a in attrs if a.lower().startswith("on")]
    assert "<script" not in text.lower() and "<img" not in text.lower()
    # Shown as text: escaped in the markup, the same characters once parsed.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    visible = "".join(tags.text)
    assert SCRIPT in visible and ATTRIBUTE in visible
    assert FILE_NAMES["VT021"] not in visible  # no file name in the report (the workbook and audit have them)
    # In section II (outstanding initiatives) and in Appendix II.
    assert section(text, "muc-ii-2").count("&lt;script&gt;") == 1
    assert section(text, "phu-luc-2").count("&lt;script&gt;") == 1
    # A co-author that looks like a formula is plain text too (the dataset may neutralise it).
    assert "cmd|&#39; /C calc&#39;!A0" in text


def test_nothing_is_loaded_from_anywhere(page):
    text, *_ = page
    tags = parse(text)
    references = [(t, k, v) for t, attrs in tags.tags for k, v in attrs.items() if k in ("src", "href", "srcset")]
    assert references == []
    assert not [t for t, attrs in tags.tags if t == "link"]
    assert not re.search(r"@import|url\(", text)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text, re.IGNORECASE)
    # Only the SVG namespace names a web address, and it is never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", text)) == {"http://www.w3.org/2000/svg"}
    csp = [a for t, a in tags.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    # CSS in the page, responsive and printable to A4.
    assert text.count("<style>") == 1
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "@page { size: A4;" in text and "@media print" in text and "@page landscape" in text
    assert ".table-wrap {" in text and "overflow-x: auto" in text and "@media (max-width: 40rem)" in text
    # Every table scrolls inside its own wrapper.
    assert text.count("<table") == text.count('<div class="table-wrap"') > 5


def test_header_title_and_sections(page):
    text, _, figures, s = page
    visible = " ".join(" ".join(parse(text).text).split())
    org = s.organisation
    for expected in (
        org.parent_name,
        org.name,
        f"Số: {org.document_number}",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Vĩnh Thuận, ngày 05 tháng 6 năm 2022",
        "BÁO CÁO",
        f"Kết quả thực hiện {s.programme.name}",
        f"Thực hiện {s.programme.plan_reference}",
        "I. CÔNG TÁC CHỈ ĐẠO, TRIỂN KHAI",
        "II. KẾT QUẢ THỰC HIỆN",
        "Bảng 1. Kết quả thực hiện các chỉ tiêu",
        "Bảng 2. Kết quả thực hiện theo khối",
        "Bảng 3. Sáng kiến theo lĩnh vực",
        "Bảng 4. Sáng kiến theo loại giải pháp",
        "Sáng kiến tiêu biểu đề nghị khen thưởng",
        "III. ĐÁNH GIÁ CHUNG",
        "Tình hình nộp báo cáo của các CĐCS",
        "IV. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI",
        "V. ĐỀ XUẤT, KIẾN NGHỊ",
        f"Trên đây là báo cáo kết quả thực hiện {s.programme.name} của {org.full_name}.",
        "Nơi nhận: - LĐLĐ tỉnh (b/c); - Lưu: VT.",
        "Phụ lục I",
        "Phụ lục II",
        "Phụ lục III",
        f"(Kèm theo Báo cáo số {org.document_number} ngày 05/06/2022 của {org.full_name})",
        org.signatory,
    ):
        assert expected in visible, expected
    # The opening names who reports once, as the document does (the plan's reference names its issuer).
    assert visible.count("Ban Thường vụ LĐLĐ huyện báo cáo kết quả như sau:") == 1
    assert "Ban Thường vụ Liên đoàn Lao động" not in visible
    for point in (*figures.assessment.strengths, *figures.assessment.shortcomings):
        assert point_text(point) in visible
    for a in figures.activities:
        assert a.label in visible
    # Appendix III: every gap with its reason; no file, hash or cell anywhere.
    for g in figures.gaps:
        assert g.name in section(text, "phu-luc-3") and g.kind.label in visible
    assert len(figures.sources) == 3
    for src in figures.sources:
        assert src.sha256 not in text and src.file not in visible
    # Appendix I: a row per union, a subtotal per sector and the grand total.
    appendix = section(text, "phu-luc-1")
    assert [u.code for u in figures.units.rows] == sorted(CODES, key=lambda c: appendix.index(c))
    assert appendix.count('class="subtotal"') == len(figures.units.groups)
    assert f"Tổng cộng ({number(len(CODES))} CĐCS)" in appendix


def test_numbers_are_vietnamese(page):
    text, _, figures, s = page
    total = figures.totals
    t = figures.target
    assert total.benefit == 1_251_567_000  # 15.000.000 (the form's example) + 2.000.000 + 1.234.567.000
    assert "1.251.567.000" in text  # Bảng 2 and Appendix I, in đồng
    assert money(total.benefit) == "1.251,6 triệu đồng"
    assert "1.234.567.000" in text  # Appendix II
    # Rates with a decimal comma: participants / members, initiatives / members.
    members = t["rate-members"]
    assert percent(members.actual) in text and "," in percent(members.actual)
    assert f"{number(members.numerator)}/{number(members.denominator)}" in text
    assert percent(t["rate-initiatives"].actual) in text
    assert percent(t["phase-1"].ratio) in text
    (by_field,) = [t for t in model(figures, s).tables() if t.key == "bang-3"]
    for row in by_field.rows:
        assert row.cells[3].text in text
    # No number written the English way: "1,234", "3.7%", "0.05".
    visible = " ".join(parse(text).text)
    assert not re.search(r"\d\.\d%|\d,\d{3}\b(?!,)|\b0\.\d", visible), re.findall(r"\d\.\d%|\b0\.\d", visible)


def test_the_reporting_chart_counts_the_unions_by_status(page):
    text, *_ = page
    appendix = section(text, "phu-luc-1")
    chart = re.search(r"<svg .*?</svg>", appendix, re.DOTALL)
    assert chart is not None and "Tình hình nộp báo cáo của các CĐCS" in appendix
    labels = texts_of(svg_root(chart.group(0)))
    for label, count in (
        (Reporting.ON_TIME.label, "2"),
        (Reporting.LATE.label, "1"),
        (Reporting.REJECTED.label, "1"),
        (Reporting.MISSING.label, "1"),
    ):
        assert labels[labels.index(label) + 1] == count, label


def test_charts_are_inline_svg(page):
    text, *_ = page
    assert text.count("<svg ") == 5
    assert text.count('role="img"') == 5
    for svg in re.findall(r"<svg .*?</svg>", text, re.DOTALL):
        ElementTree.fromstring(svg)  # well-formed on its own, as for a picture in the DOCX
        assert "<title>" in svg and 'aria-label="' in svg and 'viewBox="0 0 ' in svg
    assert "Chỉ tiêu 5%" in text and "Chỉ tiêu 50" in text and "Chỉ tiêu 60" in text


def test_write_is_atomic(period, tmp_path):
    figures, s = period
    out = tmp_path / "atomic"
    path = write_report_html(out / "bao-cao.html", model(figures, s))
    assert path == out / "bao-cao.html" and [p.name for p in out.iterdir()] == ["bao-cao.html"]
    assert path.read_text(encoding="utf-8") == render_report_html(model(figures, s))


def test_a_period_with_no_file_yet(tmp_path, settings, form, roster):
    """Before any union has reported: every table, chart and the panel still render, with zeros."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    result = run(Period(s, form, few))
    frame = dataset(result.units, [], form, s)
    figures = compute(result.units, frame, few, s, form, sources=[])
    text = write_report_html(tmp_path / "empty.html", model(figures, s)).read_text(encoding="utf-8")
    assert "Chưa có sáng kiến nào được các CĐCS đề nghị công nhận tiêu biểu." in text
    assert text.count("<svg ") == 5 and text.count("–") >= 7 * len(CODES)


# --- the charts on their own ---------------------------------------------------------------------------


def svg_root(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.get("viewBox", "").startswith("0 0 ")
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == root.get("aria-label")
    return root


def texts_of(root: ElementTree.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_bars_svg_escapes_and_formats():
    svg = bars_svg(
        [Bar("a", "Khối <b>\"A\"</b> & 'B'", 1234), Bar("b", "Khác", 0), Bar("c", "Không rõ", None)],
        'Số sáng kiến <theo> "khối"',
    )
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    root = svg_root(svg)
    assert root.get("aria-label") == 'Số sáng kiến <theo> "khối"'
    labels = texts_of(root)
    assert "Khối <b>\"A\"</b> & 'B'" in labels and "1.234" in labels and "0" in labels
    assert "không có số liệu" in labels
    assert len(root.findall("{http://www.w3.org/2000/svg}g/{http://www.w3.org/2000/svg}rect")) == 2
    assert "Chưa có sáng kiến nào" in texts_of(svg_root(bars_svg([], "Trống")))


def test_rate_svg_has_the_target_line():
    bars = [
        Bar("VT1", "CĐCS Một", 0.123),
        Bar("VT2", "CĐCS Hai", 0.037),
        Bar("VT3", "CĐCS Ba", None, "chưa có số đoàn viên"),
    ]
    root = svg_root(rate_svg(bars, 0.05))
    labels = texts_of(root)
    assert "12,3%" in labels and "3,7%" in labels and "chưa có số đoàn viên" in labels
    assert "Chỉ tiêu 5%" in labels and any("1/3 CĐCS đạt chỉ tiêu 5%" in t for t in labels)
    ns = "{http://www.w3.org/2000/svg}"
    rects = root.findall(f"{ns}g/{ns}rect")
    assert [r.get("fill") for r in rects] == ["#2f855a", "#c2410c"]  # reached, below
    dashed = [ln for ln in root.iter(f"{ns}line") if ln.get("stroke-dasharray")]
    assert dashed and len({ln.get("x1") for ln in dashed}) == 1  # one vertical line, across every bar
    assert "Chỉ tiêu 4,5%" in texts_of(svg_root(rate_svg(bars, 0.045)))


def test_progress_svg_per_phase_with_target():
    phases = [
        PhaseProgress(
            "Giai đoạn 1",
            dt.date(2022, 1, 8),
            dt.date(2022, 5, 31),
            50,
            ((dt.date(2022, 3, 1), 2), (dt.date(2022, 4, 2), 1234)),
        ),
        PhaseProgress("Giai đoạn 2", dt.date(2022, 6, 1), dt.date(2023, 9, 1), 60, ()),
        PhaseProgress("Giai đoạn 3", dt.date(2023, 10, 1), dt.date(2024, 9, 1), 70, ()),
    ]
    root = svg_root(progress_svg(phases, as_of=dt.date(2022, 6, 5)))
    labels = texts_of(root)
    assert "Giai đoạn 1 (08/01/2022 – 31/05/2022)" in labels
    assert "1.234/50 sáng kiến, đạt 2.468,0% chỉ tiêu" in labels
    assert "Chỉ tiêu 50" in labels and "Chỉ tiêu 60" in labels and "Ngày báo cáo 05/06/2022" in labels
    assert "Chưa bắt đầu; chỉ tiêu 70 sáng kiến" in labels
    ns = "{http://www.w3.org/2000/svg}"
    assert len([ln for ln in root.iter(f"{ns}line") if ln.get("stroke-dasharray") == "6 4"]) == 3  # targets
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2  # the phases that have started
    steps = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    assert [y for _, y in steps] == sorted((y for _, y in steps), reverse=True)  # cumulative: never goes down
    assert svg_root(progress_svg([])) is not None


def test_wrap_and_ticks():
    assert wrap("ngắn", 400) == ["ngắn"]
    lines = wrap("Chăm lo đời sống đoàn viên, người lao động " * 3, 200)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert nice_ticks(54) == [0, 20, 40, 60] and nice_ticks(0) == [0, 1] and nice_ticks(10) == [0, 5, 10]
    assert nice_ticks(1.08) == [0, 1, 2] and nice_ticks(0.11, whole=False) == [0, 0.05, 0.1, 0.15]


# --- in a browser ----------------------------------------------------------------------------------------


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM.exists(), f"Chromium is required at {CHROMIUM}: `make test` installs it"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG, read with the standard library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.slow
@pytest.mark.parametrize(("width", "label"), [(1280, "desktop"), (390, "phone")])
def test_chromium_renders_the_page(page, tmp_path, width, label):
    _, path, *_ = page
    shot = tmp_path / f"bao-cao-{label}.png"
    chromium(tmp_path / "profile", f"--screenshot={shot}", f"--window-size={width},2400", path.as_uri())
    assert shot.is_file(), f"no screenshot at {label} width"
    w, h, pixels = png_pixels(shot)
    assert (w, h) == (width, 2400)
    assert len(set(pixels)) > 64, "the screenshot is blank"
    assert len(shot.read_bytes()) > 20_000
    keep = os.environ.get("HTML_SCREENSHOTS")
    if keep:  # a place to look at them: HTML_SCREENSHOTS=/tmp/shots pytest tests/test_render_html.py
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / shot.name).write_bytes(shot.read_bytes())


@pytest.mark.slow
def test_chromium_dom_has_the_charts_and_no_console_error(page, tmp_path):
    _, path, *_ = page
    result = chromium(tmp_path / "profile", "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri())
    dom = result.stdout
    assert dom.count("<svg") == 5 and "Tình hình nộp báo cáo" in dom
    assert "<script" not in dom.lower()
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in result.stderr.splitlines() if "Uncaught" in line], console
    assert not [line for line in console if "Content Security Policy" in line or "Failed to load" in line], console
    assert console == [], console


@pytest.mark.slow
def test_chromium_prints_to_a4(page, tmp_path):
    _, path, *_ = page
    pdf = tmp_path / "bao-cao.pdf"
    chromium(tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = [tuple(round(float(v)) for v in m) for m in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)]
    assert boxes, "no page size in the PDF"
    assert set(boxes) == {(595, 842), (842, 595)}  # A4; the appendices in landscape
    assert boxes[0] == (595, 842)


def test_the_rate_chart_names_each_union_by_code_and_marks_those_without_a_report(page):
    text, _, figures, _ = page
    chart = next(svg for svg in re.findall(r"<svg .*?</svg>", text, re.DOTALL) if "Chỉ tiêu 5%" in svg)
    labels = texts_of(svg_root(chart))
    names = {u.code: u.name for u in figures.units.rows}
    for code in CODES:
        assert any(label.startswith(f"{code} – ") for label in labels), code
    # VT030 (rejected) and VT044 (missing) have no rate to show: said so, after the others.
    bars = [b.key for b in figures.charts.rate_by_unit]
    assert bars[-2:] == ["VT030", "VT044"]
    assert labels.count("chưa có báo cáo được tiếp nhận") == 2
    assert f"VT044 – {names['VT044']}"[:40] in " ".join(labels)


def test_a_value_below_the_target_is_written_clear_of_the_target_line():
    bars = [Bar("VT1", "CĐCS Một", 0.045), Bar("VT2", "CĐCS Hai", 0.20)]
    root = svg_root(rate_svg(bars, 0.05))
    ns = "{http://www.w3.org/2000/svg}"
    marker = next(float(ln.get("x1", 0)) for ln in root.iter(f"{ns}line") if ln.get("stroke-dasharray"))
    value = next(t for t in root.iter(f"{ns}text") if "".join(t.itertext()) == "4,5%")
    # The short bar ends just before the line: its value starts after the line, not across it.
    assert float(value.get("x", 0)) > marker


@pytest.mark.slow
def test_chromium_centres_the_signature_block(page, tmp_path):
    _, path, *_ = page
    pdf = tmp_path / "in.pdf"
    chromium(tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    boxes = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True)

    def line(words: str) -> tuple[float, float]:
        for match in re.finditer(
            r'<line xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>(.*?)</line>', boxes.stdout, re.S
        ):
            if " ".join(re.findall(r">([^<]+)</word>", match.group(3))) == words:
                return float(match.group(1)), float(match.group(2))
        raise AssertionError(f"no line {words!r}")

    lines = [line(w) for w in ("TM. BAN THƯỜNG VỤ", "CHỦ TỊCH", "Nguyễn Văn Mẫu")]
    centres = [(a + b) / 2 for a, b in lines]
    assert max(centres) - min(centres) < 3  # one centre line for the three
    assert max(a for a, _ in lines) - min(a for a, _ in lines) > 20  # not left-aligned
