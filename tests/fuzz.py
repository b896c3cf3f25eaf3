"""Fuzzing the reader: byte flips and zip-member mutations of real filled templates, a given number
of them or for a bounded time, through the guard, the isolated readers and validation
(`pipeline.check`). The same seed and number give the same files on any machine.

    python -m tests.fuzz --seconds 120 [--seed 1] [--keep fuzz-out]
    python -m tests.fuzz --files 960 [--seed 1]
    python -m tests.fuzz --mail --files 240 [--seed 1]

With `--mail` it mutates saved messages instead: real messages (`tests/mailmaker.compose`) carrying
real filled workbooks, with bytes flipped in their headers, boundaries broken, parts repeated, or
cut short; each is read by `open_messages` (`read_letter`) and then checked (`pipeline.check`).

Every mutated file must come back with exactly one result (a message: its reason, or a result for
each of its attachments). What counts as a failure, and is kept (with the file, to reproduce it)
under `--keep`:

* **crash**: an exception out of the pipeline, or an exception of the project's own code inside a
  reader process (a result "lỗi nội bộ ..." naming any exception but a reader's PanicException), or
  a message whose reason is an internal error of the mail reader;
* **hang**: a file that ran out of its time (`READER_TIMEOUT`);
* **lost**: a file without a result (a message without a file and without a reason in Vietnamese).

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
from pipeline.results import FileResult, Status
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

    form, settings, roster = _period()
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
                _judge(report, name, by_name.get(name), name, keep)
            shutil.rmtree(folder)
    report.seconds = round(time.monotonic() - started, 1)
    return report


# --- mail --------------------------------------------------------------------------------------------

_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?', re.IGNORECASE)
_MESSAGE_ID = re.compile(rb"Message-ID: <[^>\r\n]*>")
_VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE)


def _boundaries(data: bytes) -> list[bytes]:
    return list(dict.fromkeys(m.group(1) for m in _BOUNDARY.finditer(data)))


def _delimiters(data: bytes, boundary: bytes) -> list[re.Match[bytes]]:
    """The lines of `boundary` in `data`: each part's opening line, and the closing one."""
    return list(re.finditer(rb"(?m)^--" + re.escape(boundary) + rb"(--)?\r?\n", data))


def _mail_headers(rng: random.Random, data: bytes) -> bytes:
    """Bytes flipped in one block of headers: the message's own, or a part's."""
    blocks = [(0, data.find(b"\r\n\r\n"))]
    for boundary in _boundaries(data):
        for line in _delimiters(data, boundary):
            blocks.append((line.end(), data.find(b"\r\n\r\n", line.end())))
    start, end = rng.choice([(a, b) for a, b in blocks if b > a] or [(0, len(data))])
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
    return bytes(out)


def _mail_boundary(rng: random.Random, data: bytes) -> bytes:
    """A boundary broken: one of its lines dropped or made the closing one, the declaration changed
    so that no line matches it, or no boundary declared at all."""
    found = _boundaries(data)
    if not found:
        return _flip_bytes(rng, data)
    boundary = rng.choice(found)
    lines = _delimiters(data, boundary)
    what = rng.randrange(4)
    if what < 2 and lines:
        line = rng.choice(lines)
        closing = b"--" + boundary + b"--\r\n" if what == 1 else b""
        return data[: line.start()] + closing + data[line.end() :]
    if what == 2:
        changed = bytearray(boundary)
        changed[rng.randrange(len(changed))] ^= 1 << rng.randrange(7)
        return data.replace(boundary, bytes(changed), 1)  # the declaration comes first
    return re.sub(rb';\s*boundary="?' + re.escape(boundary) + rb'"?', b"", data, count=1)


def _mail_duplicate(rng: random.Random, data: bytes) -> bytes:
    """A part repeated: once, a few times, or past the bound of attachments."""
    found = [b for b in _boundaries(data) if len(_delimiters(data, b)) >= 2]
    if not found:
        return _splice(rng, data)
    lines = _delimiters(data, rng.choice(found))
    i = rng.randrange(len(lines) - 1)
    start, end = lines[i].start(), lines[i + 1].start()
    times = rng.choice([1, 2, rng.randint(3, 60)])
    return data[:end] + data[start:end] * times + data[end:]


def _mail_truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def mutate_mail(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One mutation of a saved message's bytes, and its name."""
    what = rng.random()
    if what < 0.3:
        return "headers", _mail_headers(rng, data)
    if what < 0.55:
        return "boundary", _mail_boundary(rng, data)
    if what < 0.7:
        return "duplicate", _mail_duplicate(rng, data)
    if what < 0.85:
        return "truncate", _mail_truncate(rng, data)
    return "flip", _flip_bytes(rng, data) if rng.random() < 0.5 else _splice(rng, data)


def mail_seeds(folder: Path, form: Form, settings: Settings, roster: Roster) -> list[bytes]:
    """Real messages to mutate: each of a few unions sends its filled workbook with a cover letter,
    its name written in each of the forms mail programs use; and one of them is forwarded."""
    from tests.mailmaker import NAME_FORMS, compose

    out = []
    for unit, book, name_form in zip(roster.units[:3], seeds(folder, form, settings, roster), NAME_FORMS, strict=True):
        attachments = [(f"Báo cáo sáng kiến {unit.code}.xlsx", book), ("Công văn.pdf", b"%PDF-1.4 cover letter")]
        sender = unit.email or "cdcs@example.vn"
        out.append(_steady(compose(sender, "Báo cáo sáng kiến", attachments, name_form=name_form), len(out)))
    out.append(_steady(compose("van.thu@example.vn", "Fwd: Báo cáo sáng kiến", forwarded=out[0]), len(out)))
    return out


def _steady(data: bytes, n: int) -> bytes:
    """A composed message with the same bytes on any machine, on any day: its boundaries and
    Message-IDs (drawn at random by the library) and its Dates (in the machine's time zone)
    replaced by fixed ones."""
    for i, boundary in enumerate(_boundaries(data)):
        data = data.replace(boundary, b"=_seed-%d-part-%d_=" % (n, i))
    for i, mid in enumerate(dict.fromkeys(_MESSAGE_ID.findall(data))):
        data = data.replace(mid, b"Message-ID: <seed-%d-%d@example.vn>" % (n, i))
    return re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: Thu, 02 Jun 2022 09:00:00 +0700", data)


def fuzz_mail(
    seconds: float | None = None, seed: int = 1, keep: Path | None = None, files: int | None = None
) -> Report:
    """Like `fuzz`, with mutated saved messages: each through `open_messages` (which must give it a
    reason or its attachments, never raise) and `pipeline.check` (a result for each attachment)."""
    if seconds is None and files is None:
        raise ValueError("fuzz_mail: give seconds, files or both")
    from pipeline import Period, check
    from pipeline.intake import fingerprint
    from pipeline.mail.inbox import open_messages

    form, settings, roster = _period()
    rng = random.Random(seed)
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-mail-") as tmp:
        work = Path(tmp)
        originals = mail_seeds(work, form, settings, roster)
        batch_no = 0
        while (files is None or report.files < files) and (seconds is None or time.monotonic() - started < seconds):
            batch_no += 1
            folder = work / f"batch-{batch_no}"
            folder.mkdir()
            made: list[Path] = []
            for i in range(BATCH):
                # Its own Message-ID: the same one twice is one message, whose copies give nothing.
                fresh = f"Message-ID: <fuzz-{batch_no}-{i}@example.vn>".encode()
                how, data = mutate_mail(rng, _MESSAGE_ID.sub(fresh, rng.choice(originals), count=1))
                path = folder / f"{batch_no:04d}-{i:02d}-{how}.eml"
                path.write_bytes(data)
                made.append(path)
            report.files += len(made)
            try:
                received = open_messages([fingerprint(p, str(p)) for p in made], folder / "archive")
                result = check(Period(settings, form, roster), made)
            except Exception as exc:  # the pipeline itself fell over: keep the whole batch
                report.failures.append(("crash", f"batch {batch_no}: {type(exc).__name__}: {exc}"))
                _keep(keep, [str(p) for p in made], f"batch-{batch_no}")
                continue
            by_name = {r.name: r for r in result.files}
            by_message = {r.name: r for r in received}
            for path in made:
                message = by_message.get(str(path))
                if message is None:
                    report.failures.append(("lost", path.name))
                    _keep(keep, [str(path)], "lost")
                elif message.problem is not None:
                    report.outcomes[f"thư: {_gist(message.problem)}"] += 1
                    if "lỗi nội bộ" in message.problem or not _VIETNAMESE.search(message.problem):
                        report.failures.append(("crash", f"{path.name}: {message.problem}"))
                        _keep(keep, [str(path)], "crash")
                elif not message.submissions and message.duplicate_of is None:
                    report.failures.append(("lost", f"{path.name}: no file and no reason"))
                    _keep(keep, [str(path)], "lost")
                for sub in message.submissions if message is not None else ():
                    _judge(report, sub.name, by_name.get(sub.name), str(path), keep)
            shutil.rmtree(folder)
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _gist(problem: str) -> str:
    """A message's reason without its particulars (sizes, names): an outcome to count."""
    return re.split(r"[(:\"]", problem.removeprefix("không đọc được thư: "), maxsplit=1)[0].strip()


def _period() -> tuple[Form, Settings, Roster]:
    """The form, the project's settings (with the fuzz's time limit per file) and the demo roster."""
    form = load_form()
    settings = load_settings(Path(__file__).resolve().parent.parent / "pipeline.toml")
    processing = dataclasses.replace(settings.processing, timeout_s=FILE_TIMEOUT_S)
    settings = dataclasses.replace(settings, processing=processing)
    return form, settings, load_roster(demo_roster_path(), form)


def _judge(report: Report, name: str, got: FileResult | None, source: str, keep: Path | None) -> None:
    """One file's result against the invariants; `source` is the file to keep when it fails (the
    file itself, or the message that carried it)."""
    if got is None:
        report.failures.append(("lost", name))
        _keep(keep, [source], "lost")
        return
    codes = [f.code for f in got.findings if f.location.row is None and f.location.cell is None]
    report.outcomes[codes[0].value if codes else got.status.value] += 1
    for f in got.findings:
        reason = str(dict(f.params).get("reason", ""))
        if f.code is Code.READER_TIMEOUT:
            report.failures.append(("hang", f"{Path(name).name}: {reason}"))
            _keep(keep, [source], "hang")
        elif f.code is Code.READER_CRASH:
            if any(word in reason for word in _CONTAINED):
                report.contained += 1
            else:
                report.failures.append(("crash", f"{Path(name).name}: {reason}"))
                _keep(keep, [source], "crash")
    if got.status is Status.IGNORED:
        report.failures.append(("lost", f"{Path(name).name}: ignored ({got.reason})"))


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
    parser.add_argument(
        "--files", type=int, default=None, help="how many mutated files (or messages), in batches of 24"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="where to keep the files that failed")
    parser.add_argument("--mail", action="store_true", help="mutate saved messages instead of workbooks")
    args = parser.parse_args(argv)
    seconds = 120.0 if args.seconds is None and args.files is None else args.seconds
    report = (fuzz_mail if args.mail else fuzz)(seconds, args.seed, args.keep, files=args.files)
    print(f"{report.files} mutated {'messages' if args.mail else 'files'} in {report.seconds} s (seed {args.seed})")
    print(f"crashes {report.crashes}, hangs {report.hangs}, lost {report.lost}", end="; ")
    print(f"reader crashes contained {report.contained}")
    for outcome, count in report.outcomes.most_common():
        print(f"  {count:6d}  {outcome}")
    for kind, what in report.failures:
        print(f"FAILURE {kind}: {what}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
