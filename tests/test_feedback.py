"""Feedback for a union: its own workbook, marked at each faulty cell, and a message to send back."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import subprocess
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipeline import Period, run
from pipeline.findings import Severity
from pipeline.render.feedback import FILLS, SHEET
from pipeline.results import Status
from tests.conftest import soffice
from tests.test_feedback_patch import first_sheet_part


@pytest.fixture
def inbox_run(tmp_path, filled, form, settings, roster):
    def go(files: dict[str, bytes]):
        inbox = tmp_path / "inbox"
        inbox.mkdir(exist_ok=True)
        for name, data in files.items():
            (inbox / name).write_bytes(data)
        s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
        return {r.name: r for r in run(Period(s, form, roster)).files}

    return go


@pytest.mark.slow
def test_a_rejected_file_gets_its_workbook_marked_and_a_message(inbox_run, filled):
    bad = filled(rows=[{"tac_gia": "An"}, {"linh_vuc": "@SUM(1)+cmd"}], name="b.xlsx")
    original = bad.read_bytes()
    result = inbox_run({"Báo cáo VT021.xlsx": original})["Báo cáo VT021.xlsx"]
    assert result.status is Status.REJECTED and result.feedback and result.message
    assert result.feedback.name == "VT021 - Báo cáo VT021 - phản hồi.xlsx"

    wb = openpyxl.load_workbook(result.feedback)
    assert wb.sheetnames[0] == SHEET and wb.active.title == SHEET
    listing = wb[SHEET]
    rows = [[c.value for c in row] for row in listing.iter_rows(min_row=5) if row[0].value]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("Lỗi", 'Trang Sáng kiến, dòng 4, cột "Tác giả (họ và tên)"', "C4"),
        ("Lỗi", 'Trang Sáng kiến, dòng 5, cột "Lĩnh vực"', "G5"),
    ]
    assert listing["D5"].hyperlink.location == "'Sáng kiến'!C4" or listing["D5"].hyperlink.target == "#'Sáng kiến'!C4"
    # The payload is listed as text, never as a formula.
    assert rows[1][4] == "'@SUM(1)+cmd"
    sheet = wb["Sáng kiến"]
    for ref, finding in zip(("C4", "G5"), result.findings, strict=True):
        assert sheet[ref].fill.start_color.rgb.endswith(FILLS[Severity.ERROR])
        assert finding.message in sheet[ref].comment.text
    assert sheet["B4"].comment is None
    with zipfile.ZipFile(result.feedback) as zf:
        listing_xml = zf.read(first_sheet_part(result.feedback)).decode()
    assert "<f>" not in listing_xml and "CÁC LỖI CẦN SỬA" in listing_xml

    text = result.message.read_text(encoding="utf-8-sig")
    assert text.startswith("Kính gửi Ban Chấp hành CĐCS Trường Mầm non Vĩnh Bình Bắc (mã VT021),")
    assert (
        '1. Trang Sáng kiến, dòng 4, cột "Tác giả (họ và tên)": ' in text and "chưa được tiếp nhận vì còn 2 lỗi" in text
    )
    assert "Sáng kiến!C4" not in text  # places as a clerk reads them, not spreadsheet references
    assert result.feedback.name in text
    # The original is never touched.
    assert (result.path).read_bytes() == original


@pytest.mark.slow
def test_warnings_only_file_is_accepted_and_told(inbox_run, filled):
    ok = filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng", "stt": 3}], name="w.xlsx")
    result = inbox_run({"w.xlsx": ok.read_bytes()})["w.xlsx"]
    assert result.status is Status.ACCEPTED_WITH_WARNINGS
    wb = openpyxl.load_workbook(result.feedback)
    assert wb["Sáng kiến"]["A5"].fill.start_color.rgb.endswith(FILLS[Severity.WARNING])
    assert "đã tiếp nhận tệp" in result.message.read_text(encoding="utf-8-sig")


@pytest.mark.slow
def test_a_correct_file_gets_no_feedback(inbox_run, filled):
    result = inbox_run({"ok.xlsx": filled(rows=[{}]).read_bytes()})["ok.xlsx"]
    assert result.status is Status.ACCEPTED and result.feedback is None and result.message is None


def test_an_unreadable_file_gets_a_message_saying_why(inbox_run):
    results = inbox_run({"Báo cáo.xlsx": b"%PDF-1.4 not a workbook", "rỗng.xlsx": b""})
    pdf = results["Báo cáo.xlsx"]
    assert pdf.status is Status.REJECTED and pdf.feedback is None
    text = pdf.message.read_text(encoding="utf-8-sig")
    assert "không đọc được tệp này" in text and "tệp PDF" in text and "lưu dạng .xlsx" in text


@pytest.mark.slow
def test_macro_workbook_feedback_is_plain_xlsx(inbox_run, filled, tmp_path):
    bad = filled(rows=[{"tac_gia": "An"}])
    xlsm = tmp_path / "m.xlsm"
    with zipfile.ZipFile(bad) as src, zipfile.ZipFile(xlsm, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/vbaProject.bin", b"\x00" * 64)
    result = inbox_run({"m.xlsm": xlsm.read_bytes()})["m.xlsm"]
    assert result.kind == "xlsm" and result.feedback.suffix == ".xlsx"
    with zipfile.ZipFile(result.feedback) as zf:
        assert not any("vbaProject" in n for n in zf.namelist())


def _convert(files: list[Path], fmt: str, out: Path, profile: Path) -> None:
    cmd = [soffice(), "--headless", "--norestore", f"-env:UserInstallation=file://{profile}"]
    subprocess.run(
        [*cmd, "--convert-to", fmt, "--outdir", str(out), *map(str, files)],
        check=True,
        timeout=180,
        capture_output=True,
    )


MANY_DEFECTS = {
    "unit": {"nguoi_lap": None, "dien_thoai": "12345", "ngay_lap": "1/6/22"},
    "rows": [
        {"tac_gia": "An", "ngay_ap_dung": "2021-06-15"},
        {"stt": 2, "ten_sang_kien": "Ngắn", "loai_giai_phap": "Giải pháp kĩ thuật", "gia_tri_lam_loi": "1.5"},
        {"stt": 4, "tac_gia": "Lê Văn Cường", "da_len_cong": "Chưa", "ngay_dang_ky": "2/6/2022"},
    ],
}
MANY_CELLS = {
    ("Thông tin đơn vị", "B17"): "bắt buộc",
    ("Thông tin đơn vị", "B18"): "điện thoại",
    ("Thông tin đơn vị", "B20"): "năm hai chữ số",
    ("Sáng kiến", "C4"): "ít nhất hai từ",
    ("Sáng kiến", "K4"): "nằm ngoài khoảng",
    ("Sáng kiến", "B5"): "quá ngắn",
    ("Sáng kiến", "F5"): "không có trong danh sách",
    ("Sáng kiến", "J5"): "phải là số nguyên",
    ("Sáng kiến", "A6"): "không liền sau",
    ("Sáng kiến", "D6"): "đồng tác giả",
    ("Sáng kiến", "L6"): "sau ngày",
    ("Sáng kiến", "P6"): "chỉ điền khi",
}


@pytest.mark.slow
def test_feedback_opens_in_libreoffice_with_every_defect_highlighted_and_commented(inbox_run, filled, tmp_path):
    bad = filled(name="b.xlsx", **MANY_DEFECTS)
    ods_dir = tmp_path / "ods"
    _convert([bad], "ods", ods_dir, tmp_path / "profile")  # a union working in LibreOffice
    results = inbox_run({"b.xlsx": bad.read_bytes(), "b.ods": (ods_dir / "b.ods").read_bytes()})
    marked = [results["b.xlsx"].feedback, results["b.ods"].feedback]
    assert all(p and p.suffix == ".xlsx" for p in marked)
    out = tmp_path / "lo"
    _convert(marked, "xlsx", out, tmp_path / "profile")
    _convert(marked[:1], "pdf", out, tmp_path / "profile")
    assert (out / f"{marked[0].stem}.pdf").stat().st_size > 1000
    with zipfile.ZipFile(bad) as sent, zipfile.ZipFile(marked[0]) as copy:  # patched, not rebuilt by openpyxl
        assert copy.read("docProps/core.xml") == sent.read("docProps/core.xml")
    found = {(f.location.sheet, f.location.cell) for f in results["b.xlsx"].findings}
    assert set(MANY_CELLS) <= found
    for path in marked:
        wb = openpyxl.load_workbook(out / path.name)
        assert wb.sheetnames[0] == SHEET
        for (sheet, ref), words in MANY_CELLS.items():
            cell = wb[sheet][ref]
            assert cell.fill.fill_type == "solid" and cell.fill.start_color.rgb[-6:] in FILLS.values(), (path, ref)
            assert cell.comment is not None and words in cell.comment.text, (path, ref, cell.comment)


class _InProcess:
    """A runner that runs each job here, so that a test's monkeypatching reaches it."""

    def prestart(self, count=None):
        pass

    def prestart_own(self, imports):
        pass

    def give_own(self, job):
        return False

    def take_own(self):
        return None

    def abort(self):
        pass

    def run(self, jobs, at_most=None):
        for i, job in enumerate(jobs):
            yield i, job[0](*job[1])


def test_a_very_large_file_gets_the_listing_without_a_copy(inbox_run, filled, monkeypatch):
    from pipeline import stages as run_module
    from pipeline.render import feedback

    monkeypatch.setattr(feedback, "COPY_MAX_BYTES", 100)
    monkeypatch.setattr(run_module, "open_runner", lambda settings: contextlib.nullcontext(_InProcess()))
    result = inbox_run({"b.xlsx": filled(rows=[{"tac_gia": "An"}]).read_bytes()})["b.xlsx"]
    assert openpyxl.load_workbook(result.feedback).sheetnames == [SHEET]


# --- what a union clerk reads -------------------------------------------------------------------


def _distance(a: str, b: str) -> float:
    """How far apart two colours look (RGB, weighted for the eye's sensitivity)."""
    (r1, g1, b1), (r2, g2, b2) = (tuple(int(c[i : i + 2], 16) for i in (0, 2, 4)) for c in (a[-6:], b[-6:]))
    return (2 * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2 + 3 * (b1 - b2) ** 2) ** 0.5


@pytest.mark.slow
def test_errors_and_warnings_have_their_own_titles_and_clearly_different_colours(inbox_run, filled, form):
    results = inbox_run(
        {
            "sai.xlsx": filled(
                rows=[{"tac_gia": "An"}, {"stt": 3, "tac_gia": "Phạm Văn Dũng"}], name="a.xlsx"
            ).read_bytes(),
            "nhac.xlsx": filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng", "stt": 3}], name="b.xlsx").read_bytes(),
        }
    )
    rejected = openpyxl.load_workbook(results["sai.xlsx"].feedback)[SHEET]
    assert rejected["A1"].value.startswith("CÁC LỖI CẦN SỬA")
    assert "1 lỗi phải sửa (tô đỏ), 1 điểm cần kiểm tra lại (tô vàng cam)" in rejected["A2"].value
    warned = openpyxl.load_workbook(results["nhac.xlsx"].feedback)[SHEET]
    assert warned["A1"].value.startswith("CÁC ĐIỂM CẦN KIỂM TRA LẠI") and "LỖI" not in warned["A1"].value
    assert "0 lỗi" not in warned["A2"].value and "đã được tiếp nhận" in warned["A2"].value
    text = results["nhac.xlsx"].message.read_text(encoding="utf-8-sig")
    assert "lỗi" not in text.split("\n\n", 1)[1].split("Trong tệp đính kèm")[0]  # a warning is not called an error
    # Told apart at a glance from each other and from the template's own (pale yellow) input cells.
    template = openpyxl.load_workbook(filled(name="c.xlsx"))[form.sheets["unit"]]
    input_fill = template["B9"].fill.start_color.rgb
    pairs = [(FILLS[Severity.ERROR], FILLS[Severity.WARNING]), (FILLS[Severity.WARNING], input_fill),
             (FILLS[Severity.ERROR], input_fill)]  # fmt: skip
    assert all(_distance(a, b) > 150 for a, b in pairs), [(a, b, _distance(a, b)) for a, b in pairs]


@pytest.mark.slow
def test_the_message_names_the_union_says_what_to_do_by_when_and_whom_to_call(inbox_run, filled, settings):
    bad = filled(
        unit={"dien_thoai": "12345"}, rows=[{"tac_gia": "An", "ngay_ap_dung": dt.date(2021, 6, 15)}], name="a.xlsx"
    )
    result = inbox_run({"Báo cáo.xlsx": bad.read_bytes()})["Báo cáo.xlsx"]
    text = result.message.read_text(encoding="utf-8-sig")
    assert text.startswith("Kính gửi Ban Chấp hành CĐCS Trường Mầm non Vĩnh Bình Bắc (mã VT021),")
    due = settings.reply_by()
    assert due > settings.deadline and f"gửi lại trước ngày {due:%d/%m/%Y}" in text
    assert f"{settings.deadline:%d/%m/%Y}" not in text  # the reporting deadline is past: not a date to aim for
    assert "xin liên hệ đồng chí Trần Thị Mẫu, điện thoại 0297 3855 123" in text
    numbered = [line for line in text.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(numbered) == 3 and all("ui lòng" in line for line in numbered), numbered
    assert 'Trang Thông tin đơn vị, dòng 18, mục "Điện thoại": ' in text
    assert "xóa dòng sáng kiến này" in text  # a date outside the window: check it, or remove the row


def test_every_error_and_warning_says_what_to_do() -> None:
    from pipeline.findings import Code, template
    from pipeline.rules import WINDOW_CONSEQUENCES

    told = {  # notices: what was read for the union, nothing to do
        Code.TEXT_NORMALISED, Code.LEGACY_TEXT, Code.TEXT_DATE_READ, Code.TEXT_NUMBER_READ, Code.EXTENSION_MISMATCH,
        Code.FALLBACK_READER,
    }  # fmt: skip
    texts: dict[str, str] = {code.value: template(code) for code in Code if code not in told}
    # out-of-window says what to do in its consequence, by window
    texts.update({f"out-of-window {window}": text for window, text in WINDOW_CONSEQUENCES.items()})
    del texts["out-of-window"]
    assert [code for code, text in texts.items() if not re.search(r"[Vv]ui lòng|[Đđ]ề nghị", text)] == []


@pytest.mark.slow
def test_the_listing_and_the_marked_sheets_use_the_workbooks_font_and_fit_wrapped_rows(inbox_run, filled, form):
    summary = "Học sinh trồng lúa trong khay để quan sát sinh trưởng và ghi chép số liệu hằng tuần, " * 3
    bad = filled(rows=[{"tac_gia": "An", "tom_tat": summary}], name="a.xlsx")
    result = inbox_run({"a.xlsx": bad.read_bytes()})["a.xlsx"]
    wb = openpyxl.load_workbook(result.feedback)
    listing = wb[SHEET]
    fonts = {listing.cell(r, c).font.name for r in (1, 2, 4, 5) for c in (1, 3, 6) if listing.cell(r, c).value}
    assert fonts == {"Times New Roman"}  # the form's own font, not the default Calibri
    message_lines = -(-len(listing["F5"].value) // 70)
    assert listing.row_dimensions[5].height >= 15 * message_lines
    rows = wb[form.sheets["initiatives"]]
    assert rows.row_dimensions[4].height and rows.row_dimensions[4].height >= 3 * 15  # the long summary shows


@pytest.mark.slow
@pytest.mark.parametrize("together", [True, False])
@pytest.mark.parametrize("how", ["code in the name", "same folder"])
def test_a_cover_letter_beside_the_unions_workbook_is_noted_not_rejected(tmp_path, filled, form, settings, roster,
                                                                         together, how):  # fmt: skip
    inbox = tmp_path / "inbox"
    (inbox / "thư ngày 3-6").mkdir(parents=True)
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    letter = "thư ngày 3-6/Công văn gửi kèm VT021.pdf" if how == "code in the name" else "thư ngày 3-6/Công văn.pdf"
    (inbox / letter).write_bytes(b"%PDF-1.4 a cover letter")
    workbook = inbox / "thư ngày 3-6" / "Báo cáo.xlsx"
    if together:
        workbook.write_bytes(filled(rows=[{}]).read_bytes())
    first = {r.name: r for r in run(Period(s, form, roster)).files}
    if not together:  # the letter came first, alone: it was rejected then, and is set aside now
        assert first[letter].status is Status.REJECTED and first[letter].message
        if how == "code in the name":  # addressed to its union
            assert first[letter].unit_code == "VT021"
            assert "Trường Mầm non Vĩnh Bình Bắc" in first[letter].message.read_text("utf-8-sig")
        workbook.write_bytes(filled(rows=[{}]).read_bytes())
    result = run(Period(s, form, roster))
    files = {r.name: r for r in result.files}
    noted = files[letter]
    assert noted.status is Status.IGNORED and noted.findings == [] and noted.message is None
    assert noted.reason and 'gửi kèm bảng tính "thư ngày 3-6/Báo cáo.xlsx"' in noted.reason
    assert noted.unit_code == "VT021" and files["thư ngày 3-6/Báo cáo.xlsx"].status is Status.ACCEPTED
    unit = result.units["VT021"]
    assert unit.latest_rejected is None and unit.reporting.value in ("on_time", "late")
    if together:
        assert not (tmp_path / "outbox" / "phan-hoi").exists() or not list((tmp_path / "outbox" / "phan-hoi").iterdir())


@pytest.mark.slow
def test_a_pdf_alone_is_still_rejected_and_addressed_to_its_union(inbox_run):
    result = inbox_run({"Báo cáo sáng kiến VT021.pdf": b"%PDF-1.4 a scan"})["Báo cáo sáng kiến VT021.pdf"]
    assert result.status is Status.REJECTED and result.unit_code == "VT021"
    text = result.message.read_text(encoding="utf-8-sig")
    assert text.startswith("Kính gửi Ban Chấp hành CĐCS Trường Mầm non Vĩnh Bình Bắc (mã VT021),")
    assert "tệp PDF" in text and "gửi lại trước ngày" in text


@pytest.mark.slow
def test_a_rejected_union_is_reported_with_its_workbook_not_its_cover_letter(tmp_path, filled, form, settings, roster):
    from tests.conftest import figures_of

    inbox = tmp_path / "inbox"
    (inbox / "thư").mkdir(parents=True)
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    (inbox / "thư" / "Báo cáo.xlsx").write_bytes(filled(rows=[{"tac_gia": "An"}]).read_bytes())
    letter = inbox / "thư" / "Công văn.pdf"
    letter.write_bytes(b"%PDF-1.4 a cover letter")
    os.utime(letter, (letter.stat().st_mtime + 60,) * 2)  # saved after the workbook
    result = run(Period(s, form, roster))
    assert {r.name: r.status for r in result.files}["thư/Công văn.pdf"] is Status.IGNORED
    figures, _ = figures_of(result, s, form, roster)
    (gap,) = [g for g in figures.gaps if g.code == "VT021"]
    assert gap.kind.value == "rejected" and gap.file == "thư/Báo cáo.xlsx"


def _wait_for_feedback(monkeypatch, step: str, folder: Path, failure: str, then: Exception | None = None) -> None:
    """Make the run's `step` (a function of `pipeline.stages`) wait until a file's feedback (the
    marked-up copy and the message) is in `folder`, `failure` if it never comes; then raise `then`
    instead of doing the step, when given."""
    from pipeline import stages

    original = getattr(stages, step)

    def once_feedback_is_written(*args, **kwargs):
        deadline = time.monotonic() + 60
        while len(list(folder.glob("*"))) < 2:
            assert time.monotonic() < deadline, failure
            time.sleep(0.02)
        if then is not None:
            raise then
        return original(*args, **kwargs)

    monkeypatch.setattr(stages, step, once_feedback_is_written)


def test_the_feedback_is_written_while_the_run_merges(inbox_run, filled, tmp_path, monkeypatch):
    """A flagged file's feedback is written on the workers while the run merges: here the merge
    waits until the feedback's files are there (it would wait in vain if the feedback were begun
    only with the outputs), and the run records it as before."""
    from pipeline import stages

    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    _wait_for_feedback(monkeypatch, "dataset", feedback, "no feedback was written while the run merged")
    bad = filled(rows=[{"tac_gia": "An"}, {"linh_vuc": ""}], name="b.xlsx")
    result = inbox_run({"Báo cáo VT021.xlsx": bad.read_bytes()})["Báo cáo VT021.xlsx"]
    assert result.status is Status.REJECTED
    assert result.feedback and result.feedback.parent == feedback and result.message and result.message.is_file()


def _settled(monkeypatch) -> list:
    """Each run's feedback once the ledger's files have decided it (`_Feedback.settle`)."""
    from pipeline import stages

    seen = []
    settle = stages._Feedback.settle

    def spy(self, files, aside):
        settle(self, files, aside)
        seen.append(self)

    monkeypatch.setattr(stages._Feedback, "settle", spy)
    return seen


def test_the_feedback_is_begun_before_the_files_are_recorded(inbox_run, filled, tmp_path, monkeypatch):
    """A flagged file whose union its content names has its feedback begun as soon as validation
    has found its faults: here the ledger waits until that feedback's files are there. Once in the
    ledger, the job begun is that file's (written once); a file whose union only the merge finds
    (a PDF named after it) gets its feedback after, and nothing else is in the feedback's folder."""
    from pipeline import stages

    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    _wait_for_feedback(monkeypatch, "_record", feedback, "no feedback was written before the files were recorded")
    settled = _settled(monkeypatch)
    bad = filled(rows=[{"tac_gia": "An"}, {"linh_vuc": ""}], name="b.xlsx")
    results = inbox_run({"Báo cáo VT021.xlsx": bad.read_bytes(), "Công văn VT022.pdf": b"%PDF-1.4 a scan"})
    workbook, pdf = results["Báo cáo VT021.xlsx"], results["Công văn VT022.pdf"]
    assert workbook.status is Status.REJECTED and pdf.status is Status.REJECTED and pdf.unit_code == "VT022"
    (done,) = settled
    slots = {r.name: slot for r, slot in zip(done.pending, done._slots, strict=True)}
    assert slots["Báo cáo VT021.xlsx"] is not None and slots["Công văn VT022.pdf"] is None and done._stale == []
    assert workbook.feedback and workbook.message and pdf.message and pdf.feedback is None
    assert {p.name for p in feedback.iterdir()} == {workbook.feedback.name, workbook.message.name, pdf.message.name}
    assert "VT022" in pdf.message.read_text("utf-8-sig")


def test_feedback_begun_from_what_the_ledger_does_not_give_is_undone(inbox_run, filled, tmp_path, monkeypatch):
    """Should the files as validated differ from the ledger's (here the union's code is made wrong
    before the feedback is begun), the feedback begun is removed and the ledger's is written."""
    from dataclasses import replace

    from pipeline import stages

    as_recorded = stages._as_recorded

    def wrong_union(*args, **kwargs):
        return [replace(r, unit_code="VT099") for r in as_recorded(*args, **kwargs)]

    monkeypatch.setattr(stages, "_as_recorded", wrong_union)
    settled = _settled(monkeypatch)
    bad = filled(rows=[{"tac_gia": "An"}], name="b.xlsx")
    result = inbox_run({"Báo cáo VT021.xlsx": bad.read_bytes()})["Báo cáo VT021.xlsx"]
    (done,) = settled
    assert done._slots == [None] and done._stale == [0]
    assert result.feedback and result.feedback.name == "VT021 - Báo cáo VT021 - phản hồi.xlsx"
    assert result.message and "VT099" not in result.message.read_text("utf-8-sig")
    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    assert {p.name for p in feedback.iterdir()} == {result.feedback.name, result.message.name}


def test_feedback_begun_for_a_file_that_the_ledger_gives_none_is_removed(inbox_run, filled, tmp_path, monkeypatch):
    """Should the ledger's files give no feedback at all where some was begun, the run still waits
    for what was begun and removes its files before the outputs take the workers."""
    from pipeline import stages

    feedback_jobs = stages._feedback_jobs

    def none_once_in_the_ledger(files, out_dir, settings, form, *taken):
        return feedback_jobs(files, out_dir, settings, form, *taken) if taken else ([], [])

    monkeypatch.setattr(stages, "_feedback_jobs", none_once_in_the_ledger)
    settled = _settled(monkeypatch)
    bad = filled(rows=[{"tac_gia": "An"}], name="b.xlsx")
    result = inbox_run({"Báo cáo VT021.xlsx": bad.read_bytes()})["Báo cáo VT021.xlsx"]
    (done,) = settled
    assert done.pending == [] and done._stale == [0]
    assert result.status is Status.REJECTED and result.feedback is None and result.message is None
    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    assert not feedback.exists() or list(feedback.iterdir()) == []


def test_a_run_that_stops_before_recording_the_feedback_leaves_none_of_it(inbox_run, filled, tmp_path, monkeypatch):
    """Feedback begun before the files are recorded, in a run that then fails (here the ledger's
    recording, once the feedback is written), is removed: the ledger knows none of it. The next run
    writes it again."""
    from pipeline import stages

    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    record = stages._record
    _wait_for_feedback(monkeypatch, "_record", feedback, "no feedback was begun", RuntimeError("the disk is full"))
    bad = filled(rows=[{"tac_gia": "An"}], name="b.xlsx").read_bytes()
    with pytest.raises(RuntimeError, match="the disk is full"):
        inbox_run({"Báo cáo VT021.xlsx": bad})
    assert list(feedback.iterdir()) == []
    monkeypatch.setattr(stages, "_record", record)
    result = inbox_run({"Báo cáo VT021.xlsx": bad})["Báo cáo VT021.xlsx"]
    assert result.feedback and result.feedback.is_file() and result.message and result.message.is_file()


def test_a_copy_left_half_written_in_the_feedback_folder_is_removed(inbox_run, filled, tmp_path):
    """A marked-up copy whose worker was killed while writing it (its deadline, a stopped run)
    leaves a temporary file; the run that records the feedback removes it (on Windows it would show)."""
    from pipeline import stages

    feedback = tmp_path / "outbox" / stages.FEEDBACK_DIR
    feedback.mkdir(parents=True)
    (feedback / ".tmp-k1ll3d.xlsx").write_bytes(b"PK half a copy")
    bad = filled(rows=[{"tac_gia": "An"}], name="b.xlsx")
    result = inbox_run({"Báo cáo VT021.xlsx": bad.read_bytes()})["Báo cáo VT021.xlsx"]
    assert result.feedback and result.message
    assert {p.name for p in feedback.iterdir()} == {result.feedback.name, result.message.name}
