"""Findings: what the checks say about a file, as data.

A `Finding` has a stable `Code`, a `Severity`, a `Location` (file, sheet, Excel cell) and a
Vietnamese message from the one message table below, so the CLI, the feedback workbook, the JSON
output and the report all say the same sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pipeline.labels import Labelled


class Severity(Labelled):
    """How much a finding weighs: an error rejects the file, a warning and a notice do not."""

    ERROR = "error", "Lỗi"
    WARNING = "warning", "Cảnh báo"
    NOTICE = "notice", "Ghi nhận"


class Code(StrEnum):
    # file level
    NOT_SPREADSHEET = "not-spreadsheet"
    MISSING_SHEET = "missing-sheet"
    MISSING_HEADER = "missing-header"
    MISSING_LABEL = "missing-label"
    OTHER_FORM = "other-form"
    OLD_VERSION = "old-version"
    NO_INITIATIVE = "no-initiative"
    EMPTY_FILE = "empty-file"
    PASSWORD_PROTECTED = "password-protected"
    TOO_LARGE = "too-large"
    GRID_TOO_LARGE = "grid-too-large"
    FORBIDDEN_XML = "forbidden-xml"
    CORRUPT_FILE = "corrupt-file"
    UNSUPPORTED_FORMAT = "unsupported-format"
    READER_CRASH = "reader-crash"
    READER_TIMEOUT = "reader-timeout"
    EXTENSION_MISMATCH = "extension-mismatch"
    FALLBACK_READER = "fallback-reader"
    # value level
    REQUIRED = "required"
    NOT_IN_LIST = "not-in-list"
    NOT_A_NUMBER = "not-a-number"
    NUMBER_TOO_LARGE = "number-too-large"
    NOT_A_DATE = "not-a-date"
    NO_SUCH_DATE = "no-such-date"
    TWO_DIGIT_YEAR = "two-digit-year"
    CELL_ERROR = "cell-error"
    FORMULA_NO_VALUE = "formula-no-value"
    BELOW_MINIMUM = "below-minimum"
    TOO_SHORT = "too-short"
    TOO_LONG = "too-long"
    TOO_FEW_WORDS = "too-few-words"
    BAD_EMAIL = "bad-email"
    OUT_OF_WINDOW = "out-of-window"
    AFTER_AS_OF = "after-as-of"
    AFTER_REPORT_DATE = "after-report-date"
    ABOVE_FIELD = "above-field"
    BEFORE_FIELD = "before-field"
    ONLY_WHEN = "only-when"
    UNKNOWN_UNIT = "unknown-unit"
    # warnings: the file is accepted, the union is told
    BAD_PHONE = "bad-phone"  # a contact detail never rejects a report
    NAME_MISMATCH = "name-mismatch"
    MEMBERS_FAR = "members-far"
    STT_GAP = "stt-gap"
    DUPLICATE_INITIATIVE = "duplicate-initiative"
    AUTHOR_IS_COAUTHOR = "author-is-coauthor"
    REGISTERED_BEFORE_APPLIED = "registered-before-applied"
    SENDER_OTHER_UNIT = "sender-other-unit"  # an e-mail from one union carries another's report
    # repairs made while reading
    TEXT_NORMALISED = "text-normalised"
    LEGACY_TEXT = "legacy-text"
    TEXT_DATE_READ = "text-date-read"
    TEXT_NUMBER_READ = "text-number-read"


# One sentence per code of the reading stage: what is wrong and how to fix it. Placeholders come from
# `Finding.params`. The validation rules' own sentences are in `pipeline.rules.RULES`.
MESSAGES: dict[Code, str] = {
    Code.NOT_SPREADSHEET: "Tệp không phải bảng tính ({kind}). Vui lòng gửi biểu mẫu Excel (.xlsx) đã điền.",
    Code.MISSING_SHEET: 'Không tìm thấy trang "{sheet}". Vui lòng dùng đúng biểu mẫu do LĐLĐ huyện gửi, không đổi tên hay xóa trang.',
    Code.MISSING_HEADER: "Không tìm thấy đủ các cột của bảng sáng kiến (thiếu: {label}). Vui lòng giữ nguyên dòng tiêu đề của biểu mẫu, không xóa hay đổi tên cột.",
    Code.MISSING_LABEL: 'Không tìm thấy mục "{label}" trên trang "{sheet}". Vui lòng dùng đúng biểu mẫu, không xóa dòng này.',
    Code.OTHER_FORM: 'Tệp là biểu mẫu của chương trình khác ({form_id}), không phải biểu mẫu "01 triệu sáng kiến". Vui lòng điền số liệu vào biểu mẫu "01 triệu sáng kiến" do LĐLĐ huyện gửi rồi gửi lại.',
    Code.OLD_VERSION: "Tệp dùng biểu mẫu phiên bản cũ ({version}); số liệu vẫn được đọc. Lần sau vui lòng dùng biểu mẫu phiên bản {current}.",
    Code.NO_INITIATIVE: 'Đơn vị chưa kê khai sáng kiến nào trên trang "{sheet}". Nếu đơn vị có sáng kiến, vui lòng kê khai rồi gửi lại.',
    Code.EMPTY_FILE: "Tệp rỗng (0 byte), có thể do tải về bị lỗi. Vui lòng gửi lại tệp biểu mẫu đã điền.",
    Code.PASSWORD_PROTECTED: "Tệp có mật khẩu nên không mở được. Vui lòng gỡ mật khẩu (Tệp > Thông tin > Bảo vệ sổ làm việc) rồi gửi lại.",
    Code.TOO_LARGE: "Tệp quá lớn so với một biểu mẫu báo cáo ({reason}). Vui lòng gửi lại đúng biểu mẫu đã điền, không kèm dữ liệu khác.",
    Code.GRID_TOO_LARGE: "Bảng tính có ô ở vị trí quá xa ({reason}), có thể do dán nhầm dữ liệu. Vui lòng xóa các ô thừa hoặc chép số liệu sang biểu mẫu mới rồi gửi lại.",
    Code.FORBIDDEN_XML: "Tệp chứa cấu trúc XML không được phép ({reason}) nên không được mở, để bảo đảm an toàn. Vui lòng chép số liệu sang biểu mẫu mới rồi gửi lại.",
    Code.CORRUPT_FILE: "Tệp bị hỏng, không đọc được ({reason}). Vui lòng mở lại bằng Excel, lưu dạng .xlsx và gửi lại.",
    Code.UNSUPPORTED_FORMAT: "Định dạng tệp không được hỗ trợ ({reason}). Vui lòng mở bằng Excel, chọn Lưu thành dạng Excel Workbook (.xlsx) và gửi lại.",
    Code.READER_CRASH: "Tệp làm trình đọc bảng tính bị lỗi nghiêm trọng ({reason}). Vui lòng mở lại bằng Excel, lưu dạng .xlsx và gửi lại.",
    Code.READER_TIMEOUT: "Đọc tệp quá lâu ({reason}) nên đã dừng. Vui lòng kiểm tra tệp, xóa dữ liệu thừa, lưu dạng .xlsx và gửi lại.",
    Code.EXTENSION_MISMATCH: 'Tên tệp có đuôi "{extension}" nhưng nội dung là tệp {kind}; tệp vẫn được đọc theo nội dung thật.',
    Code.FALLBACK_READER: "Tệp được đọc bằng trình đọc dự phòng ({reader}) vì trình đọc chính không đọc được tệp này; số liệu vẫn được kiểm tra như thường.",
    Code.NOT_A_NUMBER: 'Ô "{label}" phải là số nguyên, nhưng đang ghi "{value}". Vui lòng ghi số, ví dụ 1500000.',
    Code.NUMBER_TOO_LARGE: (
        'Ô "{label}" ghi số "{value}", lớn quá mức (từ 15 chữ số trở lên, Excel không giữ đúng được). '
        "Vui lòng kiểm tra và ghi lại đúng số."
    ),
    Code.NOT_A_DATE: 'Ô "{label}" phải là ngày dạng dd/mm/yyyy, nhưng đang ghi "{value}". Vui lòng nhập lại, ví dụ 15/03/2022.',
    Code.NO_SUCH_DATE: 'Ngày "{value}" ở ô "{label}" không có thật: {reason}. Vui lòng kiểm tra lại ngày, ghi theo thứ tự ngày/tháng/năm, ví dụ 28/02/2022.',
    Code.CELL_ERROR: 'Ô "{label}" đang báo lỗi {value} của Excel (công thức tính sai hoặc tham chiếu đến ô không còn). Vui lòng sửa công thức hoặc nhập thẳng giá trị.',
    Code.FORMULA_NO_VALUE: 'Ô "{label}" có công thức {value} nhưng tệp không lưu kết quả tính (thường do tệp được tạo bằng phần mềm khác). Vui lòng mở tệp bằng Excel, lưu lại rồi gửi, hoặc nhập thẳng giá trị.',
    Code.SENDER_OTHER_UNIT: 'Tệp được gửi từ địa chỉ {sender}, là địa chỉ của {sender_unit} (mã {sender_code}) trong danh sách CĐCS, nhưng tệp ghi mã CĐCS {unit_code} ({unit}). Vui lòng kiểm tra lại ô "{label}"; nếu đơn vị gửi hộ đơn vị khác thì không cần sửa.',
    Code.TWO_DIGIT_YEAR: 'Ngày "{value}" ở ô "{label}" ghi năm hai chữ số nên không rõ năm. Vui lòng ghi đủ bốn chữ số của năm, ví dụ 15/03/2022.',
    Code.TEXT_NORMALISED: 'Đã chuẩn hóa chữ tiếng Việt ({repair}) ở {count} ô, bắt đầu từ ô "{label}"; nội dung không đổi.',
    Code.LEGACY_TEXT: 'Chữ ở ô "{label}" được gõ bằng bảng mã cũ {encoding} ("{value}"); đã chuyển sang Unicode: "{converted}". Có {count} ô như vậy trong tệp; lần sau vui lòng gõ bằng bảng mã Unicode.',
    Code.TEXT_DATE_READ: 'Ngày ở ô "{label}" được gõ dạng chữ "{value}"; đã đọc là {date} (ngày/tháng/năm).',
    Code.TEXT_NUMBER_READ: 'Số ở ô "{label}" được gõ dạng chữ "{value}"; đã đọc là {number}.',
}


def template(code: Code) -> str:
    """The sentence of `code`, with its placeholders: a reading finding's from `MESSAGES`, a
    validation rule's from its `Rule`."""
    text = MESSAGES.get(code)
    if text is None:
        from pipeline.rules import BY_CODE  # the rules build on this module

        text = BY_CODE[code].message
    return text


def row_place(sheet: str, row: int) -> str:
    """A row as a union clerk finds it: "dòng 7, trang Sáng kiến"."""
    return f"dòng {row}, trang {sheet}"


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    sheet: str | None = None
    row: int | None = None  # the Excel row the user sees, 1-based
    column: str | None = None  # "K"

    @property
    def cell(self) -> str | None:
        if self.row is None:
            return None
        return f"{self.column or ''}{self.row}"

    @property
    def ref(self) -> str:
        """ "Sáng kiến!K12", or the sheet, or "" for the whole file."""
        cell = self.cell
        if self.sheet and cell:
            return f"{self.sheet}!{cell}"
        return self.sheet or ""

    def describe(self, field: str | None, records: bool) -> str:
        """Where this is, as a union clerk reads it, not as a spreadsheet reference:
        'Trang Sáng kiến, dòng 5, cột "Tác giả (họ và tên)"' on a sheet of records (one per row),
        'Trang Thông tin đơn vị, dòng 18, mục "Điện thoại"' on a sheet of labels and values, or ""
        for the whole file."""
        if not self.sheet:
            return ""
        if self.row is None:
            return f"Trang {self.sheet}"
        if not field:
            return f"Trang {self.sheet}, ô {self.cell}"
        return f'Trang {self.sheet}, dòng {self.row}, {"cột" if records else "mục"} "{field}"'


@dataclass(frozen=True, slots=True)
class Finding:
    code: Code
    severity: Severity
    location: Location
    field: str | None = None  # the field's label as the form shows it
    value: Any = None
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def message(self) -> str:
        values = {"label": self.field or "", "value": show_value(self.value)}
        values.update((k, show_value(v)) for k, v in self.params)
        return template(self.code).format(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.location.file,
            "sheet": self.location.sheet,
            "cell": self.location.cell,
            "field": self.field,
            "value": show_value(self.value) if self.value is not None else None,
            "severity": self.severity.value,
            "rule": self.code.value,
            "message": self.message,
        }


def make(
    code: Code,
    severity: Severity,
    location: Location,
    field: str | None = None,
    value: Any = None,
    **params: Any,
) -> Finding:
    return Finding(code, severity, location, field, value, tuple(sorted(params.items())))


def show_value(value: Any) -> str:
    """A value as the user would recognise it: dates dd/mm/yyyy, whole numbers without ".0"."""
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
