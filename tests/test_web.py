"""`pipeline serve`: the page's routes with Starlette's TestClient, and its defences."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline import Period, run
from pipeline.web.app import create_app

PORT = 8765
TOKEN = "ma-thu-nghiem-0123456789"
BASE = f"http://127.0.0.1:{PORT}"
ORIGIN = {"origin": BASE}


@pytest.fixture
def period(tmp_path, settings, form, roster, filled):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox", report_text=tmp_path / "bao-cao.md")
    good = [{"ten_sang_kien": "Sổ tay điện tử của tổ văn phòng", "tac_gia": "Lê Văn An"}]
    (inbox / "VT021.xlsx").write_bytes(filled(rows=good, name="a.xlsx").read_bytes())
    bad = filled(rows=[{"tac_gia": ""}], name="b.xlsx", code="VT030")
    (inbox / "VT030.xlsx").write_bytes(bad.read_bytes())
    hostile = filled(unit={"ma_cdcs": "ZZ999", "ten_cdcs": "<script>alert(1)</script>"}, rows=[{}], name="c.xlsx")
    (inbox / "lạ.xlsx").write_bytes(hostile.read_bytes())
    return Period(s, form, roster)


@pytest.fixture
def client(period):
    app = create_app(lambda: period, token=TOKEN, port=PORT)
    with TestClient(app, base_url=BASE) as c:
        c.cookies.set(f"pipeline_{PORT}", TOKEN)
        yield c


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- defences ----------------------------------------------------------------------------------


def test_the_token_of_the_opened_url_becomes_a_cookie_and_leaves_the_address(period):
    app = create_app(lambda: period, token=TOKEN, port=PORT)
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/").status_code == 403
        assert c.get("/?t=sai").status_code == 403
        assert c.get("/?t=m%C3%A3-sai").status_code == 403  # any characters: refused, not an error
        first = c.get(f"/?t={TOKEN}&khoi=Giáo dục", follow_redirects=False)
        assert first.status_code == 303 and "t=" not in first.headers["location"]
        assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
        assert c.get(first.headers["location"]).status_code == 200  # the cookie does from now on
    with TestClient(app, base_url=BASE) as other:
        other.cookies.set(f"pipeline_{PORT}", "ma-cu-0123456789")
        assert other.get("/").status_code == 403


def test_another_host_name_is_refused(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 421
    assert client.get("/", headers={"host": f"127.0.0.1:{PORT + 1}"}).status_code == 421
    assert client.get("/", headers={"host": f"localhost:{PORT}"}).status_code == 200


def test_a_post_from_another_page_is_refused(client):
    assert client.post("/chay", headers={"origin": "http://evil.example"}).status_code == 403
    assert client.post("/chay").status_code == 403  # no Origin at all
    assert client.post("/bao-cao", data={"I": "x"}, headers={"origin": "null"}).status_code == 403


def test_every_answer_forbids_inline_script_and_framing(client):
    for path in ("/", "/don-vi/VT021", "/bao-cao", "/cai-dat", "/khong-co"):
        answer = client.get(path)
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp and answer.headers["x-content-type-options"] == "nosniff"
        # Not no-referrer: Chromium would send the report form's POST with `Origin: null` (refused).
        assert answer.headers["referrer-policy"] == "same-origin"
        assert not re.search(r"<script(?![^>]*\bsrc=)", answer.text)  # every script is a file of the package
        assert not re.search(r"\son[a-z]+\s*=", answer.text)  # no inline event handler
        assert "http://" not in re.sub(r"http://127\.0\.0\.1:\d+", "", answer.text.split("<footer")[0])


def test_downloads_are_by_id_only(client, period):
    run(period)
    assert client.get("/tai/ket-qua/report_docx").status_code == 200
    for bad in (
        "/tai/ket-qua/..%2F..%2Fpipeline.toml",
        "/tai/ket-qua/%2Fetc%2Fpasswd",
        "/tai/phan-hoi/..%2F..%2Fso-theo-doi.sqlite",
        "/tai/phan-hoi/" + "0" * 64,
        "/tai/ket-qua/ledger",
        "/tai/khac/report_docx",
    ):
        assert client.get(bad).status_code == 404, bad


def test_a_union_name_with_markup_is_shown_as_text(client, period):
    run(period)
    page = client.get("/?trang_thai=rejected").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "<script>alert" not in client.get("/don-vi/ZZ999").text


def test_an_upload_is_saved_under_a_safe_name_and_refused_over_the_limit(client, period):
    inbox = period.settings.paths.inbox
    before = set(inbox.iterdir())
    files = [("tep", ("../../ngoài hộp thư.xlsx", "PK nội dung".encode(), "application/octet-stream"))]
    answer = client.post("/nhan-tep", files=files, headers=ORIGIN)
    assert answer.status_code == 200 and answer.json()["saved"] == ["ngoài hộp thư.xlsx"]
    assert set(inbox.iterdir()) - before == {inbox / "ngoài hộp thư.xlsx"}
    assert not (inbox.parent.parent / "ngoài hộp thư.xlsx").exists()
    limits = dataclasses.replace(period.settings.limits, max_file_mb=0.01)
    small = period.with_settings(dataclasses.replace(period.settings, limits=limits))
    app = create_app(lambda: small, token=TOKEN, port=PORT)
    with TestClient(app, base_url=BASE) as c:
        c.cookies.set(f"pipeline_{PORT}", TOKEN)
        big = [("tep", ("lớn.xlsx", b"x" * 20_000, "application/octet-stream"))]
        refused = c.post("/nhan-tep", files=big, headers=ORIGIN)
    assert refused.status_code == 413 and refused.json()["saved"] == []
    assert not list(inbox.glob("lớn*")) and not list(inbox.glob(".tải-lên-*"))


def test_two_runs_at_once_the_second_is_told_to_wait(client, monkeypatch):
    import pipeline

    release = threading.Event()
    entered = threading.Event()

    def held(period, **kwargs):
        entered.set()
        release.wait(30)
        raise pipeline.PipelineError("dừng thử")

    monkeypatch.setattr(pipeline, "run", held)
    assert client.post("/chay", headers=ORIGIN).status_code == 200
    assert entered.wait(30)
    second = client.post("/chay", headers=ORIGIN)
    assert second.status_code == 409 and "Đang có một lần chạy" in second.json()["message"]
    release.set()
    events = client.get("/tien-do").text
    assert '"kind": "error"' in events and "dừng thử" in events


# --- the officer's pages -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_from_the_page_streams_its_progress_and_the_overview_shows_the_unions(client, period, roster):
    assert client.post("/chay", headers=ORIGIN).status_code == 200
    events = client.get("/tien-do").text
    kinds = re.findall(r'"kind": "(\w+)"', events)
    assert kinds[0] == "start" and kinds.count("file") == 3 and kinds[-1] == "done"
    page = _text(client.get("/").text)
    assert "VT021" in _text(client.get("/?trang_thai=late").text)  # its file arrived now, after the deadline
    assert f"/ {len(roster.active) + 1} CĐCS" in page  # every active union, and the stranger
    rejected = _text(client.get("/?trang_thai=rejected").text)
    assert "VT030" in rejected and "VT021" not in rejected
    assert "VT021" in _text(client.get("/?tim=vt021").text) and "VT030" not in _text(client.get("/?tim=vt021").text)
    # The button again, with nothing new: the run says so and rewrites nothing.
    assert '"unchanged": false' in events
    docx = period.settings.paths.outbox / "bao-cao-tong-hop.docx"
    written = docx.stat().st_mtime_ns
    assert client.post("/chay", headers=ORIGIN).status_code == 200
    assert '"unchanged": true' in client.get("/tien-do").text
    assert docx.stat().st_mtime_ns == written


@pytest.mark.slow
def test_a_union_page_shows_its_files_findings_feedback_and_data(client, period):
    run(period)
    page = client.get("/don-vi/VT030").text
    text = _text(page)
    assert "Trả lại" in text and "bắt buộc" in text and "Sáng kiến!C4" in text
    [sha] = re.findall(r"/tai/phan-hoi/([0-9a-f]{64})", page)
    workbook = client.get(f"/tai/phan-hoi/{sha}")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert "attachment" in workbook.headers["content-disposition"]
    good = _text(client.get("/don-vi/VT021").text)
    assert "Sổ tay điện tử của tổ văn phòng" in good and "Lê Văn An" in good
    assert client.get("/don-vi/KHONG-CO").status_code == 404


@pytest.mark.slow
def test_the_officers_sections_are_written_from_the_page_and_reach_the_report(client, period):
    import docx

    before = _text(client.get("/bao-cao").text)
    assert "Còn 3 mục chưa viết" in before
    saved = client.post("/bao-cao", data={"I": "Ban Thường vụ đã ban hành Kế hoạch số 12."}, headers=ORIGIN)
    assert saved.history[0].status_code == 303  # then a GET, which a reload does not send again
    assert "Đã lưu" in saved.text and "Còn 2 mục chưa viết" in _text(saved.text)
    run(period)
    page = client.get("/bao-cao").text
    assert "/tai/ket-qua/report_docx" in page and "/bao-cao/xem" in page
    document = client.get("/tai/ket-qua/report_docx")
    path = Path(period.settings.paths.outbox / "tai-ve.docx")
    path.write_bytes(document.content)
    assert "Ban Thường vụ đã ban hành Kế hoạch số 12." in "\n".join(p.text for p in docx.Document(path).paragraphs)
    preview = client.get("/bao-cao/xem")
    assert preview.status_code == 200 and "sandbox" in preview.headers["content-security-policy"]


def test_the_settings_page_shows_the_configuration_and_where_to_change_it(client, period):
    text = _text(client.get("/cai-dat").text)
    assert str(period.settings.source) in text and period.settings.organisation.full_name in text
    assert f"phiên bản {period.form.version}" in text and "[mail.imap]" in text


@pytest.mark.slow
def test_the_report_pages_run_makes_the_pdf_to_sign(client):
    assert client.post("/chay?pdf=1", headers=ORIGIN).status_code == 200
    assert '"kind": "done"' in client.get("/tien-do").text
    assert "/tai/ket-qua/report_pdf" in client.get("/bao-cao").text
    pdf = client.get("/tai/ket-qua/report_pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_run_from_the_command_line_holding_the_ledger_is_said_on_the_page(client, period):
    """The page's run takes the same lock as `pipeline run`: while another holds it, the page says so."""
    import multiprocessing

    from pipeline.lock import exclusive

    ready, done = multiprocessing.Event(), multiprocessing.Event()

    def hold(folder: Path) -> None:
        with exclusive(folder):
            ready.set()
            done.wait(60)

    other = multiprocessing.get_context("fork").Process(target=hold, args=(period.settings.paths.history_dir,))
    other.start()
    try:
        assert ready.wait(30)
        assert client.post("/chay", headers=ORIGIN).status_code == 200
        events = client.get("/tien-do").text
        assert '"kind": "error"' in events and "đang" in events.lower()
    finally:
        done.set()
        other.join(30)


@pytest.mark.slow
def test_a_cover_letter_beside_the_workbook_shows_its_note_not_a_rejection(client, period):
    (period.settings.paths.inbox / "Công văn gửi kèm VT021.pdf").write_bytes(b"%PDF-1.4 a cover letter")
    run(period)
    text = _text(client.get("/don-vi/VT021").text)
    assert "gửi kèm bảng tính" in text and "không phải bảng tính" not in text


def test_a_section_not_written_yet_is_an_empty_box_with_its_hint_as_placeholder(client):
    page = client.get("/bao-cao").text
    box = re.search(r'<textarea id="s-IV"[^>]*placeholder="([^"]+)"[^>]*>([^<]*)</textarea>', page)
    assert box and box.group(1).startswith("(Đơn vị bổ sung") and box.group(2) == ""
    saved = client.post("/bao-cao", data={"I": "Đã ban hành Kế hoạch.", "IV": ""}, headers=ORIGIN)
    assert "Còn 2 mục chưa viết" in _text(saved.text)  # IV left empty: still unwritten, not an error
    assert re.search(r'<textarea id="s-I"[^>]*>Đã ban hành Kế hoạch.</textarea>', saved.text)


def test_the_templates_to_send_are_downloaded_from_the_page(client, period):
    import openpyxl

    assert "/tai/mau/trong" in client.get("/").text and "/tai/mau/VT021" in client.get("/don-vi/VT021").text
    blank = client.get("/tai/mau/trong")
    own = client.get("/tai/mau/VT021")
    assert blank.status_code == own.status_code == 200 and own.content[:2] == b"PK"
    assert "VT021" in own.headers["content-disposition"]
    path = period.settings.paths.outbox / "mẫu.xlsx"
    path.write_bytes(own.content)
    book = openpyxl.load_workbook(path)
    values = [c for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for c in row]
    assert "VT021" in values  # the union's own details, pre-filled
    for bad in ("ZZ999", "vt021", "..%2Fpipeline.toml", "VT021%00"):
        assert client.get(f"/tai/mau/{bad}").status_code == 404, bad


@pytest.mark.slow
def test_the_overview_says_how_many_files_wait_in_the_inbox(client, period, filled):
    assert "Có 3 tệp trong thư mục nhận chưa được đọc" in _text(client.get("/").text)
    run(period)
    assert "chưa được đọc" not in client.get("/").text
    (period.settings.paths.inbox / "mới.xlsx").write_bytes(filled(rows=[{}], name="d.xlsx", code="VT031").read_bytes())
    assert "Có 1 tệp trong thư mục nhận chưa được đọc" in _text(client.get("/").text)
