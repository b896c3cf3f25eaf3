"""Fuzzing the reader: byte flips and zip-member mutations of real filled templates, a given number
of them or for a bounded time, through the guard, the isolated readers and validation
(`pipeline.check`). The same seed and number give the same files on any machine.

    python -m tests.fuzz --seconds 120 [--seed 1] [--keep fuzz-out]
    python -m tests.fuzz --files 960 [--seed 1]

Every mutated file must come back with exactly one result. What counts as a failure, and is kept
(with the file, to reproduce it) under `--keep`:

* **crash**: an exception out of the pipeline, or an exception of the project's own code inside a
  reader process (a result "lỗi nội bộ ..." naming any exception but a reader's PanicException);
* **hang**: a file that ran out of its time (`READER_TIMEOUT`);
* **lost**: a file without a result.

A reader that panics, aborts or runs out of memory on a mutated file is what the isolation is for:
those are counted as contained, not as failures. `tests/test_fuzz.py` runs this in CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import random
import re
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Settings, load_settings
from pipeline.demo import demo_roster_path
from pipeline.findings import Code
from pipeline.form import Form, load_form
from pipeline.roster import Roster, load_roster

BATCH = 24
FILE_TIMEOUT_S = 20.0  # far above what any mutated template needs: only a hang reaches it
_CONTAINED = ("PanicException", "hết bộ nhớ", "bị dừng đột ngột", "kết thúc bất thường")


@dataclass
class Report:
    files: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)  # finding code (or status) -> files
    contained: int = 0  # reader crashes that cost their file only
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, what), file kept

    @property
    def crashes(self) -> int:
        return sum(1 for kind, _ in self.failures if kind == "crash")

    @property
    def hangs(self) -> int:
        return sum(1 for kind, _ in self.failures if kind == "hang")

    @property
    def lost(self) -> int:
        return sum(1 for kind, _ in self.failures if kind == "lost")


# --- mutations --------------------------------------------------------------------------------------


def _flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _splice(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    if rng.random() < 0.5:
        return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]
    return data[:at] + data[at + rng.randint(1, 256) :]


_NUMBER = re.compile(rb"\d+")
_TAG = re.compile(rb"<[^<>]{1,200}>")
_ODD = [b"0", b"-1", b"1048577", b"16385", b"99999999999999999999", b"1e308", b"NaN", b"", b"A1", b"XFD1048576"]


def _member_numbers(rng: random.Random, text: bytes) -> bytes:
    """Numbers (row and cell references, sizes, indexes, style ids) replaced by odd ones."""
    spots = list(_NUMBER.finditer(text))
    out = bytearray(text)
    for m in sorted(rng.sample(spots, min(len(spots), rng.randint(1, 8))), key=lambda m: -m.start()):
        out[m.start() : m.end()] = rng.choice(_ODD)
    return bytes(out)


def _member_tags(rng: random.Random, text: bytes) -> bytes:
    """A tag dropped, doubled or moved."""
    tags = list(_TAG.finditer(text))
    if not tags:
        return text
    m = rng.choice(tags)
    what = rng.randrange(3)
    if what == 0:
        return text[: m.start()] + text[m.end() :]
    if what == 1:
        return text[: m.end()] + m.group() * rng.randint(1, 50) + text[m.end() :]
    other = rng.choice(tags)
    return text[: other.start()] + m.group() + text[other.start() :]


def _member_truncate(rng: random.Random, text: bytes) -> bytes:
    return text[: rng.randrange(max(1, len(text)))]


_MEMBER_MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _flip_bytes,
    _member_numbers,
    _member_tags,
    _member_truncate,
    lambda rng, text: text.replace(b'encoding="UTF-8"', rng.choice([b'encoding="UTF-16"', b'encoding="latin1"'])),
]


def _mutate_members(rng: random.Random, data: bytes) -> bytes:
    """The package rebuilt with one member mutated, dropped, doubled or swapped with another."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    i = rng.randrange(len(members))
    name, body = members[i]
    what = rng.random()
    if what < 0.7:
        members[i] = (name, rng.choice(_MEMBER_MUTATIONS)(rng, body) if body else body)
    elif what < 0.8:
        del members[i]
    elif what < 0.9:
        j = rng.randrange(len(members))
        members[i], members[j] = (name, members[j][1]), (members[j][0], body)
    else:
        members.append((name, body))  # the same name twice
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, body in members:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # duplicate names are the point
                zf.writestr(member, body)
    return out.getvalue()


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One mutation of a workbook's bytes, and its name."""
    what = rng.random()
    if what < 0.55:
        return "member", _mutate_members(rng, data)
    if what < 0.85:
        return "flip", _flip_bytes(rng, data)
    return "splice", _splice(rng, data)


# --- running ----------------------------------------------------------------------------------------


def seeds(folder: Path, form: Form, settings: Settings, roster: Roster) -> list[bytes]:
    """Real filled templates to mutate: the demo's own workbooks, a few unions of the roster."""
    from tests.conftest import fill_template

    rows = [{}, {"ten_sang_kien": "Cải tiến quy trình tiếp nhận hồ sơ"}, {"gia_tri_lam_loi": "1.500.000 đ"}]
    out = []
    for unit in roster.units[:3]:
        path = fill_template(folder, form, settings, roster, rows=rows, name=f"{unit.code}.xlsx", code=unit.code)
        out.append(path.read_bytes())
    return out


def fuzz(seconds: float | None = None, seed: int = 1, keep: Path | None = None, files: int | None = None) -> Report:
    """Mutated files in batches of `BATCH` until `files` have been tried (rounded up to a whole
    batch) or `seconds` have passed, whichever comes first; at least one of them must be given."""
    if seconds is None and files is None:
        raise ValueError("fuzz: give seconds, files or both")
    from pipeline import Period, check
    from pipeline.results import Status

    form = load_form()
    settings = load_settings(Path(__file__).resolve().parent.parent / "pipeline.toml")
    processing = dataclasses.replace(settings.processing, timeout_s=FILE_TIMEOUT_S)
    settings = dataclasses.replace(settings, processing=processing)
    roster = load_roster(demo_roster_path(), form)
    rng = random.Random(seed)
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        originals = seeds(work, form, settings, roster)
        batch_no = 0
        while (files is None or report.files < files) and (seconds is None or time.monotonic() - started < seconds):
            batch_no += 1
            folder = work / f"batch-{batch_no}"
            folder.mkdir()
            made: dict[str, str] = {}
            for i in range(BATCH):
                how, data = mutate(rng, rng.choice(originals))
                path = folder / f"{batch_no:04d}-{i:02d}-{how}.xlsx"
                path.write_bytes(data)
                made[str(path)] = how
            try:
                result = check(Period(settings, form, roster), [Path(p) for p in made])
            except Exception as exc:  # the pipeline itself fell over: keep the whole batch
                report.failures.append(("crash", f"batch {batch_no}: {type(exc).__name__}: {exc}"))
                _keep(keep, list(made), f"batch-{batch_no}")
                report.files += len(made)
                continue
            by_name = {r.name: r for r in result.files}
            for name in made:
                report.files += 1
                got = by_name.get(name)
                if got is None:
                    report.failures.append(("lost", name))
                    _keep(keep, [name], "lost")
                    continue
                codes = [f.code for f in got.findings if f.location.row is None and f.location.cell is None]
                report.outcomes[codes[0].value if codes else got.status.value] += 1
                for f in got.findings:
                    reason = str(dict(f.params).get("reason", ""))
                    if f.code is Code.READER_TIMEOUT:
                        report.failures.append(("hang", f"{Path(name).name}: {reason}"))
                        _keep(keep, [name], "hang")
                    elif f.code is Code.READER_CRASH:
                        if any(word in reason for word in _CONTAINED):
                            report.contained += 1
                        else:
                            report.failures.append(("crash", f"{Path(name).name}: {reason}"))
                            _keep(keep, [name], "crash")
                if got.status is Status.IGNORED:
                    report.failures.append(("lost", f"{Path(name).name}: ignored ({got.reason})"))
            shutil.rmtree(folder)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _keep(keep: Path | None, paths: list[str], kind: str) -> None:
    if keep is None:
        return
    target = keep / kind
    target.mkdir(parents=True, exist_ok=True)
    for p in paths:
        if Path(p).exists():
            shutil.copy2(p, target / Path(p).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=None, help="how long (default 120 s without --files)")
    parser.add_argument("--files", type=int, default=None, help="how many mutated files, in batches of 24")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="where to keep the files that failed")
    args = parser.parse_args(argv)
    seconds = 120.0 if args.seconds is None and args.files is None else args.seconds
    report = fuzz(seconds, args.seed, args.keep, files=args.files)
    print(f"{report.files} mutated files in {report.seconds} s (seed {args.seed})")
    print(f"crashes {report.crashes}, hangs {report.hangs}, lost {report.lost}", end="; ")
    print(f"reader crashes contained {report.contained}")
    for outcome, count in report.outcomes.most_common():
        print(f"  {count:6d}  {outcome}")
    for kind, what in report.failures:
        print(f"FAILURE {kind}: {what}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
