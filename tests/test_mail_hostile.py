"""Bad mail is bad input: broken, huge, nested, misnamed, mis-encoded and bomb-carrying messages.

Each is refused or read with its reason, like a hostile workbook (`tests/test_hostile.py`): the
message file is archived, the run finishes, every other file and message is read, and the message's
result says why, in Vietnamese. Names from a message never leave the archive or reach a header.

The fast tests read messages with `read_letter` and `open_messages`; the runs are marked slow.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import hashlib
import json
import re
import unicodedata
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

import pipeline.mail.inbox
import pipeline.mail.message
from pipeline import Period, check, draft_replies, run
from pipeline.config import Mail, Settings
from pipeline.findings import Code
from pipeline.form import Form
from pipeline.intake import archived_path, fingerprint
from pipeline.mail.inbox import NO_ATTACHMENT, open_messages
from pipeline.mail.message import MAX_ATTACHMENTS, MAX_DEPTH, MAX_PARTS, MailReadError, read_letter
from pipeline.results import RunResult, Status
from pipeline.roster import Roster
from pipeline.stages import ARCHIVE_DIR
from tests.conftest import fill_template
from tests.hostile import _deflate_bomb
from tests.mailmaker import compose

NAME = "Báo cáo sáng kiến.xlsx"
PK = b"PK\x03\x04 a workbook's first bytes"
HEAD = (
    b"From: Truong THCS <vt021@example.vn>\r\nTo: ldld@example.vn\r\nSubject: =?utf-8?q?B=C3=A1o_c=C3=A1o?=\r\n"
    b"Date: Thu, 02 Jun 2022 09:00:00 +0700\r\nMessage-ID: <hostile@example.vn>\r\nMIME-Version: 1.0\r\n"
)
# Windows takes a name for a device when its part before the first dot, without trailing spaces, is one.
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9]) *(\..*)?$", re.IGNORECASE)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff<>:\"/\\|?*]")
_VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.I)


def raw(content_type: bytes, body: bytes, head: bytes = HEAD) -> bytes:
    """A message of `head`, the Content-Type given and `body`, byte for byte as written."""
    return head + b"Content-Type: " + content_type + b"\r\n\r\n" + body


def part(data: bytes = PK, name: str = "a.xlsx", encoding: bytes = b"base64", body: bytes | None = None) -> bytes:
    """An attachment part (without its boundary line)."""
    payload = body if body is not None else base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"Content-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="' + name.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + payload
    )


def mixed(*parts: bytes, close: bool = True, head: bytes = HEAD) -> bytes:
    body = b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts) + (b"--b1--\r\n" if close else b"")
    return raw(b'multipart/mixed; boundary="b1"', body, head)


def is_safe(name: str) -> bool:
    """A file name that is one name, shown as it is stored, and that Windows and Linux both accept."""
    return (
        bool(name)
        and not _UNSAFE.search(name)
        and unicodedata.is_normalized("NFC", name)
        and not name.endswith((".", " "))
        and not _RESERVED.match(name)
        and len(name.encode("utf-8")) <= 255
    )


# --- 1. malformed structures --------------------------------------------------------------------------

SEPARATE = "không tách được tệp nào"
MALFORMED = {
    "multipart-without-boundary": (raw(b"multipart/mixed", b"--b1\r\n" + part() + b"\r\n--b1--\r\n"), [], SEPARATE),
    "boundary-never-appears": (
        raw(b'multipart/mixed; boundary="b1"', b"--b2\r\n" + part() + b"\r\n--b2--\r\n"),
        [],
        SEPARATE,
    ),
    "multipart-headers-without-body": (raw(b'multipart/mixed; boundary="b1"', b""), [], SEPARATE),
    "headers-without-body-or-blank-line": (HEAD.rstrip(b"\r\n"), [], None),
    "binary-garbage-after-headers": (HEAD + b"\r\n" + bytes(range(256)) * 64, [], None),
    "multipart-then-binary-garbage": (raw(b'multipart/mixed; boundary="b1"', bytes(range(256)) * 64), [], SEPARATE),
    # A line that is no header among the headers: the rest, Content-Type included, is read as text.
    "broken-header-line": (
        raw(b'multipart/mixed; boundary="b1"', b"--b1\r\n" + part() + b"\r\n--b1--\r\n", HEAD + b"Mes\x8bage x\r\n"),
        [],
        "tiêu đề thư bị hỏng",
    ),
    # Cut before its closing boundary: what arrived is taken, and the message says it was cut.
    "unterminated-multipart": (mixed(part(), close=False), [("a.xlsx", PK)], "thư bị cắt cụt"),
    # An encoding no program knows: the part is kept as it came; the guard judges its bytes.
    "invalid-transfer-encoding": (
        mixed(part(encoding=b"x-bogus-9")),
        [("a.xlsx", base64.encodebytes(PK).replace(b"\n", b"\r\n"))],
        None,
    ),
    # Characters outside base64 are skipped, as every mail program does: the bytes are intact.
    "base64-with-garbage": (
        mixed(part(body=b"!!" + base64.b64encode(PK[:9]) + b"\x00@@\r\n#" + base64.b64encode(PK[9:]) + b"\r\n")),
        [("a.xlsx", PK)],
        None,
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_message_is_read_as_far_as_it_goes_with_a_reason(case, tmp_path):
    data, attachments, note = MALFORMED[case]
    letter = read_letter(data, f"{case}.eml")
    assert [(a.name, a.data) for a in letter.attachments] == attachments
    assert any(note in n for n in letter.notes) if note else letter.notes == ()
    [received] = open_messages([_saved(tmp_path, f"{case}.eml", data)], tmp_path / "archive")
    if attachments:
        assert received.problem is None and len(received.submissions) == len(attachments)
    else:  # the reason the union is given: no file, and why when the message was broken
        assert received.problem is not None and received.problem.startswith(NO_ATTACHMENT)
        assert (note in received.problem) if note else received.problem == NO_ATTACHMENT


def test_base64_that_does_not_decode_in_a_forwarded_message_sets_it_aside():
    body = (
        b"--b1\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"RnJvbTogYUBi\r\nA\r\n--b1--\r\n"  # 13 characters of base64: one too many
    )
    letter = read_letter(raw(b'multipart/mixed; boundary="b1"', body))
    assert letter.attachments == () and letter.notes == (
        "thư chuyển tiếp bên trong trống hoặc không giải mã được; đã bỏ qua",
    )


def test_a_header_with_comments_nested_thousands_deep_is_a_reason_not_a_recursion_error():
    in_part = part().replace(b'filename="a.xlsx"', b'filename="a.xlsx"' + b"(" * 5000)
    letter = read_letter(mixed(part(name="b.xlsx"), in_part))
    assert [a.name for a in letter.attachments] == ["b.xlsx"]
    assert letter.notes == ("một phần của thư có tiêu đề không đọc được (RecursionError); đã bỏ qua",)
    with pytest.raises(MailReadError, match="chú thích lồng nhau quá sâu"):
        read_letter(raw(b'multipart/mixed; boundary="b1"' + b"(" * 5000, b"--b1\r\n" + part() + b"\r\n--b1--\r\n"))


def _parts_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the parts the parser makes: how far it went before refusing."""
    made: list[int] = []
    make = pipeline.mail.message._Parts.make

    def counted(self, *args, **kwargs):
        made.append(1)
        return make(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.mail.message._Parts, "make", counted)
    return made


def nested_multiparts(levels: int, lines: int = 0) -> bytes:
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i) for i in range(1, levels)
    )
    inner = b"--b%d\r\n" % (levels - 1) + part() + b"\r\n" + b"a\r\n" * lines + b"--b%d--\r\n" % (levels - 1)
    closing = b"".join(b"--b%d--\r\n" % i for i in range(levels - 2, -1, -1))
    return raw(b'multipart/mixed; boundary="b0"', opening + inner + closing)


def forwarded_inside_each_other(levels: int, encoded: bool = False) -> bytes:
    message = mixed(part())
    for i in range(levels):
        head = HEAD.replace(b"<hostile@", b"<fwd-%d@" % i)
        if encoded:  # base64, as a few programs do against RFC 2046: read by decoding and parsing again
            message = raw(b"message/rfc822", base64.encodebytes(message), head)
            message = message.replace(b"\r\n\r\n", b"\r\nContent-Transfer-Encoding: base64\r\n\r\n", 1)
        else:
            message = raw(b"message/rfc822", message, head)
    return message


TOO_DEEP = f"cấu trúc thư lồng nhau quá sâu (hơn {MAX_DEPTH} lớp)"


@pytest.mark.parametrize("build", [nested_multiparts, forwarded_inside_each_other], ids=["multipart", "forwarded"])
def test_nesting_up_to_the_bound_is_read(build):
    levels = MAX_DEPTH if build is nested_multiparts else MAX_DEPTH - 1  # the attachment at depth MAX_DEPTH
    assert [a.data for a in read_letter(build(levels)).attachments] == [PK]
    with pytest.raises(MailReadError, match=re.escape(TOO_DEEP)):
        read_letter(build(levels + 1))


@pytest.mark.parametrize(
    ("build", "reason", "bound"),
    [
        pytest.param(lambda: nested_multiparts(5000, lines=20000), TOO_DEEP, MAX_DEPTH + 1, id="multipart-5000-deep"),
        pytest.param(lambda: forwarded_inside_each_other(3000), TOO_DEEP, MAX_DEPTH + 1, id="forwarded-3000-deep"),
        pytest.param(
            lambda: mixed(*[b"\r\nx"] * 100_000),
            f"thư có quá nhiều phần (hơn {MAX_PARTS})",
            MAX_PARTS,
            id="100000-parts",
        ),
    ],
)
def test_nesting_and_parts_are_refused_while_parsing(monkeypatch, build, reason, bound):
    data = build()
    made = _parts_made(monkeypatch)
    with pytest.raises(MailReadError, match=f"^{re.escape(reason)}$"):
        read_letter(data)
    # Refused where the bound was crossed, before parsing what follows (no RecursionError, no hang).
    assert len(made) <= bound + 2, len(made)  # (with the part the parser makes to try the factory, and the refused)


def test_forwarded_messages_in_base64_are_bounded_too():
    with pytest.raises(MailReadError, match=f"^{re.escape(TOO_DEEP)}$"):
        read_letter(forwarded_inside_each_other(MAX_DEPTH + 4, encoded=True))


# --- 1b. a huge message -------------------------------------------------------------------------------


def test_a_message_over_the_bound_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(pipeline.mail.message, "MAX_MESSAGE_MB", 1)
    monkeypatch.setattr(pipeline.mail.message, "_parse", _never)
    data = mixed(part(b"\0" * (3 << 19)))  # 1.5 MB of workbook, 2 MB in base64
    with pytest.raises(MailReadError, match=r"^thư quá lớn \(3 MB, tối đa 1 MB\)$"):
        read_letter(data)


def test_a_60_mb_message_in_the_inbox_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "lớn.eml"
    with path.open("wb") as fh:  # sparse: nothing but its size is written
        fh.write(HEAD)
        fh.truncate((pipeline.mail.message.MAX_MESSAGE_MB << 20) + 1)
    monkeypatch.setattr(pipeline.mail.inbox, "read_letter", _never)
    [received] = open_messages([fingerprint(path, path.name)], tmp_path / "archive")
    assert received.problem == "thư quá lớn (61 MB, tối đa 60 MB)" and received.submissions == []
    assert not (tmp_path / "archive").exists()


def _never(*args, **kwargs):
    raise AssertionError("a message over the bound was read")


# --- 2. attachment names ------------------------------------------------------------------------------

HOSTILE_NAMES = {
    "../../etc/passwd.xlsx": "passwd.xlsx",
    "C:\\x\\y.xlsx": "y.xlsx",
    "\\\\server\\share\\z.xlsx": "z.xlsx",
    "CON.xlsx": "_CON.xlsx",
    "nul .tar.xlsx": "_nul .tar.xlsx",
    "a\x00b.xlsx": "ab.xlsx",
    "báo cáo\r\nBcc: evil@example.com.xlsx": "báo cáoBcc- evil@example.com.xlsx",
    "\u202egpj.xlsx": "gpj.xlsx",
    "tệp\u2066\u202e.xlsx": "tệp.xlsx",
    "báo cáo.xlsx. . ": "báo cáo.xlsx",
    "báo%20cáo.xlsx": "báo%20cáo.xlsx",
    "báo cáo #1.xlsx": "báo cáo #1.xlsx",
    "a.xlsx\x00.exe": "a.xlsx.exe",
    "..": "tệp đính kèm 1",
}
LONG_NFD = unicodedata.normalize("NFD", "Báo cáo sáng kiến của Trường Tiểu học Vĩnh Thuận " * 6)[:250] + ".xlsx"
FORMS = ("rfc2231", "rfc2047", "utf8")


def named(name: str, form: str, data: bytes = PK, message_id: str = "hostile") -> bytes:
    """A message with one attachment named `name`, written as RFC 2231, RFC 2047 or raw UTF-8 (a
    raw name cannot hold a line break, so the two encoded forms carry those)."""
    if form == "rfc2231":
        value = b"filename*=utf-8''" + urllib.parse.quote(name, safe="").encode()
    elif form == "rfc2047":
        value = b'filename="=?utf-8?b?' + base64.b64encode(name.encode()) + b'?="'
    else:
        value = b'filename="' + name.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'
    head = HEAD.replace(b"<hostile@", f"<{message_id}@".encode())
    return mixed(part(data).replace(b'filename="a.xlsx"', value), head=head)


@pytest.mark.parametrize(
    ("sent_as", "form"),
    [
        pytest.param(n, form, id=f"{ascii(n) if n != LONG_NFD else '250-nfd'}-{form}")
        for n in [*HOSTILE_NAMES, LONG_NFD]
        for form in FORMS
        # A raw name in a header cannot hold a line break; a backslash there escapes the next character.
        if form != "utf8" or not re.search(r"[\r\n\\]", n)
    ],
)
def test_an_attachment_name_becomes_one_safe_name(sent_as, form):
    [attachment] = read_letter(named(sent_as, form)).attachments
    assert is_safe(attachment.name), ascii(attachment.name)
    if sent_as == LONG_NFD:
        assert attachment.name.endswith(".xlsx") and attachment.name.startswith("Báo cáo sáng kiến của Trường")
    else:
        assert attachment.name == HOSTILE_NAMES[sent_as]
    assert "\r" not in attachment.sent_as and "\n" not in attachment.sent_as and "\0" not in attachment.sent_as


def test_hostile_names_are_archived_under_their_hash_and_nothing_else_is_written(tmp_path):
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    inbox.mkdir()
    saved, sent = [], {}
    for i, sent_as in enumerate([*HOSTILE_NAMES, LONG_NFD]):
        sent[f"{i:02d}.eml"] = PK + b"%d" % i  # each its own bytes, so that each is archived
        saved.append(_saved(inbox, f"{i:02d}.eml", named(sent_as, "rfc2047", sent[f"{i:02d}.eml"], f"name-{i}")))
    before = {p for p in tmp_path.rglob("*")}
    received = open_messages(saved, archive)
    made = {p for p in tmp_path.rglob("*")} - before
    subs = [s for r in received for s in r.submissions]
    assert len(subs) == len(saved) and all(r.problem is None for r in received)
    assert made == {archive, *(s.path for s in subs)}, "only the archive and its files"
    for sub in subs:
        assert sub.path.parent == archive and re.fullmatch(r"[0-9a-f]{64}(\.[a-z0-9]{1,7})?", sub.path.name), (
            sub.path.name
        )
        message, attachment = sub.name.split("/", 1)
        assert sub.path.read_bytes() == sent[message]
        assert message.endswith(".eml") and is_safe(attachment), ascii(sub.name)


# --- 4. charsets that do not exist --------------------------------------------------------------------

UNKNOWN_CHARSET = {
    "subject-rfc2047": (HEAD.replace(b"=?utf-8?q?", b"=?x-khong-co-9?q?"), part(), "Báo cáo", "a.xlsx"),
    "body-part-only": (HEAD, part(), "Báo cáo", "a.xlsx"),  # every case has the body part of BODY
    "filename-rfc2231": (
        HEAD,
        part().replace(b'filename="a.xlsx"', b"filename*=x-khong-co-9''B%C3%A1o%20c%C3%A1o.xlsx"),
        "Báo cáo",
        "Báo cáo.xlsx",
    ),
    "filename-rfc2231-continued": (
        HEAD,
        part().replace(b'filename="a.xlsx"', b"filename*0*=utf-99''B%C3%A1o%20; filename*1*=c%C3%A1o.xlsx"),
        "Báo cáo",
        "Báo cáo.xlsx",
    ),
    "filename-rfc2047": (
        HEAD,
        part().replace(b'filename="a.xlsx"', b'filename="=?x-khong-co-9?B?QsOhbyBjw6Fv?=.xlsx"'),
        "Báo cáo",
        "Báo cáo.xlsx",
    ),
}
BODY = (
    b'Content-Type: text/plain; charset="x-khong-co-9"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    b"K\xc3\xadnh g\xe1\xbb\xadi\r\n"
)


@pytest.mark.parametrize("case", UNKNOWN_CHARSET, ids=list(UNKNOWN_CHARSET))
def test_a_charset_that_does_not_exist_still_gives_the_message_and_its_attachment(case):
    head, attachment, subject, name = UNKNOWN_CHARSET[case]
    body = b"--b1\r\n" + BODY + b"--b1\r\n" + attachment + b"\r\n--b1--\r\n"
    letter = read_letter(raw(b'multipart/mixed; boundary="b1"', body, head))
    assert letter.subject == subject and letter.sender == "vt021@example.vn"
    assert [(a.name, a.data) for a in letter.attachments] == [(name, PK)]


# --- 5. attachment bombs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "reason"),
    [
        (MAX_ATTACHMENTS, None),
        (MAX_ATTACHMENTS + 1, f"thư có quá nhiều tệp đính kèm (hơn {MAX_ATTACHMENTS})"),
        (300, f"thư có quá nhiều phần (hơn {MAX_PARTS})"),
    ],
)
def test_attachments_beyond_the_bound_refuse_the_message_with_its_reason(tmp_path, count, reason):
    data = mixed(*[part(PK + b"%d" % i, name=f"{i}.xlsx") for i in range(count)])
    [received] = open_messages([_saved(tmp_path, "nhiều.eml", data)], tmp_path / "archive")
    if reason is None:
        assert len(received.submissions) == count and received.problem is None
    else:
        assert received.problem == f"không đọc được thư: {reason}" and received.submissions == []
        assert not (tmp_path / "archive").exists(), "none of its attachments archived"


def test_the_same_attachment_many_times_is_kept_once(tmp_path):
    data = mixed(*[part(name=NAME)] * 40)
    [received] = open_messages([_saved(tmp_path, "lặp.eml", data)], tmp_path / "archive")
    names = [s.name for s in received.submissions]
    assert names[:3] == [f"lặp.eml/{NAME}", "lặp.eml/Báo cáo sáng kiến (2).xlsx", "lặp.eml/Báo cáo sáng kiến (3).xlsx"]
    assert len(set(names)) == 40 and {s.sha256 for s in received.submissions} == {hashlib.sha256(PK).hexdigest()}
    assert [p.name for p in (tmp_path / "archive").iterdir()] == [f"{hashlib.sha256(PK).hexdigest()}.xlsx"]


def _saved(folder: Path, name: str, data: bytes):
    """A message saved in `folder`, fingerprinted as the inbox does."""
    path = folder / name
    path.write_bytes(data)
    return fingerprint(path, name)


# --- whole runs -----------------------------------------------------------------------------------------


def head(mid: str, sender: str = "vt021@example.vn") -> bytes:
    """HEAD with its own Message-ID (the same one twice is one message) and sender."""
    return HEAD.replace(b"<hostile@", f"<{mid}@".encode()).replace(b"<vt021@example.vn>", f"<{sender}>".encode())


def with_head(data: bytes, mid: str, sender: str = "vt021@example.vn") -> bytes:
    """`data` with its own Message-ID and sender, in its outermost headers."""
    top, blank, rest = data.partition(b"\r\n\r\n")
    top = re.sub(rb"Message-ID: <[^>]*>", f"Message-ID: <{mid}@example.vn>".encode(), top, count=1)
    return top.replace(b"<vt021@example.vn>", f"<{sender}>".encode(), 1) + blank + rest


def garbled_base64(data: bytes) -> bytes:
    """`data` in base64 with characters outside the alphabet between and inside its lines."""
    lines = base64.encodebytes(data).splitlines()
    return b"".join(b"!" + line[:10] + b"*\x00\xff" + line[10:] + b"#\r\n" for line in lines)


@dataclass
class MailRun:
    result: RunResult
    summary: dict  # run.json
    settings: Settings
    base: Path
    dropped: dict[str, bytes]  # message or file name in the inbox -> its bytes
    parsed: list[str]  # the messages read_letter was given

    def message(self, name: str) -> dict:
        [found] = [m for m in self.summary["messages"] if m["name"] == name]
        return found

    def files_of(self, message: str) -> list:
        return [r for r in self.result.files if r.name.startswith(f"{message}/")]


# Each message of the run whose files cannot be taken, and what its result must say.
REFUSED = {
    "hỏng/multipart-without-boundary.eml": f"{NO_ATTACHMENT}; cấu trúc thư bị hỏng: thư nhiều phần không khai báo",
    "hỏng/boundary-never-appears.eml": f"{NO_ATTACHMENT}; cấu trúc thư bị hỏng: không tìm thấy ranh giới",
    "hỏng/multipart-headers-without-body.eml": f"{NO_ATTACHMENT}; cấu trúc thư bị hỏng",
    "hỏng/headers-without-body-or-blank-line.eml": NO_ATTACHMENT,
    "hỏng/binary-garbage-after-headers.eml": NO_ATTACHMENT,
    "hỏng/multipart-then-binary-garbage.eml": f"{NO_ATTACHMENT}; cấu trúc thư bị hỏng",
    "hỏng/broken-header-line.eml": f"{NO_ATTACHMENT}; tiêu đề thư bị hỏng: có dòng không đúng dạng tiêu đề",
    "hỏng/forwarded-base64-broken.eml": f"{NO_ATTACHMENT}; thư chuyển tiếp bên trong trống hoặc không giải mã",
    "lớn.eml": "thư quá lớn (4 MB, tối đa 2 MB)",
    "lồng nhau/multipart-5000.eml": f"không đọc được thư: cấu trúc thư lồng nhau quá sâu (hơn {MAX_DEPTH} lớp)",
    "lồng nhau/chuyển tiếp-3000.eml": f"không đọc được thư: cấu trúc thư lồng nhau quá sâu (hơn {MAX_DEPTH} lớp)",
    "lồng nhau/20000 phần.eml": f"không đọc được thư: thư có quá nhiều phần (hơn {MAX_PARTS})",
    "bom/61 tệp.eml": f"không đọc được thư: thư có quá nhiều tệp đính kèm (hơn {MAX_ATTACHMENTS})",
    "bom/300 tệp.eml": f"không đọc được thư: thư có quá nhiều phần (hơn {MAX_PARTS})",
}


def _own(folder: Path, form: Form, settings: Settings, roster: Roster, code: str) -> bytes:
    """A union's workbook with an initiative of its own (the same one from two unions is a warning)."""
    rows = [{"ten_sang_kien": f"Sổ theo dõi điện tử của đơn vị {code}", "tac_gia": f"Nguyễn Văn {code}"}]
    return fill_template(folder, form, settings, roster, rows=rows, name=f"{code}.xlsx", code=code).read_bytes()


@pytest.fixture(scope="module")
def mail_run(tmp_path_factory: pytest.TempPathFactory, form: Form, settings: Settings, roster: Roster) -> MailRun:
    base = tmp_path_factory.mktemp("mail-hostile")
    sources, inbox = base / "sources", base / "inbox"
    sources.mkdir()
    inbox.mkdir()
    codes = [u.code for u in roster.units[:8]]
    book = {c: _own(sources, form, settings, roster, c) for c in codes}
    sender = {u.code: u.email for u in roster.units[:8]}
    bomb = _deflate_bomb(sources / f"{codes[4]}.xlsx", sources / "bom.xlsx").read_bytes()
    dropped: dict[str, bytes] = {
        "tốt.xlsx": book[codes[0]],
        "tốt.eml": compose(sender[codes[1]], "Báo cáo", [(NAME, book[codes[1]])], message_id="<tot@example.vn>"),
        "bảng mã lạ.eml": with_head(
            raw(
                b'multipart/mixed; boundary="b1"',
                b"--b1\r\n"
                + BODY
                + b"--b1\r\n"
                + part(book[codes[2]], name=NAME).replace(
                    b'filename="' + NAME.encode() + b'"', b"filename*=x-khong-co-9''B%C3%A1o%20c%C3%A1o.xlsx"
                )
                + b"\r\n--b1--\r\n",
                HEAD.replace(b"=?utf-8?q?", b"=?x-khong-co-9?q?"),
            ),
            "charset",
            sender[codes[2]],
        ),
        "base64 lẫn rác.eml": with_head(
            mixed(part(body=garbled_base64(book[codes[3]]), name=NAME)), "garbled", sender[codes[3]]
        ),
        "hỏng/kiểu mã hóa lạ.eml": with_head(mixed(part(book[codes[5]], name=NAME, encoding=b"x-bogus-9")), "cte"),
        "hỏng/cắt cụt.eml": with_head(mixed(part(book[codes[6]], name=NAME), close=False), "cut", sender[codes[6]]),
        "hỏng/forwarded-base64-broken.eml": with_head(
            raw(
                b'multipart/mixed; boundary="b1"',
                b"--b1\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                b"RnJvbTogYUBi\r\nA\r\n--b1--\r\n",
            ),
            "fwd-broken",
        ),
        "lớn.eml": with_head(mixed(part(b"\0" * (5 << 19), name=NAME)), "huge"),  # 2.5 MB, 3.4 in base64
        "lồng nhau/multipart-5000.eml": with_head(nested_multiparts(5000, lines=20000), "deep"),
        "lồng nhau/chuyển tiếp-3000.eml": with_head(forwarded_inside_each_other(3000), "fwd-deep"),
        "lồng nhau/20000 phần.eml": with_head(mixed(*[b"\r\nx"] * 20_000), "parts"),
        "tên/tên độc.eml": mixed(
            *[part(PK + b"%d" % i, name=n) for i, n in enumerate(["../../etc/passwd.pdf", "CON.xlsx"])],
            part(PK + b"2").replace(b'filename="a.xlsx"', b"filename*=utf-8''C%3A%5Cx%5Cy.xlsx"),
            part(book[codes[7]]).replace(b'filename="a.xlsx"', b"filename*=utf-8''" + b"%2E%2E%2F..%2Fb%00%0D%0A.xlsx"),
            part(b"%PDF-1.4 x", name="x").replace(
                b'filename="x"',
                b'filename="=?utf-8?b?' + base64.b64encode(f"{LONG_NFD}\u202e\r\n. ".encode()) + b'?="',
            ),
            head=head("names", sender[codes[7]]),
        ),
        "bom/61 tệp.eml": with_head(
            mixed(*[part(PK + b"%d" % i, name=f"{i}.xlsx") for i in range(MAX_ATTACHMENTS + 1)]), "61"
        ),
        "bom/300 tệp.eml": with_head(mixed(*[part(PK + b"%d" % i, name=f"{i}.xlsx") for i in range(300)]), "300"),
        "bom/zip.eml": compose(sender[codes[4]], "Báo cáo", [(NAME, bomb)], message_id="<zip@example.vn>"),
        "bom/lặp 40 lần.eml": compose(sender[codes[5]], "Báo cáo", [(NAME, book[codes[5]])] * 40, message_id="<x40@h>"),
    }
    for case, (data, _, _) in MALFORMED.items():
        if f"hỏng/{case}.eml" in REFUSED:
            dropped[f"hỏng/{case}.eml"] = with_head(data, case)
    for name, data in dropped.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)
    s = settings.with_paths(inbox=inbox, outbox=base / "outbox")
    parsed: list[str] = []
    read = pipeline.mail.inbox.read_letter

    def recorded(data: bytes, name: str = "") -> object:
        parsed.append(name)
        return read(data, name)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline.mail.message, "MAX_MESSAGE_MB", 2)  # the messages below are smaller but one
        mp.setattr(pipeline.mail.inbox, "read_letter", recorded)
        result = run(Period(s, form, roster))
    summary = json.loads((base / "outbox" / "run.json").read_text(encoding="utf-8"))
    return MailRun(result, summary, s, base, dropped, parsed)


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_every_message_is_archived_and_listed_and_the_others_are_read(mail_run):
    archive = mail_run.settings.paths.history_dir / ARCHIVE_DIR
    assert sorted(m["name"] for m in mail_run.summary["messages"]) == sorted(
        n for n in mail_run.dropped if n.endswith(".eml")
    )
    for name, data in mail_run.dropped.items():
        kept = archived_path(archive, hashlib.sha256(data).hexdigest(), name)
        assert kept.read_bytes() == data, name
    by_name = {r.name: r for r in mail_run.result.files}
    assert by_name["tốt.xlsx"].status is Status.ACCEPTED
    assert by_name[f"tốt.eml/{NAME}"].status is Status.ACCEPTED


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
@pytest.mark.parametrize("name", REFUSED)
def test_a_message_that_gives_no_file_says_why(mail_run, name):
    message = mail_run.message(name)
    assert message["problem"].startswith(REFUSED[name]) and _VIETNAMESE.search(message["problem"])
    assert message["attachments"] == [] and mail_run.files_of(name) == []


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_the_huge_message_was_refused_before_it_was_read(mail_run):
    assert "lớn.eml" not in mail_run.parsed and "tốt.eml" in mail_run.parsed


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_what_a_damaged_message_still_carries_is_judged_like_any_file(mail_run):
    def only(message: str):
        [got] = mail_run.files_of(message)
        return got

    # Characters outside base64 skipped, an unknown charset ignored: the workbooks arrive intact.
    assert only("base64 lẫn rác.eml").status is Status.ACCEPTED
    assert only("bảng mã lạ.eml").name == "bảng mã lạ.eml/Báo cáo.xlsx"
    assert only("bảng mã lạ.eml").status is Status.ACCEPTED
    # An unknown transfer encoding: the part as it came (its base64 text), which is no workbook.
    assert Code.UNSUPPORTED_FORMAT in {f.code for f in only("hỏng/kiểu mã hóa lạ.eml").findings}
    # Cut before its closing boundary, but after the whole workbook.
    assert only("hỏng/cắt cụt.eml").status is Status.ACCEPTED


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_the_zip_bomb_is_refused_and_a_repeated_attachment_counts_once(mail_run):
    [bomb] = mail_run.files_of("bom/zip.eml")
    assert bomb.status is Status.REJECTED and Code.TOO_LARGE in {f.code for f in bomb.findings}
    repeated = mail_run.files_of("bom/lặp 40 lần.eml")
    assert len(repeated) == 40
    assert Counter(r.status for r in repeated) == {Status.ACCEPTED: 1, Status.DUPLICATE: 39}
    [first] = [r for r in repeated if r.status is Status.ACCEPTED]
    assert first.name == f"bom/lặp 40 lần.eml/{NAME}"  # the first the message carries, not "(10)"
    assert all(r.reason == f'giống hệt tệp "{first.name}"' for r in repeated if r is not first)
    unit = next(u for u in mail_run.summary["units"] if u["code"] == first.unit_code)
    assert unit["current_file"] == first.name


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_hostile_names_stay_in_the_archive_and_are_shown_safe(mail_run):
    got = mail_run.files_of("tên/tên độc.eml")
    shown = [r.name.split("/", 2)[2] for r in got]
    assert all(is_safe(n) for n in shown), [ascii(n) for n in shown]
    [long] = [n for n in shown if n.startswith("Báo cáo sáng kiến của Trường")]
    assert set(shown) == {"passwd.pdf", "y.xlsx", "_CON.xlsx", "b.xlsx", long}
    assert next(r for r in got if r.name.endswith("/b.xlsx")).status is Status.ACCEPTED
    # Nothing written outside the sources, the inbox as it was dropped, and the outbox.
    base = mail_run.base
    assert {p.name for p in base.iterdir()} == {"sources", "inbox", "outbox"}
    inbox = {p.relative_to(base / "inbox").as_posix() for p in (base / "inbox").rglob("*") if p.is_file()}
    assert inbox == set(mail_run.dropped)
    archive = mail_run.settings.paths.history_dir / ARCHIVE_DIR
    for p in archive.iterdir():
        assert re.fullmatch(r"[0-9a-f]{64}(\.[a-z0-9]{1,7})?", p.name), p.name
    outbox = (base / "outbox").resolve()
    for p in outbox.rglob("*"):
        assert p.resolve().is_relative_to(outbox), p
        assert "passwd" not in p.name and "\\" not in p.name and not _UNSAFE.search(p.name), ascii(p.name)


@pytest.mark.slow
@pytest.mark.xdist_group("mail-hostile")
def test_check_reads_what_the_bad_messages_carry_and_goes_on(mail_run, form, roster):
    inbox = mail_run.settings.paths.inbox
    paths = [inbox / n for n in mail_run.dropped if n.endswith(".eml") and n != "lớn.eml"]
    result = check(Period(mail_run.settings, form, roster), paths)
    by_name = {r.name: r for r in result.files}
    assert by_name[f"{inbox / 'tốt.eml'}/{NAME}"].status is Status.ACCEPTED
    assert by_name[f"{inbox / 'base64 lẫn rác.eml'}/{NAME}"].status is Status.ACCEPTED
    [bomb] = [r for n, r in by_name.items() if n.startswith(str(inbox / "bom/zip.eml"))]
    assert Code.TOO_LARGE in {f.code for f in bomb.findings}


@pytest.mark.slow
def test_check_gives_each_message_that_gives_no_file_its_reason(tmp_path, settings, form, roster):
    path = tmp_path / "hỏng.eml"
    path.write_bytes(MALFORMED["boundary-never-appears"][0])
    result = check(Period(settings, form, roster), [path])
    assert result.files == []
    [message] = result.messages
    assert message.name == str(path) and "không tách được tệp nào" in (message.problem or "")


# --- 3. header injection through a workbook and a subject -----------------------------------------------


@pytest.mark.slow
def test_a_name_or_subject_built_to_add_a_header_adds_none(tmp_path, settings, form, roster):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    s = dataclasses.replace(
        settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), mail=Mail(address="ldld@example.vn")
    )
    evil = "Trường THCS X\r\nBcc: evil@example.com"
    unit_name = form.key("unit_name")
    # Of a union the roster does not know, so that its reply is named after the workbook's own name;
    # its message has no Subject, so that the reply's Subject is made from that name.
    stranger = fill_template(
        tmp_path, form, settings, roster, unit={form.key("unit_code"): "VT999", unit_name: evil}, name="a.xlsx"
    )
    no_subject = compose("la@example.vn", "x", [(NAME, stranger.read_bytes())], message_id="<la@x>")
    (inbox / "không tiêu đề.eml").write_bytes(re.sub(rb"Subject: x\r\n", b"", no_subject))
    subject = "=?utf-8?b?" + base64.b64encode("Báo cáo\r\nBcc: evil@example.com\r\n".encode()).decode() + "?="
    own = fill_template(tmp_path, form, settings, roster, unit={unit_name: evil}, name="b.xlsx")
    encoded = compose("vt021@example.vn", "x", [(NAME, own.read_bytes())], message_id="<crlf@x>")
    (inbox / "tiêu đề CRLF.eml").write_bytes(encoded.replace(b"Subject: x", b"Subject: " + subject.encode()))
    period = Period(s, form, roster)
    run(period)
    made = draft_replies(period).made
    assert sorted((d.unit_code, d.to) for d in made) == [
        ("VT021", ("vt021@example.vn",)),
        ("VT999", ("la@example.vn",)),
    ]
    for draft in made:
        raw_draft = draft.path.read_bytes()
        headers = raw_draft.split(b"\r\n\r\n", 1)[0]
        assert set(re.findall(rb"(?m)^([^\s:]+):", headers)) <= DRAFT_HEADERS, headers  # no header added
        parsed = email.message_from_bytes(raw_draft, policy=email.policy.default)
        assert all(p.defects == [] for p in parsed.walk()) and parsed["Bcc"] is None
        assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
        assert [a.addr_spec for a in parsed["To"].addresses] == list(draft.to)
        assert draft.path.parent == tmp_path / "outbox" / "thu-tra-loi" and is_safe(draft.path.name)
    by_unit = {d.unit_code: email.message_from_bytes(d.path.read_bytes(), policy=email.policy.default) for d in made}
    # What was sent reached the replies, each on one line: carried, and made harmless.
    assert by_unit["VT999"]["Subject"].startswith("Báo cáo sáng kiến của Trường THCS X Bcc: evil@example.com")
    assert by_unit["VT021"]["Subject"] == "Re: Báo cáo Bcc: evil@example.com"


DRAFT_HEADERS = {
    h.encode()
    for h in (
        "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "X-Unsent", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    )
}  # fmt: skip
