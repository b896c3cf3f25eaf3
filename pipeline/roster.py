"""The roster of affiliated unions (spec §4): an XLSX, XLS, ODS or CSV file -> `Roster`.

Columns are found by their headers (the form's roster fields, with aliases, case and diacritics
ignored), so the district can keep its own column order. Any problem raises `RosterError` with the
file, the row and the column in Vietnamese: without a correct roster nothing can be checked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import RosterError
from pipeline.fallback import read_either
from pipeline.form import Field, Form
from pipeline.sheets import Grid, column_letter, nonblank_rows, read_csv
from pipeline.text import clean_text, fold
from pipeline.values import to_int, to_text

_MIN_HEADERS = 4


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    sector: str
    commune: str
    members: int
    workers: int
    email: str | None = None
    target_phase1: int | None = None
    target_phase2: int | None = None
    active: bool = True


@dataclass(frozen=True)
class Roster:
    source: Path
    units: tuple[Unit, ...]

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)

    @property
    def active(self) -> tuple[Unit, ...]:
        return tuple(u for u in self.units if u.active)

    @functools.cached_property
    def by_code(self) -> Mapping[str, Unit]:
        return {u.code: u for u in self.units}

    def find(self, code: str | None) -> Unit | None:
        if code is None:
            return None
        return self.by_code.get(normalise_code(code))

    @functools.cached_property
    def by_email(self) -> Mapping[str, Unit]:
        """Each address of the roster's e-mail column (several may be given, separated by ";" or
        ","), lower case -> its unit; an address given for two units belongs to neither."""
        seen: dict[str, list[Unit]] = {}
        for unit in self.units:
            for address in re.split(r"[;,\s]+", unit.email or ""):
                if "@" in address:
                    seen.setdefault(address.strip().lower(), []).append(unit)
        return {address: units[0] for address, units in seen.items() if len(units) == 1}

    def sent_by(self, address: str | None) -> Unit | None:
        """The unit whose address `address` is, by the roster's e-mail column."""
        return self.by_email.get(address.strip().lower()) if address else None

    def named_in(self, text: str) -> Unit | None:
        """The one unit whose code is a word of `text` ("Công văn gửi kèm VT012.pdf"), if exactly one."""
        words = {normalise_code(w) for w in fold(text).split()}
        found = [self.by_code[w] for w in words if w in self.by_code]
        return found[0] if len(found) == 1 else None


def normalise_code(code: str) -> str:
    return clean_text(code).upper().replace(" ", "")


def load_roster(path: Path, form: Form) -> Roster:
    if not path.is_file():
        raise RosterError(
            f'Không tìm thấy danh sách CĐCS "{path}". Kiểm tra khóa paths.roster trong tệp cấu '
            "hình hoặc chỉ rõ tệp bằng --roster."
        )
    try:
        grid = read_csv(path) if path.suffix.lower() in (".csv", ".txt") else _first_sheet(path)
    except RosterError:
        raise
    except Exception as exc:
        raise RosterError(f'Không đọc được danh sách CĐCS "{path}": {exc}.') from exc
    return Roster(path, tuple(_units(grid, path, form)))


def _first_sheet(path: Path) -> Grid:
    grids = read_either(path).sheets  # a roster saved by Gnumeric, say, read by the second reader
    for grid in grids.values():
        if any(True for _ in nonblank_rows(grid)):
            return grid
    raise RosterError(f'Danh sách CĐCS "{path}" không có dữ liệu.')


def _units(grid: Grid, path: Path, form: Form) -> Iterator[Unit]:
    header_row, columns = _find_header(grid, path, form)
    seen: dict[str, int] = {}
    for excel_row, row in nonblank_rows(grid[header_row:]):
        excel_row += header_row
        values = {f.role: _cell(row, col, f, path, excel_row, form) for col, f in columns.items()}
        code = normalise_code(values["unit_code"])
        if code in seen:
            raise RosterError(f'Danh sách CĐCS "{path}": mã "{code}" lặp lại ở dòng {seen[code]} và dòng {excel_row}.')
        seen[code] = excel_row
        yield Unit(
            code=code,
            name=values["unit_name"],
            sector=values["sector"],
            commune=values["commune"],
            members=values["members"],
            workers=values["workers"],
            email=values.get("email"),
            target_phase1=values.get("target_phase_1"),
            target_phase2=values.get("target_phase_2"),
            active=values["active"] == form.answer("yes"),
        )


def _find_header(grid: Grid, path: Path, form: Form) -> tuple[int, dict[int, Field]]:
    for excel_row, row in nonblank_rows(grid[:50]):
        columns = {
            col: form.roster_matcher[fold(v)]
            for col, v in enumerate(row)
            if isinstance(v, str) and fold(v) in form.roster_matcher
        }
        if len(columns) >= _MIN_HEADERS:
            missing = [f.label for f in form.roster if f.required and f not in columns.values()]
            if missing:
                raise RosterError(
                    f'Danh sách CĐCS "{path}" thiếu cột: {", ".join(missing)} (dòng tiêu đề {excel_row}).'
                )
            return excel_row, columns
    labels = ", ".join(f.label for f in form.roster if f.required)
    raise RosterError(f'Danh sách CĐCS "{path}" không có dòng tiêu đề với các cột: {labels}.')


def _cell(row: list[Any], col: int, f: Field, path: Path, excel_row: int, form: Form) -> Any:
    raw = row[col] if col < len(row) else None
    where = f'Danh sách CĐCS "{path}", ô {column_letter(col)}{excel_row} ({f.label})'
    parsed = to_int(raw) if f.type == "integer" else to_text(raw)
    if parsed.value is None:
        if parsed.failed:
            raise RosterError(f'{where}: "{raw}" không phải số nguyên.')
        if f.required:
            raise RosterError(f"{where}: ô bắt buộc đang để trống.")
        return None
    if f.type == "list":
        allowed = {fold(v): v for v in form.allowed(f)}
        if fold(parsed.value) not in allowed:
            raise RosterError(f'{where}: "{parsed.value}" không thuộc danh sách: {"; ".join(form.allowed(f))}.')
        return allowed[fold(parsed.value)]
    return parsed.value
