"""The demo: a realistic, fictional reporting period built from the project's own templates.

`build_demo(folder, settings, form, seed)` copies the demo roster, writes the personalised
templates, fills most of them the way union staff really do (dates typed as text, numbers with
dots, NFD text), puts typical mistakes in a few, adds a corrected resubmission, a PDF attachment
and an Excel lock file, and leaves a few unions silent. The same seed gives the same content.
It only ever writes inside its own folder, marked as a demo folder.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.config import DEFAULT_NAME as CONFIG_NAME
from pipeline.config import Settings, load_settings
from pipeline.errors import PipelineError
from pipeline.findings import Code, Severity
from pipeline.form import Form
from pipeline.roster import Roster, Unit, load_roster
from pipeline.template import INITIATIVE_HEADER_ROW, UNIT_FIRST_ROW, UNIT_VALUE_COL, template_name, write_templates

MARKER = ".pipeline-demo"
ROSTER_NAME = "danh-sach-cdcs.csv"
TEMPLATES_DIR = "bieu-mau"
DEFAULT_SEED = 2022

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi", "Dương", "Lâm", "Trương", "Danh", "Thạch"]
MIDDLE = ["Văn", "Thị", "Minh", "Thanh", "Ngọc", "Hoàng", "Quốc", "Thị Kim", "Văn Hữu", "Thị Mỹ"]
GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hạnh",
    "Hoa",
    "Khánh",
    "Lan",
    "Linh",
    "Lộc",
    "Mai",
    "Nam",
    "Nga",
    "Phúc",
    "Phương",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Thủy",
    "Tiến",
    "Trang",
    "Tuấn",
    "Vân",
    "Yến",
]

# Initiative ideas by field: (title, summary, benefit text, typical value in đồng or 0).
IDEAS: dict[str, list[tuple[str, str, str, int]]] = {
    "Cải cách hành chính, chuyển đổi số": [
        (
            "Ứng dụng Zalo OA tiếp nhận phản ánh của người dân",
            "Lập tài khoản Zalo chính thức để người dân gửi phản ánh, cán bộ trả lời trong ngày.",
            "Rút ngắn thời gian trả lời phản ánh còn một ngày.",
            0,
        ),
        (
            "Số hóa sổ theo dõi công văn đến và đi",
            "Chuyển sổ công văn giấy sang bảng tính dùng chung, có tìm kiếm theo số và ngày.",
            "Tra cứu văn bản nhanh, giảm thất lạc hồ sơ.",
            3_000_000,
        ),
        (
            "Mã QR tra cứu thủ tục hành chính tại bộ phận một cửa",
            "In mã QR dẫn tới hướng dẫn từng thủ tục, dán tại quầy tiếp nhận.",
            "Giảm số lần người dân phải đi lại bổ sung hồ sơ.",
            5_000_000,
        ),
    ],
    "Giáo dục – đào tạo, nghiên cứu": [
        (
            "Ngân hàng câu hỏi ôn tập trực tuyến cho học sinh lớp 9",
            "Xây dựng bộ câu hỏi trên Google Forms để học sinh tự ôn tập và chấm điểm tự động.",
            "Tỷ lệ học sinh đạt điểm khá tăng rõ.",
            0,
        ),
        (
            "Góc đọc sách thân thiện từ vật liệu tái chế",
            "Tận dụng thùng gỗ, bìa cứng làm kệ sách tại hành lang lớp học.",
            "Tiết kiệm chi phí mua kệ, học sinh đọc sách nhiều hơn.",
            4_500_000,
        ),
        (
            "Dạy học STEM với mô hình ruộng lúa thu nhỏ",
            "Học sinh trồng lúa trong khay để quan sát sinh trưởng và ghi chép số liệu.",
            "Học sinh hứng thú, hiểu bài sâu hơn.",
            0,
        ),
        (
            "Sổ liên lạc điện tử qua nhóm phụ huynh",
            "Giáo viên chủ nhiệm gửi nhận xét hằng tuần qua nhóm phụ huynh thay sổ giấy.",
            "Phụ huynh nắm tình hình học tập kịp thời.",
            1_200_000,
        ),
    ],
    "Y tế, phòng chống dịch Covid-19": [
        (
            "Quy trình sàng lọc Covid-19 tại cổng cơ quan",
            "Bố trí bàn khai báo, đo thân nhiệt và sát khuẩn theo luồng một chiều.",
            "Không để lây nhiễm chéo trong cơ quan.",
            2_000_000,
        ),
        (
            "Tủ thuốc dùng chung cho người lao động",
            "Công đoàn góp quỹ mua thuốc thông dụng, có sổ theo dõi cấp phát.",
            "Người lao động được hỗ trợ kịp thời khi ốm nhẹ.",
            1_500_000,
        ),
    ],
    "Sản xuất, kinh doanh": [
        (
            "Cải tiến máy bóc vỏ tôm bán tự động",
            "Lắp thêm băng tải và vòi phun nước áp lực cho máy bóc vỏ tôm.",
            "Năng suất tăng 20%, giảm hao hụt nguyên liệu.",
            120_000_000,
        ),
        (
            "Tận dụng nhiệt thải lò sấy để sấy khô cá",
            "Dẫn khí nóng từ lò sấy lúa sang buồng sấy cá khô.",
            "Tiết kiệm củi đốt mỗi năm.",
            45_000_000,
        ),
        (
            "Sắp xếp lại kho nguyên liệu theo phương pháp 5S",
            "Phân khu, dán nhãn và quy định vị trí cố định cho từng loại nguyên liệu.",
            "Giảm thời gian tìm kiếm, xuất nhập kho nhanh.",
            18_000_000,
        ),
    ],
    "Xây dựng nông thôn mới": [
        (
            "Mô hình tuyến đường hoa tự quản ở ấp",
            "Vận động hộ dân trồng và chăm sóc hoa dọc tuyến đường chính của ấp.",
            "Cảnh quan sạch đẹp, góp phần đạt tiêu chí môi trường.",
            8_000_000,
        ),
        (
            "Sổ tay hướng dẫn hồ sơ tiêu chí nông thôn mới nâng cao",
            "Tổng hợp biểu mẫu và minh chứng của từng tiêu chí vào một sổ tay.",
            "Hồ sơ được hoàn thiện đúng hạn.",
            0,
        ),
    ],
    "An toàn vệ sinh lao động, bảo vệ môi trường": [
        (
            "Phân loại rác tại nguồn trong cơ quan",
            "Đặt thùng rác ba ngăn và hướng dẫn cán bộ phân loại rác hằng ngày.",
            "Giảm lượng rác thải, tái chế giấy vụn.",
            2_500_000,
        ),
        (
            "Che chắn an toàn cho máy cắt vật liệu",
            "Thiết kế tấm chắn bằng thép lưới cho máy cắt gạch, đá.",
            "Không còn tai nạn trầy xước tay khi vận hành.",
            6_000_000,
        ),
    ],
    "Chăm lo đời sống đoàn viên, người lao động": [
        (
            "Quỹ tương trợ xoay vòng cho đoàn viên khó khăn",
            "Đoàn viên góp quỹ hằng tháng, cho vay không lãi để sửa nhà, chữa bệnh.",
            "Nhiều đoàn viên được hỗ trợ vốn kịp thời.",
            30_000_000,
        ),
        (
            "Bữa cơm ca dinh dưỡng với chi phí không đổi",
            "Thương lượng với bếp ăn thay đổi thực đơn theo mùa, dùng rau tự trồng.",
            "Bữa ăn ngon hơn, không tăng chi phí.",
            12_000_000,
        ),
    ],
    "Hoạt động công đoàn": [
        (
            "Sinh hoạt công đoàn trực tuyến theo chuyên đề",
            "Tổ chức sinh hoạt công đoàn qua nhóm trực tuyến mỗi tháng một chuyên đề.",
            "Tỷ lệ đoàn viên tham gia sinh hoạt tăng.",
            0,
        ),
        (
            "Phần mềm bảng tính quản lý đoàn viên và đoàn phí",
            "Xây dựng bảng tính theo dõi đoàn viên, đoàn phí, tự tính số phải nộp.",
            "Giảm sai sót, báo cáo nhanh.",
            2_000_000,
        ),
    ],
}
FIELD_FOR_SECTOR = {
    "Hành chính – sự nghiệp": [
        "Cải cách hành chính, chuyển đổi số",
        "Hoạt động công đoàn",
        "Y tế, phòng chống dịch Covid-19",
    ],
    "Giáo dục": ["Giáo dục – đào tạo, nghiên cứu", "Giáo dục – đào tạo, nghiên cứu", "Hoạt động công đoàn"],
    "Xã, thị trấn": [
        "Xây dựng nông thôn mới",
        "Cải cách hành chính, chuyển đổi số",
        "An toàn vệ sinh lao động, bảo vệ môi trường",
    ],
    "Doanh nghiệp": [
        "Sản xuất, kinh doanh",
        "Sản xuất, kinh doanh",
        "An toàn vệ sinh lao động, bảo vệ môi trường",
        "Chăm lo đời sống đoàn viên, người lao động",
    ],
    "Khác": ["Chăm lo đời sống đoàn viên, người lao động", "Hoạt động công đoàn", "Cải cách hành chính, chuyển đổi số"],
}
SOLUTION_FOR_FIELD = {
    "Sản xuất, kinh doanh": "Giải pháp kỹ thuật",
    "Giáo dục – đào tạo, nghiên cứu": "Giải pháp tác nghiệp",
    "An toàn vệ sinh lao động, bảo vệ môi trường": "Giải pháp kỹ thuật",
    "Cải cách hành chính, chuyển đổi số": "Giải pháp ứng dụng tiến bộ kỹ thuật, công nghệ",
}

# A minimal valid one-page PDF, as a union might attach a signed cover letter.
_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass(frozen=True)
class Mistake:
    """A mistake put into a demo file on purpose, and the finding it must produce."""

    file: str
    sheet: str
    cell: str
    code: Code
    what: str
    severity: Severity = Severity.ERROR


@dataclass
class DemoInbox:
    folder: Path
    settings: Settings  # the configuration with the demo's own paths
    roster: Roster
    files: list[str] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    silent: list[str] = field(default_factory=list)  # units that never submit


def prepare_folder(folder: Path, settings: Settings) -> None:
    """Create or reuse a demo folder; refuse one that holds anything but an earlier demo."""
    folder = folder.resolve()
    protected = {settings.paths.inbox.resolve(), settings.paths.outbox.resolve(), settings.source.parent.resolve()}
    if folder in protected or any(p.is_relative_to(folder) for p in (settings.paths.inbox.resolve(),)):
        raise PipelineError(f'Không thể tạo dữ liệu mẫu trong "{folder}": thư mục này chứa hộp thư hoặc cấu hình thật.')
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise PipelineError(
                f'Thư mục "{folder}" đã có dữ liệu không phải của bản chạy thử; hãy chọn thư mục khác bằng --out.'
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("Thư mục dữ liệu chạy thử của pipeline; có thể xóa.\n", encoding="utf-8")


def demo_roster_path() -> Path:
    return Path(str(resources.files("pipeline") / "data" / ROSTER_NAME))


_PATHS_TABLE = re.compile(r"^\[paths\][^\n]*\n(?:(?!\[).*\n?)*", re.MULTILINE)
DEMO_PATHS = f"""[paths]
# Thư mục của kỳ báo cáo mẫu, tính từ thư mục chứa tệp này.
inbox = "inbox"
outbox = "outbox"
roster = "{ROSTER_NAME}"
history = ""

"""


DEMO_OFFICE = "ldld.vinhthuan@example.vn"  # the demo district's own address (no server behind it)
_MAIL_ADDRESS = re.compile(r'^(\[mail\][^\[]*?^address = )""', re.MULTILINE)


def write_demo_config(source: Path, folder: Path) -> Path:
    """The demo folder's own configuration: the given one with the demo's paths, so that the next
    commands (`pipeline run`, `status`, `template`) work inside the folder as they are; and the
    district's address, so that `pipeline mail drafts` and `reminders` write their drafts there."""
    text = source.read_text(encoding="utf-8")
    text, found = _PATHS_TABLE.subn(lambda _: DEMO_PATHS, text, count=1)
    if not found:
        text = text.rstrip("\n") + "\n\n" + DEMO_PATHS
    text = _MAIL_ADDRESS.sub(lambda m: f'{m[1]}"{DEMO_OFFICE}"', text, count=1)
    target = folder / CONFIG_NAME
    target.write_text(text, encoding="utf-8")
    return target


def build_demo(folder: Path, settings: Settings, form: Form, seed: int = DEFAULT_SEED) -> DemoInbox:
    import openpyxl

    prepare_folder(folder, settings)
    folder = folder.resolve()
    shutil.copyfile(demo_roster_path(), folder / ROSTER_NAME)
    # Read back, so the folder's configuration is the one the demo used; the processing and the
    # limits of the given settings stay (a test's or a benchmark's choice of workers, say).
    own = load_settings(write_demo_config(settings.source, folder))
    settings = replace(own, processing=settings.processing, limits=settings.limits)
    roster = load_roster(settings.paths.roster, form)
    templates = folder / TEMPLATES_DIR
    write_templates(templates, form, settings, roster)
    inbox = settings.paths.inbox
    inbox.mkdir()
    demo = DemoInbox(folder, settings, roster)

    rng = random.Random(seed)
    units = list(roster.active)
    silent = set(rng.sample(range(len(units)), 5))
    demo.silent = [units[i].code for i in sorted(silent)]
    submitting = [u for i, u in enumerate(units) if i not in silent]
    # Which unions make which mistake: fixed by the seed, each on a different union.
    roles = rng.sample(range(len(submitting)), 9)
    mistakes: dict[int, Callable[[Any, Unit, str], None]] = {
        roles[0]: _missing_required,
        roles[1]: _not_in_list,
        roles[2]: _two_digit_year,
        roles[3]: _outside_window,
        roles[4]: _same_initiative_twice,
        roles[5]: _nfd_text,
        roles[6]: _text_dates_and_numbers,
    }
    corrected, with_pdf = roles[7], roles[8]
    # Some unions send by e-mail (their own random stream: the rest of the demo stays as it was).
    plain = [i for i in range(len(submitting)) if i not in mistakes and i not in (corrected, with_pdf)]
    by_mail = set(random.Random(f"{seed}-mail").sample(plain, min(6, len(plain))))
    for i, unit in enumerate(submitting):
        wb = openpyxl.load_workbook(templates / template_name(form, unit))
        filler = Filler(wb, form, settings, unit, random.Random(f"{seed}-{unit.code}"))
        filler.fill()
        name = _file_name(unit, rng)
        received = _received(filler, rng)
        if i == corrected:
            # First a hasty file with a mistake, then the corrected one a few days later.
            filler.ensure_rows(1)
            filler.set_initiative(0, "author", None)
            _save(wb, inbox / name, received - dt.timedelta(days=3))
            demo.mistakes.append(
                Mistake(name, form.sheets["initiatives"], filler.cell(0, "author"), Code.REQUIRED, "thiếu tác giả")
            )
            demo.files.append(name)
            filler.set_initiative(0, "author", filler.person())
            filler.set_unit("as_of", settings.as_of - dt.timedelta(days=2))
            filler.set_unit("prepared_on", settings.as_of - dt.timedelta(days=2))
            name = name.replace(".xlsx", " (sửa lại).xlsx")
        elif i in mistakes:
            mistakes[i](filler, unit, name)
            demo.mistakes.extend(replace(m, file=name) for m in filler.mistakes)
        _save(wb, inbox / name, received)
        if i in by_mail:  # sent by e-mail: the officer keeps the saved message, not the attachment
            name = _as_email(inbox, unit, received, inbox / name)
        demo.files.append(name)
        if i == with_pdf:
            pdf = f"Công văn gửi kèm {unit.code}.pdf"
            (inbox / pdf).write_bytes(_PDF)
            _touch(inbox / pdf, received)
            demo.files.append(pdf)
            # Excel leaves a lock file beside a workbook that is open while the officer saves it.
            lock = inbox / f"~${name}"
            lock.write_bytes(b"\x0bNguoi dung" + b" " * 44 + b"\x0b\x00N\x00g\x00" + b"\x00" * 100)
            _touch(lock, received)
            demo.files.append(lock.name)
    # One union that has not reported wrote, but forgot the attachment: its reply says so.
    forgetful = units[sorted(silent)[0]]
    if forgetful.email:
        when = dt.datetime.combine(settings.deadline, dt.time(16, 45))
        demo.files.append(_as_email(inbox, forgetful, when, subject="Báo cáo sáng kiến (gửi lại)"))
    return demo


def _as_email(
    inbox: Path, unit: Unit, when: dt.datetime, attachment: Path | None = None, subject: str = "Báo cáo sáng kiến"
) -> str:
    """A union's message carrying `attachment` (moved into it), saved as the officer saves one: an
    .eml in the inbox's "thư" folder, dated when it was sent. Returns its name in the inbox."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    msg = EmailMessage()
    msg["From"] = f"{unit.name} <{unit.email}>"
    msg["To"] = DEMO_OFFICE
    msg["Subject"] = f"{subject} - {unit.name}"
    msg["Date"] = format_datetime(when.astimezone())
    msg["Message-ID"] = make_msgid(idstring=unit.code, domain="example.vn")
    msg.set_content(f"Kính gửi LĐLĐ huyện,\n{unit.name} gửi báo cáo Chương trình 01 triệu sáng kiến.\n")
    if attachment is not None:
        kind = ["application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
        msg.add_attachment(attachment.read_bytes(), maintype=kind[0], subtype=kind[1], filename=attachment.name)
        attachment.unlink()
    name = f"thư/{when:%Y-%m-%d %H.%M} {unit.email}.eml"
    (inbox / name).parent.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(msg.as_bytes())
    _touch(inbox / name, when)
    return name


def _received(filler: Filler, rng: random.Random) -> dt.datetime:
    """When the officer saved the attachment: a day or two after the form was signed, office hours."""
    made = filler.unit_cell("prepared_on").value
    return dt.datetime.combine(made, dt.time(rng.randint(7, 16), rng.randint(0, 59))) + dt.timedelta(
        days=rng.choice([0, 0, 0, 1, 1, 2])
    )


def _save(wb: Any, path: Path, received: dt.datetime) -> None:
    wb.save(path)
    _touch(path, received)


def _touch(path: Path, when: dt.datetime) -> None:
    """Arrival time is the file's modification time, as when an attachment is saved."""
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def _file_name(unit: Unit, rng: random.Random) -> str:
    """Names people really give their attachments."""
    short = unit.name.removeprefix("CĐCS ").strip()
    return rng.choice(
        [
            f"{unit.code} - {unit.name}.xlsx",
            f"Bao cao sang kien {unit.code}.xlsx",
            f"BC sáng kiến - {short}.xlsx",
            f"{unit.code}_bao_cao.xlsx",
        ]
    )


class Filler:
    """Fills one personalised template the way a union's staff would."""

    def __init__(self, wb: Any, form: Form, settings: Settings, unit: Unit, rng: random.Random) -> None:
        self.wb, self.form, self.settings, self.unit, self.rng = wb, form, settings, unit, rng
        self.unit_ws = wb[form.sheets["unit"]]
        self.rows_ws = wb[form.sheets["initiatives"]]
        self.count = 0
        self.mistakes: list[Mistake] = []

    def person(self) -> str:
        return f"{self.rng.choice(SURNAMES)} {self.rng.choice(MIDDLE)} {self.rng.choice(GIVEN)}"

    # Fields are named by their role in the form ("author"), never by their key.
    def unit_cell(self, role: str) -> Any:
        index = self.form.unit.index(self.form.field(role))
        return self.unit_ws.cell(UNIT_FIRST_ROW + index, UNIT_VALUE_COL + 1)

    def set_unit(self, role: str, value: Any) -> None:
        self.unit_cell(role).value = value

    def cell(self, index: int, role: str) -> str:
        col = self.form.initiative.index(self.form.field(role)) + 1
        return self.rows_ws.cell(INITIATIVE_HEADER_ROW + 1 + index, col).coordinate

    def set_initiative(self, index: int, role: str, value: Any) -> None:
        self.rows_ws[self.cell(index, role)].value = value

    def get_initiative(self, index: int, role: str) -> Any:
        return self.rows_ws[self.cell(index, role)].value

    def fill(self) -> None:
        rng, unit, as_of = self.rng, self.unit, self.settings.as_of
        cut = as_of - dt.timedelta(days=rng.choice([3, 4, 5, 5, 6]))
        members = max(1, unit.members + rng.choice([0, 0, 0, 1, -1]))
        phone = rng.choice(["09", "08", "03"]) + str(rng.randint(10_000_000, 99_999_999))
        if rng.random() < 0.3:  # spaces as people type them
            phone = f"{phone[:4]} {phone[4:7]} {phone[7:]}"
        values: dict[str, Any] = {
            "workers": max(unit.workers, members),
            "members": members,
            "as_of": cut,
            "meetings": rng.randint(1, 3),
            "news_items": rng.randint(0, 5),
            "commended_groups": rng.choice([0, 0, 1]),
            "commended_people": rng.choice([0, 0, 1, 2]),
            "chair": self.person(),
            "preparer": self.person(),
            "phone": phone,
            "email": unit.email or "",
            "prepared_on": cut + dt.timedelta(days=rng.randint(0, 2)),
        }
        for role, value in values.items():
            self.set_unit(role, value)
        weights = [2, 4, 3, 2, 1] if unit.members > 25 else [3, 4, 2, 1, 0]
        count = rng.choices(range(5), weights=weights)[0]
        for index in range(count):
            self.add_initiative(index, cut)
        self.count = count

    def add_initiative(self, index: int, cut: dt.date) -> None:
        rng, prog = self.rng, self.settings.programme
        field_name = rng.choice(FIELD_FOR_SECTOR[self.unit.sector])
        title, summary, benefit, value = rng.choice(IDEAS[field_name])
        applied = prog.eligibility_start + dt.timedelta(days=rng.randint(30, (cut - prog.eligibility_start).days - 20))
        registered_from = max(applied, prog.start)
        registered = registered_from + dt.timedelta(days=rng.randint(0, max(0, (cut - registered_from).days)))
        uploaded = rng.random() < 0.7
        yes, no, not_yet = (self.form.answer(a) for a in ("yes", "no", "not_yet"))
        co_authors = "; ".join(self.person() for _ in range(rng.choice([0, 0, 1, 2])))
        row = {
            "number": index + 1,
            "title": title,
            "author": self.person(),
            "coauthors": co_authors or None,
            "author_is_member": yes if rng.random() < 0.95 else no,
            "kind": SOLUTION_FOR_FIELD.get(field_name, "Giải pháp quản lý"),
            "field": field_name,
            "summary": summary,
            "effect": benefit,
            "benefit": value or None,
            "applied_on": applied,
            "registered_on": registered,
            "recognised_by": rng.choice(["Cơ sở", "Cơ sở", "Cơ sở", "Huyện"]),
            "decision": f"{rng.randint(1, 40):02d}/QĐ-CĐCS ngày {applied:%d/%m/%Y}",
            "uploaded": yes if uploaded else not_yet,
            "portal_status": rng.choice(["Chờ duyệt", "Hợp lệ", "Hợp lệ"]) if uploaded else None,
            "commendation": rng.choice([not_yet, not_yet, "Giấy khen BCH CĐCS"]),
            "proposed_outstanding": yes if value and value >= 30_000_000 else no,
            "note": None,
        }
        for role, v in row.items():
            self.set_initiative(index, role, v)

    def ensure_rows(self, n: int) -> None:
        cut = self.unit_cell("as_of").value
        while self.count < n:
            self.add_initiative(self.count, cut)
            self.count += 1

    def note(self, index: int | None, role: str, code: Code, what: str, severity: Severity = Severity.ERROR) -> None:
        if index is None:
            sheet, cell = self.form.sheets["unit"], self.unit_cell(role).coordinate
        else:
            sheet, cell = self.form.sheets["initiatives"], self.cell(index, role)
        self.mistakes.append(Mistake("", sheet, cell, code, what, severity))


def _missing_required(f: Filler, unit: Unit, name: str) -> None:
    f.set_unit("preparer", None)
    f.note(None, "preparer", Code.REQUIRED, "bỏ trống Người lập biểu")


def _not_in_list(f: Filler, unit: Unit, name: str) -> None:
    f.ensure_rows(2)
    f.set_initiative(1, "kind", "Giải pháp kĩ thuật")  # typed by hand, old spelling
    f.note(1, "kind", Code.NOT_IN_LIST, "gõ tay giá trị ngoài danh sách")


def _two_digit_year(f: Filler, unit: Unit, name: str) -> None:
    f.ensure_rows(1)
    applied = f.get_initiative(0, "applied_on")
    f.set_initiative(0, "applied_on", f"{applied.day}/{applied.month}/{applied.year % 100:02d}")
    f.note(0, "applied_on", Code.TWO_DIGIT_YEAR, "ngày gõ dạng chữ với năm hai chữ số")


def _outside_window(f: Filler, unit: Unit, name: str) -> None:
    f.ensure_rows(2)
    f.set_initiative(1, "applied_on", dt.date(2021, 6, 15))
    f.note(1, "applied_on", Code.OUT_OF_WINDOW, "áp dụng trước khi Chương trình bắt đầu")


def _same_initiative_twice(f: Filler, unit: Unit, name: str) -> None:
    f.ensure_rows(1)
    f.count = max(f.count, 1)
    for col in range(1, len(f.form.initiative) + 1):
        top = f.rows_ws.cell(INITIATIVE_HEADER_ROW + 1, col).value
        f.rows_ws.cell(INITIATIVE_HEADER_ROW + 1 + f.count, col).value = top
    f.set_initiative(f.count, "number", f.count + 1)
    # One finding, on the second listing (it names the first).
    f.note(f.count, "title", Code.DUPLICATE_INITIATIVE, "chép một sáng kiến hai lần", Severity.WARNING)
    f.count += 1


def _nfd_text(f: Filler, unit: Unit, name: str) -> None:
    """Typed on Windows' own Vietnamese keyboard: every text in decomposed (NFD) form."""
    f.ensure_rows(1)
    for ws in (f.unit_ws, f.rows_ws):
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.protection.locked is False:
                    cell.value = unicodedata.normalize("NFD", cell.value)


def _text_dates_and_numbers(f: Filler, unit: Unit, name: str) -> None:
    """Dates typed as text, day first, and money typed with dots: read and reported as repairs."""
    f.ensure_rows(1)
    applied = f.get_initiative(0, "applied_on")
    f.set_initiative(0, "applied_on", f"{applied.day}/{applied.month}/{applied.year}")
    f.set_initiative(0, "benefit", "1.500.000 đ")


# Mistakes that make a file rejected (an error, not a warning): for generated inboxes at scale.
REJECTING_MISTAKES: tuple[Callable[[Filler, Unit, str], None], ...] = (
    _missing_required,
    _not_in_list,
    _two_digit_year,
    _outside_window,
)
