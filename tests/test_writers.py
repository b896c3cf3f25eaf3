"""Every spreadsheet program that installs here, through each format it writes: the filled template
saved again reads back as the original, field by field.

A union fills the template in whatever it has and saves it again: LibreOffice (.xlsx, .xls, .ods),
Gnumeric (`ssconvert`: .xlsx, .xls, .ods), or a technician's script with openpyxl, XlsxWriter or
pandas with odfpy. Each file must give the original's unit record and initiatives, value and cell,
whichever reader read it: python-calamine, or the second reader (`pipeline.fallback`) where
calamine cannot, as for Gnumeric's .ods. The second reader alone must also read every one of them
to the same data. LibreOffice and Gnumeric are required: these tests fail, never skip, without them.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline import Period, check, run
from pipeline.config import Settings
from pipeline.findings import Code, Finding, Severity
from pipeline.form import Form
from pipeline.read import WorkbookData, read_workbook
from pipeline.results import Status
from pipeline.roster import Roster
from tests.conftest import fill_template, soffice, ssconvert

# The template saved by every office program once for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("writers")]

CODE = "VT021"
ROWS: list[dict[str, Any]] = [
    # Typed as text, the way users do: read as 15/03/2022 and 1500000, each with a notice.
    {"ngay_ap_dung": "15/3/2022", "gia_tri_lam_loi": "1.500.000 đ"},
    {
        "ten_sang_kien": "Sổ tay điện tử theo dõi đoàn viên  bằng bảng tính dùng chung",  # two spaces
        "tac_gia": "Phạm Thị Lan",
        "dong_tac_gia": "",
        "loai_giai_phap": "Giải pháp tác nghiệp",
        "linh_vuc": "Hoạt động công đoàn",
        "tom_tat": "Lập bảng tính dùng chung cho cả công đoàn.\nMỗi tổ cập nhật đoàn viên của mình.",
        "gia_tri_lam_loi": 2_000_000,
        "ngay_ap_dung": dt.date(2022, 2, 20),
        "ngay_dang_ky": dt.date(2022, 3, 1),
        "da_len_cong": "Chưa",
        "tinh_trang_cong": "",
        "khen_thuong": "Chưa",
        "de_nghi_tieu_bieu": "Không",
    },
    {"stt": 3, "tac_gia": "Võ Thị Ánh Tuyết", "gia_tri_lam_loi": 0, "ghi_chu": "Đã áp dụng ở 3 trường"},
]
GNUMERIC = {"xlsx": "Gnumeric_Excel:xlsx2", "xls": "Gnumeric_Excel:excel_biff8", "ods": "Gnumeric_OpenCalc:odf"}
WRITERS = [
    *(f"libreoffice.{fmt}" for fmt in ("xlsx", "xls", "ods")),
    *(f"gnumeric.{fmt}" for fmt in GNUMERIC),
    "openpyxl.xlsx",
    "xlsxwriter.xlsx",
    "pandas-odf.ods",
]


def _soffice(source: Path, fmt: str, outdir: Path, profile: Path) -> Path:
    command = [soffice(), "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}"]
    command += ["--convert-to", fmt, "--outdir", str(outdir), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    out = outdir / f"{source.stem}.{fmt}"
    assert result.returncode == 0 and out.is_file(), f"soffice: {result.stdout}\n{result.stderr}"
    return out


def _ssconvert(source: Path, target: Path, exporter: str) -> Path:
    command = [ssconvert(), "--export-type", exporter, str(source), str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0 and target.is_file(), f"ssconvert: {result.stdout}\n{result.stderr}"
    return target


def _grids(source: Path) -> list[tuple[str, list[list[Any]]]]:
    """Every sheet's values from A1, as a script would take them from the union's workbook."""
    wb = openpyxl.load_workbook(source)
    return [(ws.title, [list(row) for row in ws.iter_rows(values_only=True)]) for ws in wb.worksheets]


def _with_openpyxl(source: Path, target: Path) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in _grids(source):
        ws = wb.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    ws.cell(r, c).value = value
                    if isinstance(value, dt.datetime | dt.date):
                        ws.cell(r, c).number_format = "dd/mm/yyyy"
    wb.save(target)
    return target


def _with_xlsxwriter(source: Path, target: Path) -> Path:
    import xlsxwriter

    with xlsxwriter.Workbook(target, {"default_date_format": "dd/mm/yyyy", "strings_to_numbers": False}) as wb:
        for title, rows in _grids(source):
            ws = wb.add_worksheet(title)
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    if value is not None:
                        ws.write(r, c, value)
    return target


def _with_pandas_odf(source: Path, target: Path) -> Path:
    import pandas as pd

    with pd.ExcelWriter(target, engine="odf") as writer:
        for title, rows in _grids(source):
            pd.DataFrame(rows, dtype=object).to_excel(writer, sheet_name=title, header=False, index=False)
    return target


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, form: Form, settings: Settings, roster: Roster) -> dict[str, Path]:
    """The original and its copy by each writer, by writer name."""
    folder = tmp_path_factory.mktemp("writers")
    original = fill_template(folder, form, settings, roster, rows=ROWS, name="goc.xlsx", code=CODE)
    profile = tmp_path_factory.mktemp("lo-profile")
    files = {"original": original}
    for fmt in ("xlsx", "xls", "ods"):
        files[f"libreoffice.{fmt}"] = _soffice(original, fmt, folder / f"libreoffice-{fmt}", profile)
    for fmt, exporter in GNUMERIC.items():
        files[f"gnumeric.{fmt}"] = _ssconvert(original, folder / f"gnumeric.{fmt}", exporter)
    files["openpyxl.xlsx"] = _with_openpyxl(original, folder / "openpyxl.xlsx")
    files["xlsxwriter.xlsx"] = _with_xlsxwriter(original, folder / "xlsxwriter.xlsx")
    files["pandas-odf.ods"] = _with_pandas_odf(original, folder / "pandas-odf.ods")
    assert sorted(files) == sorted(["original", *WRITERS])
    return files


def _read_findings(book: WorkbookData) -> list[tuple[Code, Severity, str | None, str | None, str]]:
    """What reading said, but for which reader read."""
    return [
        (f.code, f.severity, f.location.sheet, f.location.cell, f.message)
        for f in book.findings
        if f.code is not Code.FALLBACK_READER
    ]


def assert_same_data(original: WorkbookData, copy: WorkbookData, writer: str) -> None:
    """The copy's unit record and initiatives are the original's, field by field: the value read, its
    cell, and the text as typed (line breaks, spaces)."""
    assert copy.readable, (writer, [f.message for f in copy.findings])
    assert (copy.form_id, copy.version, copy.template_unit) == (original.form_id, original.version, CODE), writer
    assert copy.sheets == original.sheets, writer
    assert copy.columns == original.columns, writer
    assert sorted(copy.unit) == sorted(original.unit), writer
    for key, a in original.unit.items():
        b = copy.unit[key]
        assert (b.value, b.cell) == (a.value, a.cell), (writer, "unit", key, a.raw, b.raw)
        assert not isinstance(a.raw, str) or b.raw == a.raw, (writer, "unit", key, a.raw, b.raw)
    assert copy.row_numbers == original.row_numbers, writer
    for i, row in enumerate(original.rows):
        for key, a in row.items():
            b = copy.cell(i, key)
            assert b is not None, (writer, i, key)
            assert (b.value, b.cell) == (a.value, a.cell), (writer, "row", i + 1, key, a.raw, b.raw)
            assert not isinstance(a.raw, str) or b.raw == a.raw, (writer, "row", i + 1, key, a.raw, b.raw)
    assert _read_findings(copy) == _read_findings(original), writer


def test_the_original_holds_what_the_writers_must_keep(saved: dict[str, Path], form: Form) -> None:
    """Guards the comparisons below: text dates and numbers, real dates, zero, a line break, two
    spaces, leading zeros, an empty optional cell."""
    book = read_workbook(saved["original"], form)
    assert book.count == 3 and [f.code for f in book.findings] == [Code.TEXT_NUMBER_READ, Code.TEXT_DATE_READ]
    assert book.cell(0, "ngay_ap_dung").value == dt.date(2022, 3, 15)  # type: ignore[union-attr]
    assert book.cell(1, "tom_tat").raw.count("\n") == 1  # type: ignore[union-attr]
    assert "  " in book.cell(1, "ten_sang_kien").raw  # type: ignore[union-attr]
    assert book.cell(2, "gia_tri_lam_loi").value == 0  # type: ignore[union-attr]
    assert book.cell(1, "dong_tac_gia").value is None  # type: ignore[union-attr]
    assert book.unit["dien_thoai"].value == "0912 345 678"


@pytest.mark.parametrize("writer", WRITERS)
def test_each_writer_gives_the_original_data_field_by_field(writer: str, saved: dict[str, Path], form: Form) -> None:
    original = read_workbook(saved["original"], form)
    copy = read_workbook(saved[writer], form)
    assert_same_data(original, copy, writer)
    second = [f for f in copy.findings if f.code is Code.FALLBACK_READER]
    if writer == "gnumeric.ods":  # calamine cannot read it (docs/upstream/calamine-ods-whitespace.md)
        assert [f.severity for f in second] == [Severity.NOTICE], "calamine reads it now? see tests/test_upstream.py"
        assert "content.xml" in second[0].message and "dự phòng" in second[0].message
    else:
        assert second == [], writer  # calamine reads it: the second reader is not needed


@pytest.mark.parametrize("writer", WRITERS)
def test_the_second_reader_alone_reads_each_writer_to_the_same_data(
    writer: str, saved: dict[str, Path], form: Form, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if calamine could read none of them: openpyxl, xlrd or the .ods parser gives the same data."""
    original = read_workbook(saved["original"], form)

    def calamine_fails(*_args: object, **_kwargs: object) -> None:
        raise ValueError("calamine stand-in: cannot read")

    monkeypatch.setattr("pipeline.fallback.read_grids", calamine_fails)
    copy = read_workbook(saved[writer], form)
    assert [f.code for f in copy.findings if f.code is Code.FALLBACK_READER] == [Code.FALLBACK_READER], writer
    assert_same_data(original, copy, writer)


def test_every_writer_through_the_worker_pool_checks_like_the_original(
    saved: dict[str, Path], form: Form, settings: Settings, roster: Roster
) -> None:
    """The run's own path: guard and both readers in the isolated workers, then validation."""
    results = {r.name: r for r in check(Period(settings, form, roster), list(saved.values())).files}
    a = results[str(saved["original"])]
    assert a.status is Status.ACCEPTED and a.initiatives == 3 and a.unit_code == CODE
    for writer in WRITERS:
        b = results[str(saved[writer])]
        assert (b.status, b.unit_code, b.initiatives) == (a.status, a.unit_code, a.initiatives), writer
        assert _checked(b.findings) == _checked(a.findings), writer


def _checked(findings: list[Finding]) -> list[tuple[Code, str | None, str | None, str]]:
    return [
        (f.code, f.location.sheet, f.location.cell, f.message) for f in findings if f.code is not Code.FALLBACK_READER
    ]


def test_a_gnumeric_ods_with_mistakes_gets_its_marked_copy(
    tmp_path: Path, form: Form, settings: Settings, roster: Roster, filled: Callable[..., Path]
) -> None:
    """The feedback copy of an .ods is rebuilt from the cells as read: by the second reader here."""
    bad = filled(unit={"dien_thoai": "12345"}, rows=[{"tac_gia": "An"}], name="sai.xlsx", code=CODE)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _ssconvert(bad, inbox / "sai.ods", GNUMERIC["ods"])
    result = run(Period(settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), form, roster))
    [got] = result.files
    assert got.status is Status.REJECTED
    assert {(f.code, f.location.cell) for f in got.findings} >= {(Code.BAD_PHONE, "B18"), (Code.TOO_FEW_WORDS, "C4")}
    assert got.feedback is not None and got.feedback.suffix == ".xlsx"
    wb = openpyxl.load_workbook(got.feedback)
    assert wb[form.sheets["unit"]]["B18"].value == "12345"
    assert wb[form.sheets["unit"]]["B18"].comment is not None
    assert wb[form.sheets["initiatives"]]["C4"].comment is not None
