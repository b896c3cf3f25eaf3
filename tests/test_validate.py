"""Validation: a filled template with one defect gives exactly one finding, at its cell."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from pipeline.findings import Code, Severity
from pipeline.read import read_workbook
from pipeline.validate import initiative_keys, validate
from tests.conftest import TODAY


def _check(path, form, settings, roster):
    book = read_workbook(path, form)
    return validate([book], form, settings, roster, today=TODAY)


def _errors(findings):
    return [(f.location.ref, f.code) for f in findings if f.severity is Severity.ERROR]


def test_a_correct_file_has_no_finding(filled, form, settings, roster):
    assert _check(filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng"}]), form, settings, roster) == []


U, S = "Thông tin đơn vị", "Sáng kiến"


@pytest.mark.parametrize(
    ("unit", "row", "ref", "code"),
    [
        ({"nguoi_lap": None}, {}, f"{U}!B17", Code.REQUIRED),
        ({"tong_doan_vien": 50}, {}, f"{U}!B10", Code.ABOVE_FIELD),
        ({"tong_cnvcld": "ba mươi"}, {}, f"{U}!B9", Code.NOT_A_NUMBER),
        (
            {"tinh_den_ngay": dt.date(2022, 6, 6), "ngay_lap": dt.date(2022, 6, 6)},
            {},
            f"{U}!B11",
            Code.AFTER_REPORT_DATE,
        ),
        ({"ngay_lap": dt.date(2022, 5, 1)}, {}, f"{U}!B20", Code.BEFORE_FIELD),
        ({"email": "không có"}, {}, f"{U}!B19", Code.BAD_EMAIL),
        ({"khoi": "Y tế"}, {}, f"{U}!B7", Code.NOT_IN_LIST),
        ({"ma_cdcs": "VT999"}, {}, f"{U}!B5", Code.UNKNOWN_UNIT),
        ({}, {"ten_sang_kien": "Ngắn"}, f"{S}!B4", Code.TOO_SHORT),
        ({}, {"ten_sang_kien": "x" * 501}, f"{S}!B4", Code.TOO_LONG),
        ({}, {"tac_gia": "An"}, f"{S}!C4", Code.TOO_FEW_WORDS),
        ({}, {"tac_gia_la_doan_vien": "Co"}, f"{S}!E4", Code.NOT_IN_LIST),
        ({}, {"linh_vuc": None}, f"{S}!G4", Code.REQUIRED),
        ({}, {"tom_tat": "Quá ngắn"}, f"{S}!H4", Code.TOO_SHORT),
        ({}, {"gia_tri_lam_loi": "1.5"}, f"{S}!J4", Code.NOT_A_NUMBER),
        ({}, {"gia_tri_lam_loi": -5}, f"{S}!J4", Code.BELOW_MINIMUM),
        ({}, {"ngay_ap_dung": dt.date(2021, 8, 31)}, f"{S}!K4", Code.OUT_OF_WINDOW),
        ({}, {"ngay_ap_dung": "15/3/22"}, f"{S}!K4", Code.TWO_DIGIT_YEAR),
        ({}, {"ngay_ap_dung": "31/02/2022"}, f"{S}!K4", Code.NO_SUCH_DATE),
        ({}, {"ngay_dang_ky": dt.date(2022, 1, 7)}, f"{S}!L4", Code.OUT_OF_WINDOW),
        ({}, {"ngay_dang_ky": dt.date(2022, 6, 2)}, f"{S}!L4", Code.AFTER_AS_OF),
        ({}, {"da_len_cong": "Chưa", "tinh_trang_cong": "Hợp lệ"}, f"{S}!P4", Code.ONLY_WHEN),
        ({"xa_thi_tran": "Vĩnh Thắng"}, {}, f"{U}!B8", Code.NOT_IN_LIST),
        ({"so_tin_bai": -1}, {}, f"{U}!B13", Code.BELOW_MINIMUM),
        ({"so_hoi_nghi": "hai"}, {}, f"{U}!B12", Code.NOT_A_NUMBER),
        ({"chu_tich": "   "}, {}, f"{U}!B16", Code.REQUIRED),
        ({"tinh_den_ngay": "31/5/2022 (tạm)"}, {}, f"{U}!B11", Code.NOT_A_DATE),
        ({}, {"cap_cong_nhan": "Xã"}, f"{S}!M4", Code.NOT_IN_LIST),
        ({}, {"da_len_cong": None, "tinh_trang_cong": None}, f"{S}!O4", Code.REQUIRED),
        ({}, {"khen_thuong": "Giấy khen"}, f"{S}!Q4", Code.NOT_IN_LIST),
        ({}, {"de_nghi_tieu_bieu": "x"}, f"{S}!R4", Code.NOT_IN_LIST),
        ({}, {"ngay_ap_dung": dt.date(2023, 9, 2)}, f"{S}!K4", Code.OUT_OF_WINDOW),
    ],
)
def test_one_defect_one_finding_at_its_cell(filled, form, settings, roster, unit, row, ref, code):
    findings = _check(filled(unit=unit, rows=[row]), form, settings, roster)
    assert _errors(findings) == [(ref, code)]
    (finding,) = [f for f in findings if f.severity is Severity.ERROR]
    assert finding.field and finding.message and finding.message[0].isupper()


@pytest.mark.parametrize(
    "phone",
    [
        "0912 345 678",
        "0912.345.678",
        "+84 912 345 678",
        "84912345678",
        "0297 3855 123",  # an office landline: area code 0297 and a 7-digit subscriber
        "(0297) 3.855.123",
        "+84 297 3855 123",
        "0297-3855-123",
    ],
)
def test_mobile_and_landline_numbers_are_accepted(filled, form, settings, roster, phone):
    assert _check(filled(unit={"dien_thoai": phone}), form, settings, roster) == []


@pytest.mark.parametrize("phone", ["12345", "0297 385 512", "0112 345 678", "0912 345 6789", "số cơ quan"])
def test_a_doubtful_phone_number_is_a_warning_never_a_rejection(filled, form, settings, roster, phone):
    from pipeline import Period, check

    path = filled(unit={"dien_thoai": phone})
    findings = _check(path, form, settings, roster)
    assert [(f.location.ref, f.code, f.severity) for f in findings] == [(f"{U}!B18", Code.BAD_PHONE, Severity.WARNING)]
    assert "0297 3855 123" in findings[0].message and "không làm báo cáo bị trả lại" in findings[0].message
    (result,) = check(Period(settings, form, roster), [path]).files
    assert result.status.value == "accepted_with_warnings"


def test_a_date_that_does_not_exist_says_why(filled, form, settings, roster):
    findings = _check(
        filled(rows=[{"ngay_ap_dung": "31/02/2022", "ngay_dang_ky": "29/02/2022"}]), form, settings, roster
    )
    messages = {f.location.cell: f.message for f in findings if f.severity is Severity.ERROR}
    assert set(messages) == {"K4", "L4"}
    assert "tháng 2 năm 2022 chỉ có 28 ngày" in messages["K4"] and "31/02/2022" in messages["K4"]
    assert "dd/mm/yyyy" not in messages["K4"]  # it is in that form: the day is what is wrong


def test_safe_repairs_are_notices_not_errors(filled, form, settings, roster):
    row = {
        "ngay_ap_dung": "15/3/2022",
        "gia_tri_lam_loi": "1,5 triệu",
        "tac_gia": unicodedata.normalize("NFD", "Nguyễn Văn Ðức"),
    }
    findings = _check(filled(rows=[row]), form, settings, roster)
    assert [(f.location.cell, f.code, f.severity) for f in findings] == [
        ("C4", Code.TEXT_NORMALISED, Severity.NOTICE),
        ("J4", Code.TEXT_NUMBER_READ, Severity.NOTICE),
        ("K4", Code.TEXT_DATE_READ, Severity.NOTICE),
    ]
    book = read_workbook(filled(rows=[row], name="again.xlsx"), form)
    assert book.rows[0]["tac_gia"].value == "Nguyễn Văn Đức"
    assert book.rows[0]["gia_tri_lam_loi"].value == 1_500_000
    assert book.rows[0]["ngay_ap_dung"].value == dt.date(2022, 3, 15)


def test_all_files_are_validated_together_and_mapped_back(filled, form, settings, roster):
    a = read_workbook(filled(rows=[{}, {"tac_gia": "An"}], name="a.xlsx"), form)
    other = {"ten_sang_kien": "Sổ tay điện tử cho tổ chuyên môn", "linh_vuc": "Khác nữa"}
    b = read_workbook(filled(rows=[other], name="b.xlsx", code="VT030"), form)
    findings = validate([a, b], form, settings, roster, today=TODAY)
    assert [(f.location.file, f.location.cell, f.code) for f in findings] == [
        ("a.xlsx", "C5", Code.TOO_FEW_WORDS),
        ("b.xlsx", "G4", Code.NOT_IN_LIST),
    ]


def test_moved_columns_and_unaccented_headers_are_still_read(tmp_path, filled, form):
    import openpyxl

    path = filled(rows=[{}])
    wb = openpyxl.load_workbook(path)
    ws = wb[form.sheets["initiatives"]]
    ws.protection.sheet = False
    ws.insert_rows(1, 2)  # blank rows above
    ws.insert_cols(3)  # a column inserted before "Tác giả"
    ws.cell(5, 2).value = "TEN SANG KIEN"  # header retyped without diacritics, other case
    wb.save(path)
    book = read_workbook(path, form)
    assert book.columns["ten_sang_kien"] == "B" and book.columns["tac_gia"] == "D"
    assert book.rows[0]["tac_gia"].cell == "D6"
    assert book.rows[0]["ten_sang_kien"].value == form.example["ten_sang_kien"]


@pytest.mark.parametrize(
    ("unit", "rows", "expected"),
    [
        ({"ten_cdcs": "CĐCS Trường Mầm non Khác"}, [{}], [(f"{U}!B6", Code.NAME_MISMATCH)]),
        ({"tong_doan_vien": 25}, [{}], [(f"{U}!B10", Code.MEMBERS_FAR)]),
        ({}, [{}, {"tac_gia": "Phạm Văn Dũng", "stt": 3}], [(f"{S}!A5", Code.STT_GAP)]),
        # One finding per pair, on the second listing, naming the first (not B4 -> B5 and B5 -> B4).
        ({}, [{}, {}], [(f"{S}!B5", Code.DUPLICATE_INITIATIVE)]),
        ({}, [{}, {}, {}], [(f"{S}!B5", Code.DUPLICATE_INITIATIVE), (f"{S}!B6", Code.DUPLICATE_INITIATIVE)]),
        ({}, [{"tac_gia": "Trần Thị Bình"}], [(f"{S}!D4", Code.AUTHOR_IS_COAUTHOR)]),
        ({}, [{"ngay_dang_ky": dt.date(2022, 3, 1)}], [(f"{S}!L4", Code.REGISTERED_BEFORE_APPLIED)]),
    ],
)
def test_warnings_accept_the_file_and_point_at_the_cell(filled, form, settings, roster, unit, rows, expected):
    findings = _check(filled(unit=unit, rows=rows), form, settings, roster)
    assert [(f.location.ref, f.code) for f in findings] == expected
    assert {f.severity for f in findings} == {Severity.WARNING}


def test_name_spelling_case_and_nfd_are_not_a_mismatch(filled, form, settings, roster):
    name = unicodedata.normalize("NFD", "cđcs  trường mầm non vĩnh bình bắc")
    findings = _check(filled(unit={"ten_cdcs": name}), form, settings, roster)
    assert [(f.location.cell, f.code, f.severity) for f in findings] == [("B6", Code.TEXT_NORMALISED, Severity.NOTICE)]


def test_the_same_initiative_in_two_units_names_both_places(filled, form, settings, roster):
    a = read_workbook(filled(rows=[{}], name="a.xlsx"), form)
    b = read_workbook(filled(rows=[{"stt": 1}], name="b.xlsx", code="VT030"), form)
    findings = validate([a, b], form, settings, roster, today=TODAY)
    assert [(f.location.file, f.location.cell, f.code) for f in findings] == [
        ("a.xlsx", "B4", Code.DUPLICATE_INITIATIVE),
        ("b.xlsx", "B4", Code.DUPLICATE_INITIATIVE),
    ]
    assert 'tệp "b.xlsx" (dòng 4, trang Sáng kiến)' in findings[0].message
    assert 'tệp "a.xlsx" (dòng 4, trang Sáng kiến)' in findings[1].message


def test_a_pair_in_one_file_is_one_finding_that_names_the_first_row(filled, form, settings, roster):
    findings = _check(filled(rows=[{}, {"tac_gia": "Phạm Văn Dũng"}, {}]), form, settings, roster)
    assert [(f.location.cell, f.code) for f in findings] == [("B6", Code.DUPLICATE_INITIATIVE)]
    assert "đã có ở dòng 4, trang Sáng kiến" in findings[0].message and "xóa dòng thừa" in findings[0].message


def test_a_resubmission_of_the_same_unit_is_not_a_duplicate(filled, form, settings, roster):
    a = read_workbook(filled(rows=[{}], name="a.xlsx"), form)
    b = read_workbook(filled(rows=[{}], name="a (sửa lại).xlsx"), form)
    assert validate([a, b], form, settings, roster, today=TODAY) == []


def test_date_after_today_is_refused_even_when_the_report_date_is_later(filled, form, settings, roster):
    later = settings.with_as_of(dt.date(2022, 7, 1))
    unit = {"tinh_den_ngay": dt.date(2022, 6, 20), "ngay_lap": dt.date(2022, 6, 20)}
    row = {"ngay_dang_ky": dt.date(2022, 6, 15)}
    findings = validate([read_workbook(filled(unit=unit, rows=[row]), form)], form, later, roster, today=TODAY)
    assert _errors(findings) == [(f"{U}!B11", Code.AFTER_REPORT_DATE)]
    assert "10/06/2022" in findings[0].message


def test_spaces_and_case_in_list_values_are_read_without_a_finding(filled, form, settings, roster):
    row = {"da_len_cong": " có\u00a0", "cap_cong_nhan": "CƠ SỞ", "tac_gia": "  Nguyễn\u00a0 Văn   An "}
    path = filled(rows=[row])
    assert _check(path, form, settings, roster) == []
    book = read_workbook(path, form)
    assert [book.rows[0][k].value for k in ("da_len_cong", "cap_cong_nhan", "tac_gia")] == [
        "Có",
        "Cơ sở",
        "Nguyễn Văn An",
    ]


def test_findings_across_many_rows_name_the_right_rows_and_numbers(filled, form, settings, roster):
    """A numbering gap names the number just before it in its file; a title listed three times is
    two findings, each naming the first listing; an author listed as co-author is found where the
    co-authors are; a blank co-author never is. Cells and messages, among a hundred rows."""
    rows = [
        {"ten_sang_kien": f"Sáng kiến cải tiến số {i:03d} của tổ", "stt": i + 1, "dong_tac_gia": None}
        for i in range(100)
    ]
    rows[40]["stt"] = 45  # Excel row 44; and the row after it (42 after 45) is a gap too
    for i in (70, 90):  # the same initiative as row index 3 (Excel row 7)
        rows[i]["ten_sang_kien"] = rows[3]["ten_sang_kien"]
    rows[55]["dong_tac_gia"] = f"Lê Văn Cường; {form.example['tac_gia']}"
    book = read_workbook(filled(rows=rows), form)
    findings = validate([book], form, settings, roster, today=TODAY)
    assert [(f.location.ref, f.code) for f in findings] == [
        ("Sáng kiến!A44", Code.STT_GAP),
        ("Sáng kiến!A45", Code.STT_GAP),
        ("Sáng kiến!D59", Code.AUTHOR_IS_COAUTHOR),
        ("Sáng kiến!B74", Code.DUPLICATE_INITIATIVE),
        ("Sáng kiến!B94", Code.DUPLICATE_INITIATIVE),
    ]
    assert "Số thứ tự 45 không liền sau số trước (40)" in findings[0].message
    assert "Số thứ tự 42 không liền sau số trước (45)" in findings[1].message
    assert all("đã có ở dòng 7, trang Sáng kiến" in f.message for f in findings[3:])


def test_initiative_keys_follow_the_book_s_titles(filled, form):
    """The keys are worked out once per book, and again when its titles are others."""
    book = read_workbook(filled(rows=[{}, {"ten_sang_kien": "Vườn rau sạch cho bữa ăn bán trú"}]), form)
    keys = initiative_keys(book, form)
    assert keys == [form.record_key(values) for values in book.records()] and initiative_keys(book, form) is keys
    book.values["ten_sang_kien"] = ["Một sáng kiến khác hẳn", None]
    assert initiative_keys(book, form) == [form.record_key(values) for values in book.records()]
    assert initiative_keys(book, form)[1] is None
