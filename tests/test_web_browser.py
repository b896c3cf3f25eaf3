"""`pipeline serve` in a real browser: the officer's journey through the page in Chromium
(pytest-playwright with Debian's Chromium, tests/conftest.py), against the real server (uvicorn on a
socket of 127.0.0.1, as `pipeline serve` starts it); and, with SCREENSHOTS=1, the screenshots of
the page in docs/img/.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Error, Locator, Page, expect

from pipeline import Period
from pipeline.web.serve import Address

# One browser per worker is enough: the tests that drive it stay on one (`--dist loadgroup`).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "img"
RUN_TIMEOUT = 120_000  # ms: a run from the page reads the new files and writes every output
GOOD = [
    {"ten_sang_kien": "Sổ tay điện tử của tổ văn phòng", "tac_gia": "Lê Văn An"},
    {"ten_sang_kien": "Bảng theo dõi công văn đến bằng mã QR", "tac_gia": "Phạm Văn Cường"},
]
CORRECTED = [{"ten_sang_kien": "Phần mềm chấm công cho tổ bảo vệ", "tac_gia": "Đỗ Thị Hạnh"}]
SECTION_I = "Ban Thường vụ LĐLĐ huyện đã ban hành Kế hoạch số 12/KH-LĐLĐ triển khai Chương trình."
SECTION_IV = "Tiếp tục vận động đoàn viên đăng ký sáng kiến trong giai đoạn 2."


# --- the server ------------------------------------------------------------------------------------


class LiveServers:
    """The page for a period as `pipeline serve` runs it (pipeline.web.serve.serve): uvicorn on a
    listening socket of 127.0.0.1 at a free port, with a token of this start, in a thread of its own."""

    def __init__(self) -> None:
        self.running: dict[int, tuple[Any, threading.Thread]] = {}

    def start(self, period: Period) -> Address:
        import uvicorn

        from pipeline.web.app import create_app
        from pipeline.web.serve import bind

        sock = bind(0)
        address = Address(sock.getsockname()[1], secrets.token_urlsafe(24))
        app = create_app(lambda: period, token=address.token, port=address.port)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"serve-{address.port}")
        thread.start()
        self.running[address.port] = (server, thread)
        for _ in range(500):  # 10 s at most
            if server.started or not thread.is_alive():
                break
            time.sleep(0.02)
        assert server.started, "the server did not start"
        return address

    def stop(self, address: Address) -> None:
        """As when the officer closes the command window: uvicorn told to exit, its thread joined."""
        server, thread = self.running.pop(address.port)
        server.should_exit = True
        thread.join(30)
        assert not thread.is_alive(), "the server did not stop within 30 s"


@pytest.fixture
def live_server() -> Iterator[LiveServers]:
    """Starts the real server for a period (`live_server.start(period)` gives its address); every
    server still running is stopped at teardown."""
    servers = LiveServers()
    yield servers
    for port in list(servers.running):
        servers.stop(Address(port, ""))


@pytest.fixture
def desk(tmp_path: Path, settings, form, roster) -> Period:
    """An empty period in the test's folder: the demo roster, an inbox, an outbox, the officer's text."""
    (tmp_path / "inbox").mkdir()
    s = settings.with_paths(inbox=tmp_path / "inbox", outbox=tmp_path / "outbox", report_text=tmp_path / "bao-cao.md")
    return Period(s, form, roster)


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """Every error the page reports, collected: console errors (a CSP violation is one, so is a
    failed request) and uncaught exceptions. The test fails at teardown if there was any."""
    errors: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def thrown(error: Error) -> None:
        errors.append(f"page error: {error.message}")

    page.on("console", heard)
    page.on("pageerror", thrown)
    yield errors
    assert errors == [], "the page reported errors"


# --- what the officer does ---------------------------------------------------------------------------


def pick(page: Page, files: list[Path]) -> None:
    """Picks the files with the drop zone's file chooser; the page lists each as received."""
    page.wait_for_load_state()  # its script listens once the page has loaded
    page.set_input_files("#pick", [str(f) for f in files])
    for f in files:
        expect(page.locator("#uploads")).to_contain_text(f"Đã nhận: {f.name}")


def drag_and_drop(page: Page, files: list[Path]) -> None:
    """Drops the files on the drop zone as from a file manager (a `drop` event whose DataTransfer
    holds them); the page lists each as received."""
    page.wait_for_load_state()  # after a click to this page: its script listens once the page has loaded
    payload = [{"name": f.name, "data": base64.b64encode(f.read_bytes()).decode()} for f in files]
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name));
            }
            return transfer;
        }""",
        payload,
    )
    page.dispatch_event("#drop", "dragover", {"dataTransfer": transfer})
    expect(page.locator("#drop")).to_have_class(re.compile(r"\bover\b"))
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(page.locator("#drop")).not_to_have_class(re.compile(r"\bover\b"))
    for f in files:
        expect(page.locator("#uploads")).to_contain_text(f"Đã nhận: {f.name}")


def run_from(page: Page) -> None:
    """Presses the page's run button, sees the progress reach "Xong", and waits for the page to load
    again with the run's results."""
    page.wait_for_load_state()
    with page.expect_navigation(timeout=RUN_TIMEOUT):
        page.click("#run")
        expect(page.locator("#run-state")).to_contain_text("Xong", timeout=RUN_TIMEOUT)
        assert page.locator("#run-bar").is_visible()
    expect(page.locator("#run")).to_be_enabled()


def union_row(page: Page, code: str) -> Locator:
    return page.locator("table.units tbody tr", has=page.locator(f'a[href="/don-vi/{code}"]'))


def workbook(filled: Callable[..., Path], name: str, code: str, rows: list[dict[str, Any]], until: dt.date) -> Path:
    """A union's workbook under the name it was sent with, its figures as of `until` (and signed then)."""
    return filled(rows=rows, name=name, code=code, unit={"tinh_den_ngay": until, "ngay_lap": until})


# --- the journey --------------------------------------------------------------------------------------


def test_the_officers_journey(page: Page, console: list[str], live_server, desk: Period, filled, tmp_path: Path):
    """From the printed address to the report: two files dropped and run, the rejected union's
    feedback downloaded, its correction dropped and run, sections I and IV written, the report run
    and downloaded."""
    import docx

    address = live_server.start(desk)
    origin = f"http://127.0.0.1:{address.port}"

    # The address the command printed: the token goes into a cookie and leaves the address bar.
    page.goto(address.url)
    assert page.url == f"{origin}/"
    expect(page.locator("h1")).to_have_text("Nhận tệp và chạy")
    expect(page.locator(".numbers")).to_contain_text("Chưa chạy lần nào")
    expect(union_row(page, "VT030").locator(".badge")).to_have_text("Chưa nộp")

    # A good file and one with an error, dropped and run.
    good = workbook(filled, "VT021.xlsx", "VT021", GOOD, dt.date(2022, 5, 31))
    bad = workbook(filled, "Báo cáo VT030.xlsx", "VT030", [{"tac_gia": ""}], dt.date(2022, 5, 31))
    pick(page, [good, bad])
    run_from(page)
    expect(page.locator(".numbers")).not_to_contain_text("Chưa chạy lần nào")
    expect(union_row(page, "VT021").locator(".badge")).to_have_text("Trễ hạn")  # the deadline was in 2022
    expect(union_row(page, "VT021").locator("td.num")).to_have_text(re.compile(r"^2\b"))
    expect(union_row(page, "VT030").locator(".badge")).to_have_text("Bị trả lại, chưa nộp lại")

    # The rejected union's page: its finding, and its feedback workbook to send back.
    union_row(page, "VT030").get_by_role("link").click()
    expect(page.locator("h1")).to_have_text("VT030 – " + desk.roster.find("VT030").name)  # type: ignore[union-attr]
    expect(page.locator("main .badge").first).to_have_text("Bị trả lại, chưa nộp lại")
    expect(page.locator("table.findings")).to_contain_text("Sáng kiến!C4")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Tải tệp đánh dấu lỗi").click()
    feedback = waiting.value
    assert feedback.suggested_filename.endswith("phản hồi.xlsx"), feedback.suggested_filename
    feedback.save_as(tmp_path / "phản hồi.xlsx")
    assert (tmp_path / "phản hồi.xlsx").read_bytes()[:2] == b"PK"

    # Its correction, dragged from a folder onto the overview and run: the union is accepted.
    page.get_by_role("link", name="Tình hình nộp", exact=True).click()
    correction = workbook(filled, "Báo cáo VT030 (sửa lại).xlsx", "VT030", CORRECTED, dt.date(2022, 6, 2))
    drag_and_drop(page, [correction])
    run_from(page)
    expect(union_row(page, "VT030").locator(".badge")).to_have_text("Trễ hạn")
    expect(page.locator("main")).to_contain_text("1 tệp mới được kiểm tra")
    # The button again with nothing new: the page says the results stand as they were.
    page.wait_for_load_state()
    with page.expect_navigation(timeout=RUN_TIMEOUT):
        page.click("#run")
        expect(page.locator("#run-state")).to_contain_text("Không có gì mới", timeout=RUN_TIMEOUT)
    union_row(page, "VT030").get_by_role("link").click()
    expect(page.locator("main .badge").first).to_have_text("Đã nộp, trễ hạn")
    files = page.locator("article.file")
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_contain_text("Trả lại")
    expect(files.nth(1)).to_contain_text("Báo cáo VT030 (sửa lại).xlsx")
    expect(page.locator("table.counted")).to_contain_text(CORRECTED[0]["ten_sang_kien"])
    registered = desk.form.example[desk.form.key("registered_on")]
    expect(page.locator("table.counted")).to_contain_text(f"{registered:%d/%m/%Y}")  # a date is day first

    # The report: section I written and saved, the report run again and downloaded.
    page.get_by_role("link", name="Báo cáo", exact=True).click()
    expect(page.locator("h1")).to_have_text("Báo cáo tổng hợp gửi LĐLĐ tỉnh")
    expect(page.locator("main .warn")).to_contain_text("Còn 3 mục chưa viết")
    page.fill("#s-I", SECTION_I)
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.locator("[role=status]")).to_contain_text("Đã lưu")
    expect(page.locator("main .warn")).to_contain_text("Còn 2 mục chưa viết")
    expect(page.locator("#s-I")).to_have_value(SECTION_I)
    # Section IV written and the report run at once, without "Lưu": the run saves it first.
    page.fill("#s-IV", SECTION_IV)
    run_from(page)
    expect(page.locator("#s-IV")).to_have_value(SECTION_IV)
    expect(page.locator("main .warn")).to_contain_text("Còn 1 mục chưa viết")
    expect(page.frame_locator("iframe.preview").locator("body")).to_contain_text("Kế hoạch số 12/KH-LĐLĐ")
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Báo cáo (Word)").click()
    report = waiting.value
    assert report.suggested_filename.endswith(".docx"), report.suggested_filename
    report.save_as(tmp_path / "bao-cao.docx")
    paragraphs = [p.text for p in docx.Document(str(tmp_path / "bao-cao.docx")).paragraphs]
    assert SECTION_I in paragraphs and SECTION_IV in paragraphs


def test_the_page_says_so_when_the_command_window_was_closed(page: Page, live_server, desk: Period, filled):
    """The server gone (its window closed): a file dropped, the run button and the report's run each
    say so in Vietnamese, and the text written in the report stays on the page."""
    address = live_server.start(desk)
    page.goto(address.url)
    report = page.context.new_page()
    report.goto(f"http://127.0.0.1:{address.port}/bao-cao")
    live_server.stop(address)

    page.set_input_files("#pick", [str(filled(name="VT021.xlsx"))])
    expect(page.locator("#uploads")).to_contain_text("Chưa gửi được tệp. Trang không kết nối được với chương trình")
    page.click("#run")
    expect(page.locator("#run-state")).to_have_text(re.compile("^Trang không kết nối được với chương trình"))
    expect(page.locator("#run")).to_be_enabled()

    report.fill("#s-IV", SECTION_IV)
    report.click("#run")
    expect(report.locator("#run-state")).to_contain_text("đừng đóng trang này kẻo mất chữ")
    expect(report.locator("#run-state")).to_contain_text("cửa sổ lệnh pipeline serve có còn mở không")
    expect(report.locator("#s-IV")).to_have_value(SECTION_IV)


# --- screenshots (SCREENSHOTS=1) ----------------------------------------------------------------------

SIZES = {1366: 768, 390: 844}  # a laptop, a phone


@pytest.fixture
def demo_desk(tmp_path: Path, settings, form) -> tuple[Period, str]:
    """The demo period (`pipeline demo`), run, with section I written; and the union whose page is
    shown: the one that sent a file with a mistake, then its correction."""
    import pipeline
    from pipeline.demo import build_demo
    from pipeline.report.officer import save_sections

    demo = build_demo(tmp_path / "demo", settings, form)
    period = Period(demo.settings, form, demo.roster)
    save_sections(period.settings, {"I": SECTION_I})
    result = pipeline.run(period)
    [corrected] = [
        u
        for u in result.units.values()
        if u.current is not None and any(not f.accepted and f not in u.attachments for f in u.files)
    ]
    return period, corrected.code


def whole_page(page: Page, path: Path) -> None:
    """A screenshot of the whole page, the report's preview painted in it: Playwright's full-page
    screenshot leaves the preview (a sandboxed iframe, in a process of its own) blank
    (microsoft/playwright#40583), so the viewport is made as tall as the page instead, the preview
    kept at the height it has on the real screen."""
    size = page.viewport_size
    assert size is not None
    page.evaluate("for (const f of document.querySelectorAll('iframe')) f.style.height = f.offsetHeight + 'px'")
    page.set_viewport_size({"width": size["width"], "height": page.evaluate("document.documentElement.scrollHeight")})
    for frame in page.frames:
        frame.wait_for_load_state()
    for preview in page.locator("iframe").all():
        preview.screenshot()  # waits for the frame to be painted at its new place
    page.screenshot(path=path)
    page.set_viewport_size(size)


@pytest.mark.skipif(os.environ.get("SCREENSHOTS") != "1", reason="writes docs/img/serve-*.png when SCREENSHOTS=1")
def test_screenshots(page: Page, console: list[str], live_server, demo_desk: tuple[Period, str]):
    """The overview, a union's page and the report page of the demo period, as the officer sees them
    on a laptop and on a phone: docs/img/serve-<page>-<width>.png."""
    period, code = demo_desk
    address = live_server.start(period)
    page.goto(address.url)
    for width, height in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, path in (("tong-quan", "/"), ("don-vi", f"/don-vi/{code}"), ("bao-cao", "/bao-cao")):
            page.goto(f"http://127.0.0.1:{address.port}{path}")
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} is wider than the screen"
            whole_page(page, SHOTS / f"serve-{name}-{width}.png")
