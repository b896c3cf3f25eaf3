"""The report's PDF, made by a whole run with `pdf=True`: every font embedded, the body in the Times
New Roman the DOCX asks for or in one metric-compatible substitute with every Vietnamese letter
(Liberation Serif 2, Tinos), never a fallback font (DejaVu, ...) drawing the letters with tone marks
in the middle of a word; and its text read back with those letters exactly.

LibreOffice, poppler and fontconfig are required: these tests fail, never skip, without them
(`make test` installs them with fonts-liberation2).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.form import Form
from pipeline.roster import Roster
from tests.conftest import fill_template, soffice
from tests.test_report_docx import run_small_period

# One report through LibreOffice for the module, on one worker when the tests run in parallel.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pdf-fonts")]

# By PostScript name, as pdffonts shows it: the font the DOCX asks for first, then what stands in for
# it where it is not installed (LibreOffice's replacement table and fontconfig's metric aliases).
SERIF = ("TimesNewRomanPS", "LiberationSerif", "Tinos")  # the body: Times New Roman
MONO = ("CourierNewPS", "LiberationMono", "Cousine")  # Courier New, should a monospace part come back
VIETNAMESE = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "LĐLĐ HUYỆN VĨNH THUẬN",
    "Vĩnh Thuận, ngày 05 tháng 6 năm 2022",
    "Kết quả thực hiện Chương trình",
    "nỗ lực vượt khó, sáng tạo, quyết tâm chiến thắng đại dịch Covid-19",
    # A justified line: a fallback's other widths showed here as "chi ến th ắng đ ại d ịch".
    'chiến thắng đại dịch Covid-19", Ban Thường vụ LĐLĐ huyện báo cáo kết quả như sau:',
    "Số liệu tính đến ngày 05/06/2022",
    "Cải tiến băng chuyền phân loại tôm nguyên liệu (tác giả: Trần Văn Hùng;",
    "TM. BAN THƯỜNG VỤ",
)


def tool(name: str, package: str) -> str:
    """A command the tests need; they fail (never skip) when it is missing."""
    path = shutil.which(name)
    assert path, f"{package} ({name}) is required: `make test` installs it"
    return path


@dataclass(frozen=True)
class Font:
    name: str  # the PostScript name, without the subset's tag
    embedded: bool


def fonts_of(pdf: Path) -> list[Font]:
    """pdffonts' table, one row a font; its last five columns are emb, sub, uni, object and generation."""
    out = subprocess.run([tool("pdffonts", "poppler-utils"), str(pdf)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()
    assert rows[1].startswith("-----"), out.stdout
    fonts = []
    for row in rows[2:]:
        words = row.split()
        fonts.append(Font(re.sub(r"^[A-Z]{6}\+", "", words[0]), words[-5] == "yes"))
    return fonts


def family(name: str) -> str | None:
    """Which of the expected families a PostScript name belongs to; None for any other font."""
    return next((f for f in SERIF + MONO if name.startswith(f)), None)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory, settings: Settings, form: Form, roster: Roster) -> Path:
    soffice()  # required: fails, never skips
    folder = tmp_path_factory.mktemp("pdf-fonts")
    filled = functools.partial(fill_template, folder, form, settings, roster)
    result, *_ = run_small_period(folder, filled, settings, form, roster, pdf=True)
    path = result.outputs.get("report_pdf")
    assert path is not None and path.is_file(), result.outputs
    return path


def test_every_font_is_embedded(pdf: Path) -> None:
    fonts = fonts_of(pdf)
    assert fonts and [f.name for f in fonts if not f.embedded] == []


def test_every_font_is_times_new_roman_or_one_substitute_never_a_fallback(pdf: Path) -> None:
    """A letter the body's font lacks comes from another font in the middle of the word: with the
    old Liberation Serif (1.x), DejaVu Serif draws "ế", "ỗ", "ợ"; with it and Tinos, Tinos does."""
    names = sorted({f.name for f in fonts_of(pdf)})
    assert [n for n in names if family(n) is None] == [], names
    serif = {family(n) for n in names} & set(SERIF)
    assert len(serif) == 1, names  # one family for the whole body, none filling in its gaps
    assert len({family(n) for n in names} & set(MONO)) <= 1, names


def test_the_fonts_it_names_have_every_vietnamese_letter(pdf: Path) -> None:
    """The installed font of each name covers Vietnamese (fontconfig's language `vi`). With the old
    Liberation Serif alone, and no other font to fall back on, the PDF names only it, its text reads
    back right, and every "ậ", "ế", "ư" is an empty box: only this test sees that."""
    fc_list = tool("fc-list", "fontconfig")

    def vietnamese(name: str) -> bool:
        pattern = f":postscriptname={name}:lang=vi"
        return bool(
            subprocess.run([fc_list, pattern, "file"], capture_output=True, text=True, check=True).stdout.strip()
        )

    names = sorted({f.name for f in fonts_of(pdf)})
    assert [name for name in names if not vietnamese(name)] == [], names


def test_the_text_reads_back_with_its_tone_marks(pdf: Path) -> None:
    done = subprocess.run([tool("pdftotext", "poppler-utils"), str(pdf), "-"], capture_output=True, check=True)
    text = done.stdout.decode("utf-8")
    words = " ".join(text.split())
    assert "\ufffd" not in text and unicodedata.is_normalized("NFC", text)
    missing = [expected for expected in VIETNAMESE if expected not in words]
    assert missing == [], words[:1500]
