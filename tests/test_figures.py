"""Figures: hand-computed values on a small fixed inbox, and every total equal to the sum of its rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from pipeline import Period, run
from pipeline import figures as figures_module
from pipeline.config import Settings
from pipeline.demo import build_demo
from pipeline.figures import ADDITIVE, Figures, GapKind, Tally, compute, period_totals, unit_tallies
from pipeline.form import Form
from pipeline.ledger import StoredFile, StoredRow
from pipeline.merge import Reporting, UnitState, dataset, unit_states
from pipeline.report.model import point_text
from pipeline.roster import Roster
from tests.conftest import figures_of


def number(n: int) -> str:
    """A stand-in for the renderer's formatting: 1234567 -> "1.234.567"."""
    return f"{n:,}".replace(",", ".")


def percent(x: float) -> str:
    """A stand-in for the renderer's formatting: 0.232 -> "23,2%"."""
    return f"{x * 100:.1f}".replace(".", ",") + "%"


# --- a small fixed inbox ------------------------------------------------------------------------------
#
# The roster: six active unions and one inactive one, taken from the demo roster.
#   VT005 Phòng Tài nguyên và Môi trường   Hành chính – sự nghiệp  39 members  reports, no initiative
#   VT021 Trường Mầm non Vĩnh Bình Bắc     Giáo dục                33 members  3 initiatives, on time
#   VT027 Trường THCS Vĩnh Bình Nam        Giáo dục                40 members  inactive: not counted
#   VT030 Trường THCS Bình Minh            Giáo dục                26 members  rejected (author "An")
#   VT044 cơ quan UBND thị trấn Vĩnh Thuận Xã, thị trấn            34 members  missing
#   VT052 Công ty TNHH Thủy sản Kênh Xáng Mẫu Doanh nghiệp         46 members  2 initiatives, late
#   VT063 Quỹ Tín dụng nhân dân Vĩnh Thuận Khác                    11 members  missing
# Members counted: 39 + 33 + 26 + 34 + 46 + 11 = 189.

CODES = ("VT005", "VT021", "VT027", "VT030", "VT044", "VT052", "VT063")

# VT021: A1 is the form's worked example (Nguyễn Văn An; co-authors Trần Thị Bình, Lê Văn Cường;
# Giải pháp quản lý; Cải cách hành chính, chuyển đổi số; 15.000.000 đ; registered 02/04/2022;
# on the portal; Giấy khen BCH CĐCS; proposed as outstanding).
A1: dict[str, Any] = {}
A2 = {
    "ten_sang_kien": "Vườn rau sạch cho bữa ăn bán trú",
    "tac_gia": "Võ Thị Hạnh",
    "dong_tac_gia": "Nguyễn Văn An",  # already a participant through A1
    "loai_giai_phap": "Giải pháp tác nghiệp",
    "linh_vuc": "Chăm lo đời sống đoàn viên, người lao động",
    "gia_tri_lam_loi": 2_000_000,
    "ngay_dang_ky": dt.date(2022, 5, 10),
    "da_len_cong": "Chưa",
    "tinh_trang_cong": "",
    "khen_thuong": "Chưa",
    "de_nghi_tieu_bieu": "Không",
}
A3 = {
    "ten_sang_kien": "Sổ tay điện tử cho tổ chuyên môn",
    "tac_gia": "Phạm Văn Dũng",
    "dong_tac_gia": "",
    "loai_giai_phap": "Giải pháp kỹ thuật",
    "linh_vuc": "Giáo dục – đào tạo, nghiên cứu",
    "gia_tri_lam_loi": "",  # no estimate
    "ngay_dang_ky": dt.date(2022, 6, 2),  # phase 2
    "da_len_cong": "Có",
    "tinh_trang_cong": "Chờ duyệt",
    "khen_thuong": "",
    "de_nghi_tieu_bieu": "",
}
B1 = {
    "ten_sang_kien": "Cải tiến băng chuyền phân loại tôm nguyên liệu",
    "tac_gia": "Trần Văn Hùng",
    "dong_tac_gia": "",
    "loai_giai_phap": "Giải pháp kỹ thuật",
    "linh_vuc": "Sản xuất, kinh doanh",
    "gia_tri_lam_loi": 120_000_000,
    "ngay_ap_dung": dt.date(2022, 2, 15),
    "ngay_dang_ky": dt.date(2022, 3, 1),
    "cap_cong_nhan": "Huyện",
    "da_len_cong": "Có",
    "tinh_trang_cong": "Hợp lệ",
    "khen_thuong": "Bằng khen LĐLĐ tỉnh",
    "de_nghi_tieu_bieu": "Có",
}
B2 = {
    "ten_sang_kien": "Quy trình an toàn khi vận hành kho lạnh",
    "tac_gia": "Đặng Văn Tài",
    "dong_tac_gia": "",
    "loai_giai_phap": "Giải pháp quản lý",
    "linh_vuc": "An toàn vệ sinh lao động, bảo vệ môi trường",
    "gia_tri_lam_loi": 0,
    "ngay_dang_ky": dt.date(2022, 5, 20),
    "da_len_cong": "Chưa",
    "tinh_trang_cong": "",
    "khen_thuong": "Chưa",
    "de_nghi_tieu_bieu": "Không",
}
RECEIVED = {
    "VT005": dt.datetime(2022, 6, 2, 10, 0),  # on time (deadline 03/06/2022)
    "VT021": dt.datetime(2022, 6, 1, 9, 0),
    "VT030": dt.datetime(2022, 6, 1, 14, 0),
    "VT052": dt.datetime(2022, 6, 4, 8, 0),  # late
}
NAMES = {
    "VT005": "CĐCS Phòng Tài nguyên và Môi trường",
    "VT021": "CĐCS Trường Mầm non Vĩnh Bình Bắc",
    "VT030": "CĐCS Trường THCS Bình Minh",
    "VT044": "CĐCS cơ quan UBND thị trấn Vĩnh Thuận",
    "VT052": "CĐCS Công ty TNHH Thủy sản Kênh Xáng Mẫu",
    "VT063": "CĐCS Quỹ Tín dụng nhân dân Vĩnh Thuận",
}
HCSN, GD, XA, DN, KHAC = "Hành chính – sự nghiệp", "Giáo dục", "Xã, thị trấn", "Doanh nghiệp", "Khác"


@pytest.fixture
def small(tmp_path, filled, settings, form, roster):
    """The small inbox run through the pipeline: (figures, frame, run result, settings, roster)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox")
    few = Roster(roster.source, tuple(u for u in roster.units if u.code in CODES))
    later = {"tinh_den_ngay": dt.date(2022, 6, 3), "ngay_lap": dt.date(2022, 6, 3)}
    files = {
        # unit record (over conftest's GOOD_UNIT: 2 meetings, 3 news items, 0 collectives, 1 individual)
        "VT005": filled(rows=[], name="a.xlsx", code="VT005"),
        "VT021": filled(unit=later, rows=[A1, A2, A3], name="b.xlsx", code="VT021"),
        "VT030": filled(rows=[{"tac_gia": "An"}], name="c.xlsx", code="VT030"),
        "VT052": filled(
            unit={"so_hoi_nghi": 1, "so_tin_bai": 0, "so_tap_the_khen": 1, "so_ca_nhan_khen": 2},
            rows=[B1, B2],
            name="d.xlsx",
            code="VT052",
        ),
    }
    for code, path in files.items():
        target = inbox / f"{code}.xlsx"
        target.write_bytes(path.read_bytes())
        os.utime(target, (RECEIVED[code].timestamp(), RECEIVED[code].timestamp()))
    result = run(Period(s, form, few))
    figures, frame = figures_of(result, s, form, few)
    return figures, frame, result, s, few


def test_small_inbox_runs_as_planned(small):
    _, frame, result, _, _ = small
    assert {r.name: r.status.value for r in result.files} == {
        "VT005.xlsx": "accepted",
        "VT021.xlsx": "accepted",
        "VT030.xlsx": "rejected",
        "VT052.xlsx": "accepted",
    }
    assert sorted(frame["ma_cdcs"]) == ["VT021", "VT021", "VT021", "VT052", "VT052"]


def test_bang_1_targets_by_hand(small):
    fig, *_ = small
    t = fig.target
    assert list(t) == [
        "phase-1", "phase-2", "initiatives", "rate-members", "rate-initiatives", "units-with-initiatives",
        "uploaded", "benefit",
    ]  # fmt: skip
    # Phase 1 (08/01–31/5/2022): A1 02/04, A2 10/05, B1 01/03, B2 20/05 = 4 of 50; over on 05/06: not reached.
    assert (t["phase-1"].label, t["phase-1"].actual, t["phase-1"].target) == (
        "Số sáng kiến đăng ký trong Giai đoạn 1",
        4,
        50,
    )
    assert t["phase-1"].ratio == pytest.approx(0.08) and t["phase-1"].reached is False
    # Phase 2 (01/6/2022–01/9/2023): A3 02/06 = 1 of 60; still running: neither reached nor failed.
    assert (t["phase-2"].actual, t["phase-2"].target, t["phase-2"].reached) == (1, 60, None)
    assert t["phase-2"].ratio == pytest.approx(1 / 60)
    assert t["initiatives"].actual == 5
    # Participants: VT021 {An, Bình, Cường, Hạnh, Dũng} = 5, VT052 {Hùng, Tài} = 2; 7 of 189 members.
    members = t["rate-members"]
    assert (members.kind, members.numerator, members.denominator, members.target) == ("rate", 7, 189, 0.05)
    assert members.actual == pytest.approx(7 / 189) and members.ratio == pytest.approx(7 / 189 / 0.05)
    assert members.official is True and members.reached is None  # below 5%, the programme still runs
    per_member = t["rate-initiatives"]
    assert (per_member.numerator, per_member.denominator, per_member.official) == (5, 189, False)
    assert per_member.actual == pytest.approx(5 / 189)
    # VT021 and VT052 have initiatives, of the 6 active unions (VT027 is inactive).
    units = t["units-with-initiatives"]
    assert (units.actual, units.numerator, units.denominator, units.target) == (2, 2, 6, None)
    assert units.ratio == pytest.approx(1 / 3)
    # On the portal: A1, A3, B1 = 3 of 5.
    assert (t["uploaded"].actual, t["uploaded"].denominator, t["uploaded"].ratio) == (3, 5, 0.6)
    # Benefit: 15.000.000 + 2.000.000 + (blank) + 120.000.000 + 0.
    assert (t["benefit"].kind, t["benefit"].actual, t["benefit"].target) == ("money", 137_000_000, None)


def test_bang_2_by_sector_by_hand(small):
    fig, *_ = small
    rows = {r.sector: r.tally for r in fig.by_sector.rows}
    assert list(rows) == [HCSN, GD, XA, DN, KHAC]  # the form's order

    def counts(t: Tally) -> tuple[int, ...]:
        return tuple(getattr(t, k) for k in ADDITIVE)

    # units, reported, with initiatives, members, participants, initiatives, uploaded, benefit
    assert counts(rows[HCSN]) == (1, 1, 0, 39, 0, 0, 0, 0)  # VT005
    assert counts(rows[GD]) == (2, 1, 1, 33 + 26, 5, 3, 2, 17_000_000)  # VT021 + VT030 (rejected)
    assert counts(rows[XA]) == (1, 0, 0, 34, 0, 0, 0, 0)  # VT044
    assert counts(rows[DN]) == (1, 1, 1, 46, 2, 2, 1, 120_000_000)  # VT052
    assert counts(rows[KHAC]) == (1, 0, 0, 11, 0, 0, 0, 0)  # VT063
    assert counts(fig.by_sector.total) == (6, 3, 2, 189, 7, 5, 3, 137_000_000)
    assert rows[GD].rate == pytest.approx(5 / 59) and rows[DN].rate == pytest.approx(2 / 46)
    assert rows[GD].rate_initiatives == pytest.approx(3 / 59) and rows[HCSN].rate == 0
    assert fig.by_sector.total.rate == pytest.approx(7 / 189)


def test_bang_3_and_4_by_field_and_kind_by_hand(small, form):
    fig, *_ = small
    assert fig.by_field.label == "Lĩnh vực" and fig.by_kind.label == "Loại giải pháp"
    assert [r.label for r in fig.by_field.rows] == list(form.lists["linh_vuc"])
    assert [r.count for r in fig.by_field.rows] == [
        0,  # Xây dựng nông thôn mới
        1,  # Cải cách hành chính, chuyển đổi số: A1
        1,  # Giáo dục – đào tạo, nghiên cứu: A3
        0,  # Y tế, phòng chống dịch Covid-19
        1,  # Sản xuất, kinh doanh: B1
        1,  # An toàn vệ sinh lao động, bảo vệ môi trường: B2
        1,  # Chăm lo đời sống đoàn viên, người lao động: A2
        0,  # Hoạt động công đoàn
        0,  # Khác
    ]
    assert [r.share for r in fig.by_field.rows] == [0, 0.2, 0.2, 0, 0.2, 0.2, 0.2, 0, 0]
    assert (fig.by_field.total.label, fig.by_field.total.count, fig.by_field.total.share) == ("Tổng cộng", 5, 1.0)
    # Kỹ thuật: A3, B1; quản lý: A1, B2; tác nghiệp: A2.
    assert [(r.label, r.count, r.share) for r in fig.by_kind.rows] == [
        ("Giải pháp kỹ thuật", 2, 0.4),
        ("Giải pháp quản lý", 2, 0.4),
        ("Giải pháp tác nghiệp", 1, 0.2),
        ("Giải pháp ứng dụng tiến bộ kỹ thuật, công nghệ", 0, 0.0),
        ("Đề tài nghiên cứu khoa học", 0, 0.0),
    ]
    assert (fig.by_kind.total.count, fig.by_kind.total.share) == (5, 1.0)


def test_outstanding_commendations_and_activities_by_hand(small, form):
    fig, _, result, *_ = small
    sha = {r.name: r.sha256 for r in result.files}
    # Proposed as outstanding: A1 (VT021, Giáo dục) then B1 (VT052, Doanh nghiệp), in Appendix I order.
    a1, b1 = fig.outstanding
    assert (a1.code, a1.unit, a1.sector, a1.title, a1.author) == (
        "VT021",
        NAMES["VT021"],
        GD,
        form.example["ten_sang_kien"],
        "Nguyễn Văn An",
    )
    assert (a1.coauthors, a1.field, a1.kind, a1.level, a1.benefit, a1.uploaded, a1.commendation) == (
        "Trần Thị Bình; Lê Văn Cường",
        "Cải cách hành chính, chuyển đổi số",
        "Giải pháp quản lý",
        "Cơ sở",
        15_000_000,
        "Có",  # the union's answer, as the report shows it
        "Giấy khen BCH CĐCS",
    )
    assert (a1.source.file, a1.source.sheet, a1.source.row, a1.source.sha256) == (
        "VT021.xlsx",
        "Sáng kiến",
        4,
        sha["VT021.xlsx"],
    )
    assert (b1.code, b1.title, b1.author, b1.coauthors, b1.field, b1.benefit, b1.level) == (
        "VT052",
        B1["ten_sang_kien"],
        "Trần Văn Hùng",
        None,
        "Sản xuất, kinh doanh",
        120_000_000,
        "Huyện",
    )
    assert (b1.source.file, b1.source.row) == ("VT052.xlsx", 4)
    # Received: A1 Giấy khen BCH CĐCS, B1 Bằng khen LĐLĐ tỉnh; A2 and B2 "Chưa", A3 blank: not counted.
    assert fig.commendations.label == "Khen thưởng đã nhận"
    assert [(r.label, r.count) for r in fig.commendations.rows] == [
        ("Giấy khen BCH CĐCS", 1),
        ("Giấy khen LĐLĐ huyện", 0),
        ("Bằng khen LĐLĐ tỉnh", 1),
        ("Bằng khen UBND tỉnh", 0),
        ("Bằng khen Tổng LĐLĐ Việt Nam", 0),
        ("Bằng Lao động sáng tạo", 0),
        ("Khác", 0),
    ]
    assert (fig.commendations.total.count, fig.commendations.rows[0].share) == (2, 0.5)
    # Section I, over the current files VT005 (2, 3, 0, 1), VT021 (2, 3, 0, 1), VT052 (1, 0, 1, 2);
    # VT030's rejected file does not count.
    assert [(c.key, c.label, c.value) for c in fig.activities] == [
        ("so_hoi_nghi", "Số hội nghị, cuộc họp triển khai Chương trình", 5),
        ("so_tin_bai", "Số tin, bài tuyên truyền về Chương trình", 6),
        ("so_tap_the_khen", "Số tập thể được khen thưởng", 1),
        ("so_ca_nhan_khen", "Số cá nhân được khen thưởng", 4),
    ]


def test_appendices_by_hand(small):
    fig, _, result, *_ = small
    # Appendix I: grouped by sector in the form's order, unions by code, a subtotal each.
    assert [(g.sector, [r.code for r in g.rows]) for g in fig.units.groups] == [
        (HCSN, ["VT005"]),
        (GD, ["VT021", "VT030"]),
        (XA, ["VT044"]),
        (DN, ["VT052"]),
        (KHAC, ["VT063"]),
    ]
    rows = {r.code: r for r in fig.units.rows}
    assert {c: (r.reporting, r.file) for c, r in rows.items()} == {
        "VT005": (Reporting.ON_TIME, "VT005.xlsx"),
        "VT021": (Reporting.ON_TIME, "VT021.xlsx"),
        "VT030": (Reporting.REJECTED, None),
        "VT044": (Reporting.MISSING, None),
        "VT052": (Reporting.LATE, "VT052.xlsx"),
        "VT063": (Reporting.MISSING, None),
    }
    assert rows["VT052"].reporting_label == "Đã nộp, trễ hạn" and all(r.active for r in rows.values())
    vt021 = rows["VT021"].tally
    assert (vt021.members, vt021.initiatives, vt021.participants, vt021.uploaded, vt021.benefit) == (
        33,
        3,
        5,
        2,
        17_000_000,
    )
    assert vt021.rate == pytest.approx(5 / 33) and rows["VT021"].below_target is False
    assert rows["VT052"].tally.rate == pytest.approx(2 / 46) and rows["VT052"].below_target is True
    gd = fig.units.groups[1].subtotal
    assert (gd.units, gd.members, gd.initiatives, gd.participants) == (2, 59, 3, 5)
    assert (fig.units.total.units, fig.units.total.members, fig.units.total.initiatives) == (6, 189, 5)

    # Appendix II is the outstanding list.
    assert [o.title for o in fig.outstanding] == [fig.outstanding[0].title, B1["ten_sang_kien"]]

    # Appendix III: in Appendix I order, each with its reason.
    assert [(g.code, g.name, g.kind) for g in fig.gaps] == [
        ("VT005", NAMES["VT005"], GapKind.NO_INITIATIVE),
        ("VT030", NAMES["VT030"], GapKind.REJECTED),
        ("VT044", NAMES["VT044"], GapKind.MISSING),
        ("VT063", NAMES["VT063"], GapKind.MISSING),
    ]
    no_initiative, rejected, missing, _ = fig.gaps
    # The reasons name no file: the signed report carries what the province reads (the file is in
    # `file`, for the audit workbook).
    assert (
        no_initiative.reason == "Đã gửi báo cáo nhưng chưa kê khai sáng kiến nào."
        and no_initiative.file == "VT005.xlsx"
    )
    assert rejected.reason == "Báo cáo nhận ngày 01/06/2022 bị trả lại do có lỗi; đơn vị chưa gửi lại bản đúng."
    assert rejected.file == "VT030.xlsx"
    assert rejected.problems == (
        'Sáng kiến!C4: Ô "Tác giả (họ và tên)" cần ghi đầy đủ họ và tên (ít nhất hai từ), nhưng đang ghi "An". '
        "Vui lòng ghi đủ họ và tên, ví dụ Nguyễn Văn An.",
    )
    assert missing.reason == "Chưa gửi báo cáo (tính đến ngày 05/06/2022)." and missing.problems == ()
    assert GapKind.REJECTED.label == "Báo cáo bị trả lại"

    # The sources: each reporting union's current file, traceable by its SHA-256.
    sha = {r.name: r.sha256 for r in result.files}
    assert [(f.code, f.unit, f.file, f.received_at, f.sha256, f.initiatives) for f in fig.sources] == [
        ("VT005", NAMES["VT005"], "VT005.xlsx", RECEIVED["VT005"], sha["VT005.xlsx"], 0),
        ("VT021", NAMES["VT021"], "VT021.xlsx", RECEIVED["VT021"], sha["VT021.xlsx"], 3),
        ("VT052", NAMES["VT052"], "VT052.xlsx", RECEIVED["VT052"], sha["VT052.xlsx"], 2),
    ]
    assert [f.as_of_date for f in fig.sources] == [dt.date(2022, 5, 31), dt.date(2022, 6, 3), dt.date(2022, 5, 31)]


def test_a_file_the_dataset_cites_besides_the_current_one_is_a_source_too(small, form):
    """Rows of a union that cite another of its files (none in a normal run: the merge takes the
    current file's rows) list that file after the current one, with its rows counted."""
    _, frame, result, s, few = small
    other = next(f for f in result.units["VT030"].files)  # a file the ledger knows
    cited = frame.copy()
    at = cited.index[cited[form.key("unit_code")] == "VT021"][:2]
    cited.loc[at, "sha256_nguon"] = other.sha256
    fig = compute(result.units, cited, few, s, form, sources=[other])
    vt021 = [(f.code, f.file, f.initiatives) for f in fig.sources if f.code == "VT021"]
    assert vt021 == [("VT021", "VT021.xlsx", 1), ("VT021", other.name, 2)]


def test_section_iii_points_by_hand(small):
    fig, *_ = small
    strengths = [point_text(p) for p in fig.assessment.strengths]
    shortcomings = {p.key: point_text(p) for p in fig.assessment.shortcomings}
    assert strengths == [
        "3 trên 6 CĐCS đã gửi báo cáo hợp lệ; 2 CĐCS có sáng kiến.",
        "Có 5 sáng kiến với 7 người tham gia; tổng giá trị làm lợi ước tính 137.000.000 đồng.",
        "2 sáng kiến được các CĐCS đề nghị công nhận tiêu biểu.",
    ]
    assert shortcomings == {
        "phase-1-not-reached": "Giai đoạn 1 có 4 sáng kiến đăng ký, chưa đạt chỉ tiêu 50 sáng kiến (đạt 8,0%).",
        "phase-2-in-progress": "Giai đoạn 2 đang thực hiện: mới có 1 sáng kiến đăng ký trên chỉ tiêu 60 (1,7%).",
        "rate-members-not-reached": "Tỷ lệ đoàn viên tham gia sáng kiến mới đạt 3,7%, chưa đạt chỉ tiêu 5,0%.",
        "rate-initiatives-not-reached": "Tỷ lệ sáng kiến trên số đoàn viên mới đạt 2,6%, chưa đạt chỉ tiêu 5,0%.",
        "missing": f"Còn 2 CĐCS chưa gửi báo cáo: {NAMES['VT044']}, {NAMES['VT063']}.",
        "rejected": f"Có 1 CĐCS gửi báo cáo bị trả lại do có lỗi, chưa gửi lại bản đúng: {NAMES['VT030']}.",
        "no-initiative": f"Có 1 CĐCS đã báo cáo nhưng chưa có sáng kiến nào: {NAMES['VT005']}.",
        # VT021 has 5/33 = 15,2%; VT052 2/46 = 4,3%.
        "below-rate": (
            f"Có 1 CĐCS có sáng kiến nhưng tỷ lệ đoàn viên tham gia sáng kiến dưới chỉ tiêu 5,0%: {NAMES['VT052']}."
        ),
        "not-uploaded": "Còn 2 trên 5 sáng kiến (40,0%) chưa được cập nhật lên Cổng trực tuyến Công đoàn Việt Nam.",
    }
    point = next(p for p in fig.assessment.shortcomings if p.key == "missing")
    assert point.units == (NAMES["VT044"], NAMES["VT063"]) and point.numbers == (("count", 2),)


def test_charts_by_hand(small):
    fig, *_ = small
    phase1, phase2 = fig.charts.progress
    assert (phase1.phase, phase1.target, phase1.start, phase1.end) == (
        "Giai đoạn 1",
        50,
        dt.date(2022, 1, 8),
        dt.date(2022, 5, 31),
    )
    # B1 01/03, A1 02/04, A2 10/05, B2 20/05.
    assert phase1.points == (
        (dt.date(2022, 3, 1), 1),
        (dt.date(2022, 4, 2), 2),
        (dt.date(2022, 5, 10), 3),
        (dt.date(2022, 5, 20), 4),
    )
    assert phase2.points == ((dt.date(2022, 6, 2), 1),) and (phase2.target, phase2.total) == (60, 1)
    assert [(b.label, b.value) for b in fig.charts.by_sector] == [(HCSN, 0), (GD, 3), (XA, 0), (DN, 2), (KHAC, 0)]
    assert [b.value for b in fig.charts.by_field] == [0, 1, 1, 0, 1, 1, 1, 0, 0]
    # Highest rate first, then by code: VT021 5/33, VT052 2/46, then the four at 0.
    assert [b.key for b in fig.charts.rate_by_unit] == ["VT021", "VT052", "VT005", "VT030", "VT044", "VT063"]
    assert fig.charts.rate_by_unit[0].value == pytest.approx(5 / 33)
    assert fig.charts.rate_target == 0.05 and fig.charts.rate_label == fig.official_rate_label


def test_the_configuration_decides_targets_and_the_official_rate(small, form):
    fig, frame, result, s, few = small
    phases = (replace(s.programme.phases[0], target=4), s.programme.phases[1])
    programme = replace(s.programme, phases=phases, rate_target_percent=2.5, official_rate="initiatives_per_member")
    other = compute(result.units, frame, few, replace(s, programme=programme), form)
    t = other.target
    assert (t["phase-1"].target, t["phase-1"].ratio, t["phase-1"].reached) == (4, 1.0, True)
    # 5/189 = 2,6% ≥ 2,5%: reached; 7/189 = 3,7% too.
    assert (t["rate-members"].official, t["rate-initiatives"].official) == (False, True)
    assert (t["rate-members"].reached, t["rate-initiatives"].reached) == (True, True)
    assert other.official_rate == "initiatives_per_member" and other.rate_target == 0.025
    gd = next(r.tally for r in other.by_sector.rows if r.sector == GD)
    assert gd.rate == pytest.approx(3 / 59)  # initiatives ÷ members now
    strengths = {p.key: point_text(p) for p in other.assessment.strengths}
    assert strengths["phase-1-reached"] == "Giai đoạn 1 có 4 sáng kiến đăng ký, đạt 100,0% chỉ tiêu 4 sáng kiến."
    assert strengths["rate-initiatives-reached"] == "Tỷ lệ sáng kiến trên số đoàn viên đạt 2,6%, đạt chỉ tiêu 2,5%."
    # VT052: 2/46 = 4,3% of initiatives per member is above 2,5%: no longer below the rate.
    assert "below-rate" not in {p.key for p in other.assessment.shortcomings}
    assert_adds_up(other, frame, result.units)
    assert_adds_up(fig, frame, result.units)


def test_a_phase_not_started_has_no_verdict_and_no_point(small, form):
    _, frame, result, s, few = small
    last_day = compute(result.units, frame, few, replace(s, as_of=dt.date(2022, 5, 31)), form)
    assert last_day.target["phase-1"].reached is False  # figures as of its last day are final
    early = compute(result.units, frame, few, replace(s, as_of=dt.date(2022, 5, 30)), form)
    assert early.target["phase-1"].reached is None  # still running
    assert early.target["phase-2"].reached is None
    assert not any(p.key.startswith("phase-2") for p in early.assessment.shortcomings + early.assessment.strengths)


# --- every total is the sum of its rows -------------------------------------------------------------


def _counts(t: Tally) -> dict[str, int]:
    return {k: getattr(t, k) for k in ADDITIVE}


def _summed(tallies: list[Tally]) -> dict[str, int]:
    return {k: sum(getattr(t, k) for t in tallies) for k in ADDITIVE}


def _rates_follow(t: Tally, official: str) -> None:
    assert t.rate_members == (t.participants / t.members if t.members else None)
    assert t.rate_initiatives == (t.initiatives / t.members if t.members else None)
    assert t.rate == (t.rate_members if official == "members_with_initiative" else t.rate_initiatives)


def assert_adds_up(fig: Figures, frame: pd.DataFrame, states: dict[str, UnitState]) -> None:
    total = fig.units.total
    # Appendix I: rows -> sector subtotals -> grand total.
    for g in fig.units.groups:
        assert all(r.sector == g.sector and r.tally.units == 1 for r in g.rows)
        assert _counts(g.subtotal) == _summed([r.tally for r in g.rows])
    assert _counts(total) == _summed([g.subtotal for g in fig.units.groups])
    # Bảng 2: its rows add up to its total, which is Appendix I's.
    assert _counts(fig.by_sector.total) == _summed([r.tally for r in fig.by_sector.rows]) == _counts(total)
    for g in fig.units.groups:
        assert _counts(next(r.tally for r in fig.by_sector.rows if r.sector == g.sector)) == _counts(g.subtotal)
    tallies = [total, fig.by_sector.total, *(r.tally for r in fig.units.rows), *(r.tally for r in fig.by_sector.rows)]
    for t in tallies + [g.subtotal for g in fig.units.groups]:
        _rates_follow(t, fig.official_rate)
    # Bảng 3, Bảng 4 and the commendations: counts add up, shares make 100%.
    for table in (fig.by_field, fig.by_kind, fig.commendations):
        assert table.total.count == sum(r.count for r in table.rows)
        if table.total.count:
            assert table.total.share == 1.0 and sum(r.share or 0 for r in table.rows) == pytest.approx(1.0)
    assert fig.by_field.total.count == fig.by_kind.total.count == total.initiatives == len(frame)
    received = frame["khen_thuong"].map(lambda v: isinstance(v, str) and v not in ("", "Chưa"))
    assert fig.commendations.total.count == int(received.sum())
    # Bảng 1: the phases (and any initiative outside them) add up to the initiatives; the rest is Bảng 2's total.
    t = fig.target
    phases = [r.actual for r in fig.targets if r.key.startswith("phase-")]
    outside = t["outside-phases"].actual if "outside-phases" in t else 0
    assert sum(phases) + outside == t["initiatives"].actual == total.initiatives
    assert (t["rate-members"].numerator, t["rate-members"].denominator) == (total.participants, total.members)
    assert (t["rate-initiatives"].numerator, t["rate-initiatives"].denominator) == (total.initiatives, total.members)
    assert (t["units-with-initiatives"].actual, t["units-with-initiatives"].denominator) == (
        total.units_with_initiatives,
        total.units,
    )
    assert (t["uploaded"].actual, t["uploaded"].denominator) == (total.uploaded, total.initiatives)
    assert t["uploaded"].actual == int(frame["da_len_cong"].isin(["Có"]).sum())
    assert t["benefit"].actual == total.benefit == int(frame["gia_tri_lam_loi"].fillna(0).sum())
    # The outstanding initiatives (Appendix II) are those proposed.
    assert len(fig.outstanding) == int(frame["de_nghi_tieu_bieu"].isin(["Có"]).sum())
    # Section I: the unit records of the current files.
    reporting = [states[r.code] for r in fig.units.rows if r.file is not None]
    for count in fig.activities:
        assert count.value == sum(int(s.current.unit_record.get(count.key) or 0) for s in reporting if s.current)
    # The sources: one per reporting union, and every initiative comes from one of them.
    assert [f.code for f in fig.sources] == [r.code for r in fig.units.rows if r.file is not None]
    assert len(fig.sources) == total.units_reported
    assert sum(f.initiatives for f in fig.sources) == total.initiatives
    assert {f.sha256 for f in fig.sources} >= set(frame["sha256_nguon"])
    # Appendix III: exactly the unions missing, rejected, or reported without an initiative.
    expected = {
        r.code: GapKind.MISSING
        if r.reporting is Reporting.MISSING
        else GapKind.REJECTED
        if r.reporting is Reporting.REJECTED
        else GapKind.NO_INITIATIVE
        for r in fig.units.rows
        if r.file is None or r.tally.initiatives == 0
    }
    assert {g.code: g.kind for g in fig.gaps} == expected
    # The charts show the tables' numbers.
    assert [p.total for p in fig.charts.progress] == phases
    assert [b.value for b in fig.charts.by_sector] == [r.tally.initiatives for r in fig.by_sector.rows]
    assert [b.value for b in fig.charts.by_field] == [r.count for r in fig.by_field.rows]
    assert sorted(b.key for b in fig.charts.rate_by_unit) == sorted(r.code for r in fig.units.rows)
    rates = [b.value for b in fig.charts.rate_by_unit if b.value is not None]
    assert rates == sorted(rates, reverse=True)


def assert_bang_1_is_run_json(fig: Figures, summary: dict[str, Any], settings: Settings) -> None:
    totals_json = summary["totals"]
    t = fig.target
    per_phase = {p.name: t[f"phase-{i}"].actual for i, p in enumerate(settings.programme.phases, start=1)}
    assert per_phase == totals_json["initiatives_per_phase"]
    assert t["initiatives"].actual == totals_json["initiatives"]
    assert (t["outside-phases"].actual if "outside-phases" in t else 0) == totals_json["initiatives_outside_phases"]
    assert t["rate-members"].numerator == totals_json["participants"]
    assert t["rate-members"].denominator == totals_json["members"]
    assert t["units-with-initiatives"].denominator == totals_json["units_in_roster"]
    assert fig.units.total.units_reported == totals_json["units_reported"]


def test_small_inbox_adds_up_and_matches_run_json(small):
    fig, frame, result, s, _ = small
    assert_adds_up(fig, frame, result.units)
    summary = json.loads((s.paths.outbox / "run.json").read_text(encoding="utf-8"))
    assert_bang_1_is_run_json(fig, summary, s)


@pytest.fixture(scope="module")
def demo_figures(tmp_path_factory, form, settings):
    demo = build_demo(tmp_path_factory.mktemp("figures") / "demo", settings, form)
    result = run(Period(demo.settings, form, demo.roster))
    fig, frame = figures_of(result, demo.settings, form, demo.roster)
    summary = json.loads((demo.settings.paths.outbox / "run.json").read_text(encoding="utf-8"))
    return fig, frame, result, demo.settings, summary


@pytest.mark.slow
@pytest.mark.xdist_group("figures-demo")  # one demo run for both
def test_demo_every_total_is_the_sum_of_its_rows(demo_figures):
    fig, frame, result, _, _ = demo_figures
    assert len(frame) > 50 and len(fig.units.groups) == 5 and fig.gaps and fig.outstanding
    assert {g.kind for g in fig.gaps} == set(GapKind)
    assert all(g.problems for g in fig.gaps if g.kind is GapKind.REJECTED)
    assert_adds_up(fig, frame, result.units)


@pytest.mark.slow
@pytest.mark.xdist_group("figures-demo")  # one demo run for both
def test_demo_bang_1_equals_run_json(demo_figures):
    fig, _, result, s, summary = demo_figures
    assert_bang_1_is_run_json(fig, summary, s)
    assert summary["totals"] == json.loads(json.dumps(result.totals))


# --- by property: any period the ledger could hold ---------------------------------------------------

PEOPLE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Võ Thị Hạnh", "Phạm Văn Dũng"]


def _initiative(form: Form) -> st.SearchStrategy[dict[str, Any]]:
    def pick(key: str) -> st.SearchStrategy[Any]:
        return st.sampled_from(form.allowed(form.initiative_field(key)))

    return st.fixed_dictionaries(
        {
            "ten_sang_kien": st.text("abc ", min_size=10, max_size=12),
            "tac_gia": st.sampled_from(PEOPLE),
            "dong_tac_gia": st.one_of(st.none(), st.lists(st.sampled_from(PEOPLE), max_size=2).map("; ".join)),
            "loai_giai_phap": pick("loai_giai_phap"),
            "linh_vuc": pick("linh_vuc"),
            "gia_tri_lam_loi": st.one_of(st.none(), st.integers(0, 10**9)),
            "ngay_dang_ky": st.dates(dt.date(2022, 1, 1), dt.date(2022, 6, 5)).map(dt.date.isoformat),
            "da_len_cong": pick("da_len_cong"),
            "khen_thuong": st.one_of(st.none(), pick("khen_thuong")),
            "de_nghi_tieu_bieu": st.one_of(st.none(), pick("de_nghi_tieu_bieu")),
        }
    )


@st.composite
def _period(draw: st.DrawFn, form: Form, roster: Roster) -> tuple[list[StoredFile], list[StoredRow]]:
    """Stored files and rows as the ledger would hold them: per union none, rejected or accepted files."""
    files: list[StoredFile] = []
    rows: list[StoredRow] = []
    codes = draw(st.lists(st.sampled_from([u.code for u in roster.units]), unique=True, max_size=12))
    for code in codes:
        for _ in range(draw(st.integers(1, 2))):
            seq = len(files) + 1
            status = draw(st.sampled_from(["accepted", "accepted_with_warnings", "rejected"]))
            initiatives = draw(st.lists(_initiative(form), max_size=4)) if status != "rejected" else []
            record = {k: draw(st.one_of(st.none(), st.integers(0, 9))) for k in ("so_hoi_nghi", "so_tin_bai")}
            sha = f"{seq:064x}"
            files.append(
                StoredFile(
                    sha, seq, f"{code}-{seq}.xlsx", "xlsx", 1, dt.datetime(2022, 6, draw(st.integers(1, 5)), 9), 1,
                    status, True, code, None, dt.date(2022, 5, 31), 0, 0, len(initiatives), record, {}, None, None,
                )
            )  # fmt: skip
            rows += [StoredRow(sha, "Sáng kiến", 4 + i, data) for i, data in enumerate(initiatives)]
    return files, rows


@hsettings(max_examples=40, deadline=None)
@given(data=st.data())
def test_by_property_totals_add_up_and_equal_the_run_totals(data, form, settings, roster):
    files, rows = data.draw(_period(form, roster))
    states = unit_states(files, roster, settings)
    frame = dataset(states, rows, form, settings)
    fig = compute(states, frame, roster, settings, form)
    assert_adds_up(fig, frame, states)
    run_totals = period_totals(states, frame, settings, form)
    t = fig.target
    assert [t[f"phase-{i}"].actual for i in (1, 2)] == list(run_totals["initiatives_per_phase"].values())
    assert (t["outside-phases"].actual if "outside-phases" in t else 0) == run_totals["initiatives_outside_phases"]
    assert t["initiatives"].actual == run_totals["initiatives"]
    assert t["rate-members"].numerator == run_totals["participants"]
    assert fig.units.total.units_reported == run_totals["units_reported"]
    # What the run does: one pass over the initiatives for both.
    tallies = unit_tallies(frame, form)
    assert compute(states, frame, roster, settings, form, tallies=tallies) == fig
    assert period_totals(states, frame, settings, form, tallies) == run_totals


def test_a_run_passes_over_the_initiatives_once_for_the_report_and_the_totals(tmp_path, filled, form, settings, roster,
                                                                              monkeypatch):  # fmt: skip

    calls = []
    made = figures_module.unit_tallies
    monkeypatch.setattr(figures_module, "unit_tallies", lambda *args: calls.append(1) or made(*args))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "VT021.xlsx").write_bytes(filled(rows=[{}, {}]).read_bytes())
    result = run(Period(settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), form, roster))
    assert result.totals["initiatives"] == 2 and calls == [1]


def test_an_empty_period(form, settings, roster):
    states = unit_states([], roster, settings)
    frame = dataset(states, [], form, settings)
    fig = compute(states, frame, roster, settings, form)
    assert_adds_up(fig, frame, states)
    assert fig.units.total.units == len(roster.active) and fig.target["initiatives"].actual == 0
    assert fig.by_field.total.share is None and fig.target["uploaded"].ratio is None
    assert [p.key for p in fig.assessment.shortcomings] == [
        "phase-1-not-reached",
        "phase-2-in-progress",
        "rate-members-not-reached",
        "rate-initiatives-not-reached",
        "missing",
    ]
    assert fig.assessment.strengths == ()


def test_a_dataset_row_of_an_unknown_file_is_refused(small, form):
    _, frame, result, s, few = small
    moved = frame.assign(sha256_nguon=["0" * 64, *frame["sha256_nguon"].iloc[1:]])
    with pytest.raises(ValueError, match="not known"):
        compute(result.units, moved, few, s, form)
