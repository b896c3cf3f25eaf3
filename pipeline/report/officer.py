"""The officer's own text of the report: sections I, IV and V and the closing, in a plain file.

The officer writes them once, in `bao-cao.md` beside the configuration (`paths.report_text`): plain
paragraphs under the sections' headings, a blank line between paragraphs, "- " before the items of
a list. A run creates the file with a hint under each heading when it is missing, and every format
of the report carries what it says. A section whose text is still its hint (or empty) is unfilled:
the DOCX and the HTML show it highlighted, and the run says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import ConfigError
from pipeline.files import atomic_path
from pipeline.text import fold

# The officer's sections: key, heading as the file writes it, and the hint the file starts with.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "I",
        "I. Công tác chỉ đạo, triển khai",
        "(Đơn vị bổ sung nội dung công tác chỉ đạo, triển khai: các văn bản đã ban hành, hình thức tuyên "
        "truyền, phổ biến Chương trình đến đoàn viên, người lao động.)",
    ),
    ("IV", "IV. Phương hướng, nhiệm vụ thời gian tới", "(Đơn vị bổ sung phương hướng, nhiệm vụ thời gian tới.)"),
    ("V", "V. Đề xuất, kiến nghị", "(Đơn vị bổ sung đề xuất, kiến nghị với LĐLĐ tỉnh.)"),
)
CLOSING = ("closing", "Kết thúc báo cáo", "Trên đây là báo cáo kết quả thực hiện {programme} của {organisation}.")
INTRO = """\
<!--
Phần nội dung do cán bộ LĐLĐ huyện tự viết trong báo cáo tổng hợp gửi LĐLĐ tỉnh.

Viết dưới mỗi tiêu đề "## ...", thay cho dòng gợi ý trong ngoặc. Giữa hai đoạn văn để một dòng
trống; mỗi ý của một danh sách bắt đầu bằng "- ". Không đổi tên các tiêu đề. Lưu tệp với bảng
mã UTF-8 (Notepad mặc định lưu UTF-8), rồi chạy lại "pipeline run": báo cáo DOCX, PDF, trang web
và bảng tính đều lấy nội dung từ tệp này. Mục nào còn để dòng gợi ý thì được tô vàng trong báo cáo.
-->
"""


@dataclass(frozen=True)
class Passage:
    """One section of the officer's text: paragraphs (str) and lists (tuple of items), in order."""

    heading: str
    parts: tuple[str | tuple[str, ...], ...]
    hint: bool  # still the hint (or empty): not written yet


@dataclass(frozen=True)
class OfficerText:
    sections: dict[str, Passage]  # "I", "IV", "V"
    closing: Passage
    source: Path | None = None

    def unfilled(self) -> list[Passage]:
        return [p for p in (*self.sections.values(), self.closing) if p.hint]


def default_text(settings: Settings) -> str:
    """The file as a run first writes it: each heading with its hint."""
    parts = [INTRO]
    for _, heading, hint in (*SECTIONS, CLOSING):
        parts.append(f"## {heading}\n\n{_filled(hint, settings)}\n")
    return "\n".join(parts)


def _filled(text: str, settings: Settings) -> str:
    return text.format(programme=settings.programme.name, organisation=settings.organisation.full_name)


def ensure_text(settings: Settings) -> Path:
    """The officer's file, written with the hints when it is not there yet; its path."""
    path = settings.paths.report_text
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_text(default_text(settings), encoding="utf-8")
    return path


def load_text(settings: Settings, *, create: bool = True) -> OfficerText:
    """The officer's text of the report (the file created with its hints first when `create`)."""
    path = ensure_text(settings) if create else settings.paths.report_text
    raw = path.read_bytes() if path.exists() else default_text(settings).encode()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f'Tệp "{path}" phải được lưu với bảng mã UTF-8 (trong Notepad: Save As, Encoding UTF-8).'
        ) from exc
    return parse_text(text, settings, path)


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s*(.+?)\s*#*\s*$")
_ITEM = re.compile(r"^\s*[-*+•]\s+(.*)$")


def parse_text(text: str, settings: Settings, source: Path | None = None) -> OfficerText:
    """The sections of the file, matched to the report's by their headings (diacritics, case and
    the number ignored, so "## IV. Phương hướng" and "## phuong huong, nhiem vu" both match). A
    section the file does not have keeps its hint."""
    wanted = {key: (heading, hint) for key, heading, hint in (*SECTIONS, CLOSING)}
    found: dict[str, list[str]] = {}
    current: str | None = None
    for line in _COMMENT.sub("", text).splitlines():
        title = _HEADING.match(line)
        if title:
            current = _section_key(title.group(1))
            if current is not None:
                found.setdefault(current, [])
            continue
        if current is not None:
            found[current].append(line)
    passages = {}
    for key, (heading, hint) in wanted.items():
        hint_text = _filled(hint, settings)
        lines = found.get(key)
        parts = _parts(lines) if lines is not None else ()
        unwritten = not parts or _plain(parts) == _plain((hint_text,))
        if key == "closing" and unwritten:  # the closing sentence is ready to sign as it is
            passages[key] = Passage(heading, (hint_text,), False)
        else:
            passages[key] = Passage(heading, parts or (hint_text,), unwritten)
    return OfficerText({k: passages[k] for k, _, _ in SECTIONS}, passages["closing"], source)


def _section_key(title: str) -> str | None:
    """The section a heading of the file names: by its number ("IV"), its words, or the first of
    its words ("IV. Phương hướng, nhiệm vụ"), diacritics and case aside."""
    number, _, rest = fold(title).partition(" ")
    if number not in {fold(key) for key, _, _ in SECTIONS}:
        number, rest = "", fold(title)
    for key, heading, _ in (*SECTIONS, CLOSING):
        words = fold(heading.split(". ", 1)[-1])
        if (number and number == fold(key) and (not rest or words.startswith(rest))) or (
            not number and rest and words.startswith(rest)
        ):
            return key
    return None


def _parts(lines: list[str]) -> tuple[str | tuple[str, ...], ...]:
    """Paragraphs (lines joined until a blank line) and lists ("- " items), in order."""
    parts: list[str | tuple[str, ...]] = []
    paragraph: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if paragraph:
            parts.append(" ".join(paragraph))
            paragraph.clear()
        if items:
            parts.append(tuple(items))
            items.clear()

    for line in lines:
        stripped = line.strip()
        item = _ITEM.match(line)
        if not stripped:
            flush()
        elif item:
            if paragraph:
                flush()
            items.append(f"- {item.group(1).strip()}")
        elif items and line[:1].isspace():  # an item's next line
            items[-1] += " " + stripped
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    return tuple(parts)


def _plain(parts: tuple[str | tuple[str, ...], ...]) -> str:
    return fold(" ".join(p if isinstance(p, str) else " ".join(p) for p in parts))


def section_texts(settings: Settings) -> dict[str, str]:
    """Each section's text as the file has it (its hint when not written yet), by key ("I", "IV",
    "V", "closing"): what a form shows for editing."""
    officer = load_text(settings)
    out = {}
    for key, passage in (*officer.sections.items(), ("closing", officer.closing)):
        out[key] = "\n\n".join(p if isinstance(p, str) else "\n".join(p) for p in passage.parts)
    return out


def save_sections(settings: Settings, texts: dict[str, str]) -> Path:
    """Write the officer's file with the given sections' texts (the others as they are): the same
    file the officer may edit by hand, which every format of the report reads."""
    current = section_texts(settings)
    parts = [INTRO]
    for key, heading, _hint in (*SECTIONS, CLOSING):
        text = texts.get(key, current[key]).replace("\r\n", "\n").strip()
        text = re.sub(r"\n{3,}", "\n\n", text)
        parts.append(f"## {heading}\n\n{text}\n")
    path = settings.paths.report_text
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
    return path
