"""A provincial-scale inbox, generated deterministically from the project's own template.

`generate(folder, files, seed)` writes a roster of `files` unions (`danh-sach-cdcs.csv`) and one
filled workbook per union into `folder/inbox`: each is the union's personalised template (written
by `pipeline.template`), filled by the demo's `Filler` the way union staff do, with 0-40
initiatives (about 10 on average, most unions reporting a few and some many) and, in 2% of the
files, a mistake that gets the file rejected. Titles name the union, as real ones usually do, so
that two unions do not report the same initiative by the same author by chance.
Files are written by worker processes; the same (files, seed) gives the same bytes, so a finished
folder is reused by later benchmark runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import shutil
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Settings, load_settings
from pipeline.demo import REJECTING_MISTAKES, Filler
from pipeline.form import Form, load_form
from pipeline.roster import Unit
from pipeline.sheets import sheet_parts
from pipeline.template import write_template

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = "2"
ROSTER_NAME = "danh-sach-cdcs.csv"
SECTORS = ["Hành chính – sự nghiệp", "Giáo dục", "Doanh nghiệp", "Xã, thị trấn", "Khác"]
SECTOR_WEIGHTS = [30, 35, 15, 15, 5]
COMMUNES = [
    "Thị trấn Vĩnh Thuận",
    "Vĩnh Thuận",
    "Vĩnh Bình Bắc",
    "Vĩnh Bình Nam",
    "Bình Minh",
    "Phong Đông",
    "Tân Thuận",
    "Vĩnh Phong",
]
ERROR_SHARE = 0.02
MAX_INITIATIVES = 40
MEAN_INITIATIVES = 10


@dataclass(frozen=True)
class Inbox:
    folder: Path
    inbox: Path
    roster: Path
    files: list[Path]
    units: list[Unit]
    rejected: list[str]  # unit codes whose file carries a rejecting mistake
    initiatives: int


def settings_for(folder: Path) -> Settings:
    base = load_settings(ROOT / "pipeline.toml")
    return base.with_paths(inbox=folder / "inbox", outbox=folder / "outbox", roster=folder / ROSTER_NAME)


def make_units(count: int, seed: int) -> list[Unit]:
    rng = random.Random(f"{seed}-roster")
    units = []
    for i in range(1, count + 1):
        sector = rng.choices(SECTORS, weights=SECTOR_WEIGHTS)[0]
        members = rng.randint(8, 120) if sector != "Doanh nghiệp" else rng.randint(20, 400)
        units.append(
            Unit(
                code=f"KG{i:05d}",
                name=f"CĐCS Đơn vị số {i}",
                sector=sector,
                commune=rng.choice(COMMUNES),
                members=members,
                workers=members + rng.choice([0, 0, 1, 3]),
                email=f"kg{i:05d}@example.vn",
            )
        )
    return units


ROSTER_ROLES = ("unit_code", "unit_name", "sector", "commune", "members", "workers", "email", "active")


def write_roster(path: Path, units: list[Unit]) -> None:
    from pipeline.form import load_form

    form = load_form()
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([form.roster_field(role).label for role in ROSTER_ROLES])
        for u in units:
            out.writerow([u.code, u.name, u.sector, u.commune, u.members, u.workers, u.email, form.answer("yes")])


def file_name(unit: Unit) -> str:
    return f"{unit.code} - Báo cáo sáng kiến.xlsx"


def generate(folder: Path, files: int, seed: int = 2022, workers: int | None = None) -> Inbox:
    """The inbox of `files` workbooks under `folder` (made once, reused when already complete)."""
    units = make_units(files, seed)
    rng = random.Random(f"{seed}-errors")
    wrong = set(rng.sample(range(files), max(1, round(files * ERROR_SHARE)))) if files else set()
    inbox = folder / "inbox"
    stamp = folder / ".complete"
    expected = f"{GENERATOR_VERSION} {files} {seed}"
    if not (stamp.exists() and stamp.read_text() == expected):
        if folder.exists():
            shutil.rmtree(folder)
        inbox.mkdir(parents=True)
        write_roster(folder / ROSTER_NAME, units)
        jobs = [(folder, u, seed, i in wrong) for i, u in enumerate(units)]
        with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
            counts = list(pool.map(_one, jobs, chunksize=16))
        (folder / "counts.csv").write_text("\n".join(map(str, counts)) + "\n")
        stamp.write_text(expected)
    counts = [int(x) for x in (folder / "counts.csv").read_text().split()]
    return Inbox(
        folder,
        inbox,
        folder / ROSTER_NAME,
        [inbox / file_name(u) for u in units],
        units,
        [units[i].code for i in sorted(wrong)],
        sum(counts),
    )


def _one(job: tuple[Path, Unit, int, bool]) -> int:
    """Write one union's filled workbook; return how many initiatives it has."""
    import openpyxl

    folder, unit, seed, wrong = job
    form, settings = _context(folder)
    rng = random.Random(f"{seed}-{unit.code}")
    with tempfile.TemporaryDirectory() as tmp:
        blank = write_template(Path(tmp) / "mau.xlsx", form, settings, unit)
        wb = openpyxl.load_workbook(blank)
    filler = Filler(wb, form, settings, unit, rng)
    filler.fill()
    filler.ensure_rows(min(MAX_INITIATIVES, round(rng.expovariate(1 / MEAN_INITIATIVES))))
    where = unit.name.removeprefix("CĐCS ")
    for index in range(filler.count):
        filler.set_initiative(index, "title", f"{filler.get_initiative(index, 'title')} tại {where}")
    if wrong:
        rng.choice(REJECTING_MISTAKES)(filler, unit, file_name(unit))
    path = folder / "inbox" / file_name(unit)
    wb.save(path)
    made = filler.unit_cell("prepared_on").value
    when = dt.datetime.combine(made, dt.time(rng.randint(7, 16), rng.randint(0, 59))).timestamp()
    os.utime(path, (when, when))
    return filler.count


_CACHE: dict[Path, tuple[Form, Settings]] = {}


def _context(folder: Path) -> tuple[Form, Settings]:
    if folder not in _CACHE:
        _CACHE[folder] = (load_form(), settings_for(folder))
    return _CACHE[folder]


_ROW = re.compile(r'<row r="(\d+)"[^>]*>.*?</row>', re.S)


def large_workbook(source: Path, target: Path, rows: int, form: Form | None = None) -> Path:
    """`source` (a filled template with at least one initiative) with its first initiative repeated
    as `rows` initiatives, each with its own number, title and author; written straight into the
    sheet's XML, as a program exporting a big list would, so that making it takes a second."""
    from xml.sax.saxutils import escape

    from pipeline.template import INITIATIVE_HEADER_ROW

    form = form or load_form()
    first = INITIATIVE_HEADER_ROW + 1
    with zipfile.ZipFile(source) as src:
        part = sheet_parts(src)[form.sheets["initiatives"]]
        xml = src.read(part).decode("utf-8")
        rows_found = list(_ROW.finditer(xml))
        pattern = next(m for m in rows_found if m.group(1) == str(first)).group(0)
        kept = "".join(m.group(0) for m in rows_found if int(m.group(1)) < first)
        # The row as a format string: its number, STT, title and author change from row to row.
        pattern = pattern.replace("{", "{{").replace("}", "}}")
        pattern = re.sub(rf'r="([A-Z]*){first}"', r'r="\g<1>{r}"', pattern)
        pattern = re.sub(r'(<c r="A\{r\}"[^>]*>)<v>[^<]*</v>', r"\1<v>{r_stt}</v>", pattern)
        pattern = re.sub(r'(<c r="B\{r\}"[^>]*><is><t>)[^<]*(</t>)', r"\1{title}\2", pattern)
        pattern = re.sub(r'(<c r="C\{r\}"[^>]*><is><t>)[^<]*(</t>)', r"\1{author}\2", pattern)
        names = [f"{s} {m} {g}" for s in ("Nguyễn", "Trần", "Lê", "Phạm") for m in ("Văn", "Thị") for g in "ABCDEGHK"]
        body = "".join(
            pattern.format(
                r=first + i,
                r_stt=i + 1,
                title=escape(f"Sáng kiến cải tiến số {i + 1}"),
                author=escape(f"{names[i % len(names)]} {i // len(names) + 1}"),
            )
            for i in range(rows)
        )
        start, end = xml.index("<sheetData>") + len("<sheetData>"), xml.index("</sheetData>")
        xml = xml[:start] + kept + body + xml[end:]
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, xml.encode("utf-8") if info.filename == part else src.read(info))
    return target


def officer_env() -> dict[str, str]:
    """The environment of the pipeline's runs: this one, with Python free to keep the compiled
    modules it makes (PYTHONDONTWRITEBYTECODE unset), as on an officer's computer where pip installed
    the program; otherwise every run would compile the program's sources again."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def corrected(source: Path, target: Path) -> Path:
    """A union's file sent again, corrected: `source` with one more news item, saved as `target`,
    arriving now (after every other file)."""
    import openpyxl

    from pipeline.template import UNIT_FIRST_ROW, UNIT_VALUE_COL

    form = load_form()
    wb = openpyxl.load_workbook(source)
    row = UNIT_FIRST_ROW + form.unit.index(form.field("news_items"))
    cell = wb[form.sheets["unit"]].cell(row, UNIT_VALUE_COL + 1)
    cell.value = int(cell.value or 0) + 1
    wb.save(target)
    later = time.time()
    os.utime(target, (later, later))
    return target
