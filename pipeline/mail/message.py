"""A received e-mail -> a `Letter`: who sent it, when, what it is about, and what it carried.

Mail is untrusted input like a workbook. A message is parsed with the standard library's `email`
package (`policy.default`) only after its size is checked; its parts are counted and its nesting is
bounded; every attachment name is reduced to a safe file name (no folder, no control character,
NFC), keeping the name it was sent under for the record. A message that cannot be read raises
`MailReadError` with a Vietnamese reason; a part that is set aside is noted in `Letter.notes`.

Forwarded messages (`message/rfc822`) are read recursively, their attachments counted as the
outer message's. An Outlook `.msg` is converted first (`pipeline.mail.outlook`), and so is the
`winmail.dat` that Outlook sometimes sends in place of the attachments.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email
import email.feedparser
import email.policy
import email.utils
import hashlib
import math
import quopri
import re
import unicodedata
from dataclasses import dataclass, field
from email import errors
from email.message import EmailMessage, Message
from email.policy import Policy
from pathlib import PurePosixPath, PureWindowsPath

from pipeline.files import numbered, safe_filename
from pipeline.mail.outlook import MailReadError, msg_to_email, tnef_attachments
from pipeline.numbers import short

# What one message may hold. A report with a cover letter is one or two attachments of a few
# hundred KB; these leave a wide margin and bound the work any one message can cause.
MAX_MESSAGE_MB = 60  # encoded, as it arrives (attachments in base64 are a third larger)
MAX_PARTS = 200
MAX_DEPTH = 16  # multiparts and forwarded messages, one inside the other
MAX_ATTACHMENTS = 50

MESSAGE_SUFFIXES = (".eml", ".msg")
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 compound file: an Outlook .msg
_TOO_DEEP = f"cấu trúc thư lồng nhau quá sâu (hơn {MAX_DEPTH} lớp)"
_TOO_MANY_PARTS = f"thư có quá nhiều phần (hơn {MAX_PARTS})"
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# What the parser found broken in a message's structure, when it cost files (Vietnamese).
_BROKEN: dict[type[errors.MessageDefect], str] = {
    errors.NoBoundaryInMultipartDefect: "cấu trúc thư bị hỏng: thư nhiều phần không khai báo ranh giới (boundary) "
    "giữa các phần nên không tách được tệp nào",
    errors.StartBoundaryNotFoundDefect: "cấu trúc thư bị hỏng: không tìm thấy ranh giới (boundary) giữa các phần "
    "nên không tách được tệp nào",
    errors.CloseBoundaryNotFoundDefect: "thư bị cắt cụt (thiếu ranh giới kết thúc), tệp cuối có thể không đủ",
    errors.MissingHeaderBodySeparatorDefect: "tiêu đề thư bị hỏng: có dòng không đúng dạng tiêu đề, nên phần sau "
    "dòng đó bị đọc như nội dung thư",
}
# Inline pictures of a message's body (a signature, a logo) are no one's report.
_BODY_PICTURE = re.compile(r"image/.*")


@dataclass(frozen=True)
class Attachment:
    name: str  # a safe file name, NFC: what the officer and the union see
    sent_as: str  # the name as the message gave it (decoded), for the record
    data: bytes


@dataclass(frozen=True)
class Letter:
    message_id: str  # "<...>"; made from the message's hash when it has none
    sender: str | None  # the address, lower case
    sender_name: str | None
    subject: str
    sent_at: dt.datetime | None  # the message's date, in this machine's local time (naive)
    attachments: tuple[Attachment, ...] = ()
    notes: tuple[str, ...] = ()  # parts set aside, each with its reason (Vietnamese)
    references: tuple[str, ...] = field(default=())  # its own References, for threading a reply


def is_message_file(name: str, kind: str | None = None) -> bool:
    """A saved e-mail: an .eml or an Outlook .msg (by its name, or by its content for a .msg)."""
    return kind == "msg" or name.lower().endswith(MESSAGE_SUFFIXES)


def too_large(size: int) -> str | None:
    """Why a message of `size` bytes is refused before anything reads it (Vietnamese), or None."""
    if size <= MAX_MESSAGE_MB << 20:
        return None
    return f"thư quá lớn ({short(math.ceil(size / (1 << 20)))} MB, tối đa {short(MAX_MESSAGE_MB)} MB)"


def read_letter(data: bytes, name: str = "") -> Letter:
    """A saved message's bytes -> its `Letter`. `name` tells an Outlook .msg from an .eml."""
    refused = too_large(len(data))
    if refused is not None:
        raise MailReadError(refused)
    if name.lower().endswith(".msg") or data.startswith(_CFB):
        message: Message = msg_to_email(data)
    else:
        if not data.strip():
            raise MailReadError("tệp thư rỗng")
        message = _parse(data)
    if not any(message.get(h) for h in ("From", "Date", "Subject", "Message-ID", "Content-Type")):
        raise MailReadError("tệp không phải là thư điện tử (không có tiêu đề thư)")
    walker = _Walker()
    walker.walk(message, 0)
    sender_name, sender = _sender(message)
    return Letter(
        message_id=_message_id(message, data),
        sender=sender,
        sender_name=sender_name,
        subject=header_text(message, "Subject"),
        sent_at=_date(message),
        attachments=tuple(walker.attachments),
        notes=tuple(walker.notes),
        references=tuple(_ids(header_text(message, "References")) + _ids(header_text(message, "In-Reply-To"))),
    )


def _parse(data: bytes, depth: int = 0) -> EmailMessage:
    """`data` parsed, its parts counted and their nesting bounded while the parser makes them
    (`depth`: how deep the message lies in the one that carries it). Checked only afterwards, the
    bounds would come too late: the parser's work on each line grows with the nesting (a thousand
    multiparts one inside the other make a few MB take minutes), and a message of many tiny parts
    takes as long."""
    parts = _Parts(depth)
    parser = email.feedparser.BytesFeedParser(parts.make, policy=email.policy.default)
    parts.made = 0  # the parser made one part to try the factory
    try:
        parser.feed(data)
        return parser.close()
    except MailReadError:
        raise
    except RecursionError as e:  # a header's comments nested thousands deep (the parts are bounded)
        raise MailReadError("tiêu đề thư có chú thích lồng nhau quá sâu") from e
    except Exception as e:  # the parser is lenient; anything it raises is a broken message
        raise MailReadError(f"cấu trúc thư bị hỏng ({type(e).__name__})") from e


class _Part(EmailMessage):
    """A part as the parser makes it, knowing how deep it lies: the parser attaches each part to
    the part that holds it as soon as it meets it, before reading anything inside."""

    depth = 0

    def attach(self, payload: _Part) -> None:  # type: ignore[override]  # (as MIMEPart does)
        payload.depth = self.depth + 1
        if payload.depth > MAX_DEPTH:
            raise MailReadError(_TOO_DEEP)
        super().attach(payload)


class _Parts:
    """The parser's factory of parts: counts them, and refuses the part past `MAX_PARTS`."""

    def __init__(self, depth: int) -> None:
        self.depth, self.made = depth, 0

    def make(self, policy: Policy = email.policy.default) -> _Part:
        self.made += 1
        if self.made > MAX_PARTS:
            raise MailReadError(_TOO_MANY_PARTS)
        part = _Part(policy)
        part.depth = self.depth
        return part


def header_text(message: Message, name: str) -> str:
    """A header as one line of text, decoded; "" when absent or undecodable."""
    try:
        value = message.get(name)
    except Exception:  # a header the policy cannot parse at all
        value = None
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        text = ""
    return one_line(text)


def _sender(message: Message) -> tuple[str | None, str | None]:
    for header in ("From", "Sender", "Reply-To"):
        try:
            value = message.get(header)
            addresses = getattr(value, "addresses", None)
        except Exception:
            continue
        if addresses:
            first = addresses[0]
            address = (first.addr_spec or "").strip().lower()
            if "@" in address and not _CONTROLS.search(address):
                name = one_line(first.display_name)
                return name or None, address
        text = header_text(message, header)
        _, address = email.utils.parseaddr(text)
        if "@" in address:
            return None, address.lower()
    return None, None


def one_line(value: str | None) -> str:
    """Text from a message or a workbook, safe in a header: NFC, one line, no control character."""
    return re.sub(r"\s+", " ", _CONTROLS.sub(" ", unicodedata.normalize("NFC", value or ""))).strip()


def _ids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]{1,250}>", text)


def _message_id(message: Message, data: bytes) -> str:
    found = _ids(header_text(message, "Message-ID"))
    if found:
        return found[0]
    return f"<{hashlib.sha256(data).hexdigest()[:32]}@khong-co-message-id>"


def _date(message: Message) -> dt.datetime | None:
    text = header_text(message, "Date")
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return when.replace(microsecond=0)
    try:
        return when.astimezone().replace(tzinfo=None, microsecond=0)
    except (OverflowError, OSError, ValueError):
        return None


class _Walker:
    """The attachments of a message and of the messages forwarded inside it, with bounds."""

    def __init__(self) -> None:
        self.parts = 0
        self.attachments: list[Attachment] = []
        self.notes: list[str] = []
        self.names: set[str] = set()

    def walk(self, part: Message, depth: int) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MailReadError(_TOO_MANY_PARTS)
        if depth > MAX_DEPTH:
            raise MailReadError(_TOO_DEEP)
        try:
            kind, disposition, name = part.get_content_type(), part.get_content_disposition(), _filename(part)
        except Exception as e:  # a header the policy cannot read at all (comments nested thousands deep)
            self.notes.append(f"một phần của thư có tiêu đề không đọc được ({type(e).__name__}); đã bỏ qua")
            return
        for defect in part.defects:  # why the files of a broken message could not be separated
            broken = _BROKEN.get(type(defect))
            if broken is not None and broken not in self.notes:
                self.notes.append(broken)
        if kind == "message/rfc822" or (kind == "application/octet-stream" and name.endswith(".eml")):
            try:
                inner = _forwarded(part, depth + 1)  # a forwarded message: its attachments are this one's
            except MailReadError:
                raise
            except Exception:  # its base64 does not decode, or its headers cannot be read
                inner = None
            if inner is None:
                self.notes.append("thư chuyển tiếp bên trong trống hoặc không giải mã được; đã bỏ qua")
            else:
                self.walk(inner, depth + 1)
            return
        if part.is_multipart():
            for child in _children(part):
                self.walk(child, depth + 1)
            return
        if not _is_attachment(kind, disposition, name):
            return
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if not isinstance(data, bytes):
            self.notes.append(f'tệp đính kèm "{name or "(không tên)"}" không giải mã được; đã bỏ qua')
            return
        if name.lower() == "winmail.dat" or kind == "application/ms-tnef":
            try:
                inside = tnef_attachments(data)
            except MailReadError as e:
                self.notes.append(str(e))
                return
            for inner_name, inner_data in inside:
                self.add(inner_name, inner_data)
            return
        if _BODY_PICTURE.fullmatch(kind) and disposition != "attachment":
            return  # a picture in the message's body
        if name.lower().endswith(".msg") and data.startswith(_CFB):  # an Outlook message forwarded as a file
            try:
                inner = msg_to_email(data)
            except MailReadError as e:
                self.notes.append(f'thư đính kèm "{name}": {e}')
            else:
                self.walk(inner, depth + 1)
                return
        self.add(name, data)

    def add(self, sent_as: str, data: bytes) -> None:
        if len(self.attachments) >= MAX_ATTACHMENTS:
            raise MailReadError(f"thư có quá nhiều tệp đính kèm (hơn {MAX_ATTACHMENTS})")
        # Two attachments of one name in one message are told apart.
        name = numbered(attachment_name(sent_as, len(self.attachments) + 1), lambda n: n.casefold() in self.names)
        self.names.add(name.casefold())
        self.attachments.append(Attachment(name, one_line(sent_as), data))


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _forwarded(part: Message, depth: int) -> Message | None:
    """The message forwarded in `part`, read as lying at `depth`; None when it has none."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], Message) else None
    encoding = header_text(part, "Content-Transfer-Encoding").lower()
    if inner is not None and encoding in ("base64", "quoted-printable"):
        # Forbidden by RFC 2046 but sent all the same: the parser took the encoded text for a
        # message without headers. Decode it and read the message inside.
        text = inner.get_payload()
        if not isinstance(text, str):
            return None
        raw = text.encode("ascii", "replace")
        data = binascii.a2b_base64(raw) if encoding == "base64" else quopri.decodestring(raw)
        return _parse(data, depth) if data.strip() else None
    if inner is not None:
        return inner
    decoded = part.get_payload(decode=True)
    return _parse(decoded, depth) if isinstance(decoded, bytes) and decoded.strip() else None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # a malformed RFC 2231 parameter
        name = ""
    if isinstance(name, tuple):  # an undecodable RFC 2231 value: (charset, language, text)
        name = str(name[2])
    return unicodedata.normalize("NFC", name)


def _is_attachment(kind: str, disposition: str | None, name: str) -> bool:
    if disposition == "attachment":
        return True
    if name:
        return True  # inline, but named: a file all the same
    return kind.partition("/")[0] not in ("text", "multipart", "message")


def attachment_name(sent_as: str, number: int = 1) -> str:
    """A safe file name for an attachment: the last part of any path it carries, without control or
    direction characters, NFC, valid on Windows ("tệp đính kèm 2" when nothing is left)."""
    text = _CONTROLS.sub("", unicodedata.normalize("NFC", sent_as))
    text = PureWindowsPath(PurePosixPath(text.replace("\\", "/")).name).name
    suffix = ""
    if "." in text:
        stem, suffix = text.rsplit(".", 1)
        suffix = "." + re.sub(r"[^0-9A-Za-z]", "", suffix)[:8]
        text = stem
    safe = safe_filename(text, reserve=len(suffix)) if text.strip(" .") else ""
    if not safe or safe == "_":
        safe = f"tệp đính kèm {number}"
    return safe + (suffix if suffix != "." else "")
