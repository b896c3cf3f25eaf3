"""The roster: read from CSV or XLSX by its headers; every problem named with its cell."""

from __future__ import annotations

import pytest
import xlsxwriter

from pipeline.errors import RosterError
from pipeline.roster import load_roster

HEADERS = ["Mã CĐCS", "Tên CĐCS", "Khối", "Xã/thị trấn", "Số đoàn viên", "Số CNVCLĐ", "Email", "Đang hoạt động"]
ROWS = [
    ["vt001", "CĐCS Trường Mầm non Mẫu", "Giáo dục", "Vĩnh Phong", 20, 22, "a@example.vn", "Có"],
    ["VT002", "CĐCS Công ty Mẫu", "Doanh nghiệp", "Bình Minh", "1.200", 1300, None, "Không"],
]


def _xlsx(path, headers, rows, blank_rows=2):
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Danh sách")
    ws.write_row(blank_rows, 1, ["DANH SÁCH CĐCS TRỰC THUỘC"][:1])
    ws.write_row(blank_rows + 1, 1, headers)  # a title above and the table from column B
    for i, row in enumerate(rows):
        ws.write_row(blank_rows + 2 + i, 1, row)
    wb.close()
    return path


def test_demo_roster(roster):
    assert len(roster) == 69 and len(roster.active) == 67
    assert roster.find("vt001").name == "CĐCS Cơ quan Huyện ủy"


def test_xlsx_with_title_moved_columns_and_text_numbers(tmp_path, form):
    order = [0, 2, 1, 3, 5, 4, 6, 7]  # columns in another order
    path = _xlsx(tmp_path / "ds.xlsx", [HEADERS[i] for i in order], [[r[i] for i in order] for r in ROWS])
    roster = load_roster(path, form)
    assert [(u.code, u.members, u.workers, u.active) for u in roster] == [
        ("VT001", 20, 22, True),
        ("VT002", 1200, 1300, False),
    ]


def test_csv_with_semicolons(tmp_path, form):
    path = tmp_path / "ds.csv"
    lines = [";".join(HEADERS)] + [";".join("" if v is None else str(v) for v in r) for r in ROWS]
    path.write_text("\n".join(lines), encoding="utf-8-sig")
    assert [u.sector for u in load_roster(path, form)] == ["Giáo dục", "Doanh nghiệp"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows.__setitem__(1, [*rows[1][:4], "nhiều", *rows[1][5:]]), 'ô F6 (Số đoàn viên): "nhiều"'),
        (lambda rows: rows.__setitem__(1, [*rows[1][:2], "Y tế", *rows[1][3:]]), "ô D6 (Khối)"),
        (lambda rows: rows.__setitem__(1, ["VT001", *rows[1][1:]]), 'mã "VT001" lặp lại ở dòng 5 và dòng 6'),
        (lambda rows: rows.__setitem__(1, [None, *rows[1][1:]]), "ô B6 (Mã CĐCS): ô bắt buộc"),
    ],
)
def test_errors_name_the_cell(tmp_path, form, edit, message):
    rows = [list(r) for r in ROWS]
    edit(rows)
    with pytest.raises(RosterError) as info:
        load_roster(_xlsx(tmp_path / "ds.xlsx", HEADERS, rows), form)
    assert message in str(info.value) and "ds.xlsx" in str(info.value)


def test_missing_column_and_missing_file(tmp_path, form):
    with pytest.raises(RosterError, match="thiếu cột: Số đoàn viên"):
        load_roster(_xlsx(tmp_path / "a.xlsx", [h for h in HEADERS if h != "Số đoàn viên"], []), form)
    with pytest.raises(RosterError, match="Không tìm thấy danh sách CĐCS"):
        load_roster(tmp_path / "không có.csv", form)
