"""Files that went through LibreOffice read and check exactly like the originals; templates print.

Many unions fill the template in LibreOffice Calc and save it as .xlsx, .ods or .xls. Each filled
file is converted by LibreOffice itself and read back: the records (values and cells) and the
findings must not change. The templates are also exported to PDF and their text checked.
LibreOffice is required: these tests fail, never skip, without it.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pipeline import Period, check
from pipeline.config import Settings
from pipeline.findings import Code, Finding, Severity
from pipeline.form import Form
from pipeline.read import WorkbookData, read_workbook
from pipeline.roster import Roster
from pipeline.template import write_template
from pipeline.validate import validate
from tests.conftest import TODAY, soffice

# LibreOffice round trips sharing one user profile, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("libreoffice")]

CODE = "VT021"


@pytest.fixture(scope="session")
def lo_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One LibreOffice user profile for the session: only the first start pays for creating it."""
    return tmp_path_factory.mktemp("lo-profile")


def _convert(files: Sequence[Path], fmt: str, outdir: Path, profile: Path) -> list[Path]:
    """Convert every file with one soffice call; the converted paths, in the order given."""
    outdir.mkdir(parents=True, exist_ok=True)
    command = [
        soffice(),
        "--headless",
        "--norestore",
        f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to",
        fmt,
        "--outdir",
        str(outdir),
        *(str(f) for f in files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"soffice failed ({result.returncode}): {result.stdout}\n{result.stderr}"
    out = [outdir / f"{f.stem}.{fmt}" for f in files]
    for path in out:
        assert path.is_file(), f"{path.name} not written: {result.stdout}\n{result.stderr}"
    return out


# ------------------------------------------------------------------------------------------------
# Filled files survive a LibreOffice round trip


def _cells(values: dict[str, Any]) -> dict[str, tuple[Any, int, str]]:
    return {key: (v.value, v.row, v.column) for key, v in values.items()}


def _record(book: WorkbookData) -> dict[str, Any]:
    return {
        "sheets": book.sheets,
        "unit": _cells(book.unit),
        "rows": [_cells(row) for row in book.rows],
        "columns": book.columns,
        "meta": (book.form_id, book.version, book.template_unit),
    }


def _where(findings: Sequence[Finding]) -> list[tuple[Code, Severity, str | None, str | None, str | None]]:
    return [(f.code, f.severity, f.location.sheet, f.location.cell, f.field) for f in findings]


GOOD_ROWS: list[dict[str, Any]] = [
    # Typed as text, the way users do: read as 15/03/2022 and 1500000, each with a notice.
    {"ngay_ap_dung": "15/3/2022", "gia_tri_lam_loi": "1.500.000 đ"},
    {
        "ten_sang_kien": "Sổ tay điện tử theo dõi đoàn viên bằng bảng tính dùng chung",
        "tac_gia": "Phạm Thị Lan",
        "dong_tac_gia": "",
        "loai_giai_phap": "Giải pháp tác nghiệp",
        "linh_vuc": "Hoạt động công đoàn",
        "gia_tri_lam_loi": 2_000_000,
        "ngay_ap_dung": dt.date(2022, 2, 20),
        "ngay_dang_ky": dt.date(2022, 3, 1),
        "da_len_cong": "Chưa",
        "tinh_trang_cong": "",
        "khen_thuong": "Chưa",
        "de_nghi_tieu_bieu": "Không",
    },
]

BAD_UNIT: dict[str, Any] = {"tong_doan_vien": 45, "dien_thoai": "12345", "email": "khong-phai-email"}
BAD_ROWS: list[dict[str, Any]] = [
    {"cap_cong_nhan": "Trung ương", "tac_gia": "An", "tom_tat": "Quá ngắn"},
    {
        "ngay_ap_dung": dt.date(2020, 1, 10),  # before the eligibility window
        "ngay_dang_ky": "32/13/2022",  # no such date
        "gia_tri_lam_loi": "khoảng 2 triệu",  # not a number
        "da_len_cong": "Chưa",  # with "Tình trạng trên Cổng" filled in
        "tac_gia_la_doan_vien": "",  # required
        "stt": 5,
    },
]


@pytest.fixture
def filled_pair(filled: Callable[..., Path]) -> list[Path]:
    good = filled(rows=GOOD_ROWS, name="dung.xlsx", code=CODE)
    bad = filled(unit=BAD_UNIT, rows=BAD_ROWS, name="sai.xlsx", code=CODE)
    return [good, bad]


def test_originals_exercise_notices_and_errors(filled_pair: list[Path], form: Form, settings: Settings, roster: Roster):
    """Guards the round-trip test below: the files it compares hold repairs and errors to keep."""
    good, bad = (read_workbook(p, form) for p in filled_pair)
    assert len(good.rows) == 2 and len(bad.rows) == 2
    assert good.rows[0]["ngay_ap_dung"].value == dt.date(2022, 3, 15)
    assert good.rows[0]["ngay_ap_dung"].raw == "15/3/2022"
    assert good.rows[0]["gia_tri_lam_loi"].value == 1_500_000
    good_codes = {f.code for f in validate([good], form, settings, roster, today=TODAY)}
    assert good_codes == {Code.TEXT_DATE_READ, Code.TEXT_NUMBER_READ}
    bad_errors = {f.code for f in validate([bad], form, settings, roster, today=TODAY) if f.severity is Severity.ERROR}
    assert bad_errors >= {
        Code.NOT_IN_LIST,
        Code.TOO_FEW_WORDS,
        Code.TOO_SHORT,
        Code.OUT_OF_WINDOW,
        Code.NO_SUCH_DATE,
        Code.NOT_A_NUMBER,
        Code.ONLY_WHEN,
        Code.REQUIRED,
        Code.ABOVE_FIELD,
        Code.BAD_EMAIL,
    }


@pytest.mark.parametrize("fmt", ["xlsx", "ods", "xls"])
def test_libreoffice_conversion_keeps_records_and_findings(
    fmt: str,
    filled_pair: list[Path],
    tmp_path: Path,
    lo_profile: Path,
    form: Form,
    settings: Settings,
    roster: Roster,
) -> None:
    converted = _convert(filled_pair, fmt, tmp_path / f"lo-{fmt}", lo_profile)
    for original, copy in zip(filled_pair, converted, strict=True):
        a, b = read_workbook(original, form), read_workbook(copy, form)
        assert b.readable, _where(b.findings)
        ra, rb = _record(a), _record(b)
        assert rb["meta"] == ra["meta"] == (form.id, form.version, CODE)
        assert rb["sheets"] == ra["sheets"]
        assert rb["columns"] == ra["columns"]
        assert rb["unit"] == ra["unit"], copy.name
        assert len(rb["rows"]) == len(ra["rows"]), copy.name
        for row_a, row_b in zip(ra["rows"], rb["rows"], strict=True):
            assert row_b == row_a, copy.name
        assert _where(b.findings) == _where(a.findings), copy.name

        found_a = validate([a], form, settings, roster, today=TODAY)
        found_b = validate([b], form, settings, roster, today=TODAY)
        assert found_a, original.name  # both files have something to say (see the test above)
        assert _where(found_b) == _where(found_a), copy.name
        assert [f.message for f in found_b] == [f.message for f in found_a], copy.name

    results = {r.name: r for r in check(Period(settings, form, roster), [*filled_pair, *converted]).files}
    for original, copy in zip(filled_pair, converted, strict=True):
        ra, rb = results[str(original)], results[str(copy)]
        assert (rb.status, rb.unit_code, rb.initiatives) == (ra.status, ra.unit_code, ra.initiatives)
        assert _where(rb.findings) == _where(ra.findings), copy.name


# ------------------------------------------------------------------------------------------------
# Templates print


def _squash(text: str) -> str:
    """NFC without any whitespace: pdftotext splits justified and wrapped text at odd places."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", text))


def _pdftotext(pdf: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext (poppler-utils) is required: `make test` installs it"
    result = subprocess.run([tool, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8")


def test_templates_export_to_pdf_with_vietnamese_text(
    tmp_path: Path, lo_profile: Path, form: Form, settings: Settings, roster: Roster
) -> None:
    unit = roster.find(CODE)
    assert unit is not None
    personal = write_template(tmp_path / "rieng.xlsx", form, settings, unit)
    blank = write_template(tmp_path / "trong.xlsx", form, settings)
    personal_pdf, blank_pdf = _convert([personal, blank], "pdf", tmp_path / "pdf", lo_profile)

    expected = [
        "HƯỚNG DẪN ĐIỀN BIỂU MẪU BÁO CÁO SÁNG KIẾN",
        f"Biểu mẫu phiên bản {form.version}.",
        "THÔNG TIN ĐƠN VỊ",
        'DANH SÁCH SÁNG KIẾN ĐĂNG KÝ THAM GIA CHƯƠNG TRÌNH "01 TRIỆU SÁNG KIẾN"',
        *(f.label for f in form.unit),
        "Tên sáng kiến",
        "Ngày đăng ký tham gia Chương trình",
        form.example["ten_sang_kien"],
    ]
    texts = {}
    for pdf in (personal_pdf, blank_pdf):
        assert pdf.read_bytes().startswith(b"%PDF")
        assert pdf.stat().st_size > 1000
        texts[pdf] = _squash(_pdftotext(pdf))
        for words in expected:
            assert _squash(words) in texts[pdf], f"{words!r} missing from {pdf.name}"
        # The hidden list sheet is not printed.
        assert _squash(form.meta["form_id"]) not in texts[pdf]
        assert _squash(form.meta["unit_code"]) not in texts[pdf]

    assert _squash(unit.name) in texts[personal_pdf]
    assert _squash(f"(mã {unit.code})") in texts[personal_pdf]
    assert _squash(unit.name) not in texts[blank_pdf]
    assert _squash(unit.code) not in texts[blank_pdf]
