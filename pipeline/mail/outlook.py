"""Mail in: Outlook's own formats, a message saved as .msg and a winmail.dat (TNEF) attachment.

`msg_to_email(bytes) -> EmailMessage` turns a .msg into the standard library's message, so the rest
of the mail stage reads one kind of message; `tnef_attachments(bytes) -> [(name, bytes)]` takes the
files out of a winmail.dat. Both are pure: bytes in, objects out, nothing written to disk. Their
libraries are optional (extract-msg is GPL): this module imports without them, and a call that
needs one that is missing raises `MailReadError` naming the extra that installs it.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract_msg.msg_classes import MSGFile

MAX_DEPTH = 5  # messages attached to messages: how many levels are opened

_NEEDS_EXTRACT_MSG = (
    'tệp thư Outlook (.msg) cần gói extract-msg: cài bằng `pip install ".[outlook]"` trong thư mục công cụ, '
    "hoặc lưu thư dạng .eml"
)
_BROKEN_MSG = "tệp .msg bị hỏng hoặc không phải thư Outlook"
_NEEDS_TNEFPARSE = (
    "tệp winmail.dat (định dạng riêng của Outlook) cần gói tnefparse để mở: cài bằng "
    '`pip install ".[outlook]"` trong thư mục công cụ, hoặc đề nghị đơn vị gửi lại thư ở dạng HTML thay cho RTF'
)
_BROKEN_TNEF = "tệp winmail.dat bị hỏng"
_TOO_DEEP = f"thư lồng trong thư quá {MAX_DEPTH} lớp: hãy mở thư bên trong và gửi riêng tệp đính kèm của nó"

# olefile takes bytes shorter than the smallest compound file (a header, a FAT sector and a
# directory sector) for a file name and opens that file: such bytes never reach it.
_CFB_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
_CFB_MIN_SIZE = 3 * 512
_HEADERS_PREFIX = "Microsoft Mail Internet Headers Version 2.0"  # Outlook's first line, not a header
_RECIPIENT_TO = 1  # PR_RECIPIENT_TYPE: MAPI_TO


class MailReadError(Exception):
    """A message or attachment that cannot be read; the message says why, in Vietnamese."""


def msg_to_email(data: bytes) -> EmailMessage:
    """The Outlook message in `data` (a .msg file) as a standard message.

    Headers: From (the sender's name and SMTP address, else the received From), To (the received To,
    else the To recipients), Date (the received Date, else the time it was sent), Subject, and
    Message-ID (the received one, else PR_INTERNET_MESSAGE_ID, else none). A text/plain body, then
    each attached file under its long name (NFC) and each attached message as a message/rfc822 part,
    converted the same way, up to `MAX_DEPTH` levels.
    """
    try:
        import extract_msg
    except ImportError as error:
        raise MailReadError(_NEEDS_EXTRACT_MSG) from error
    if len(data) < _CFB_MIN_SIZE or not data.startswith(_CFB_SIGNATURE):
        raise MailReadError(_BROKEN_MSG)
    try:
        # Attachments delayed: each attached message is opened when converted, so MAX_DEPTH bounds it.
        message = extract_msg.openMsg(bytes(data), delayAttachments=True)
    except Exception as error:  # olefile and extract-msg raise many kinds on a damaged file
        raise MailReadError(_BROKEN_MSG) from error
    try:
        return _converted(message, depth=0)
    except MailReadError:
        raise
    except Exception as error:
        raise MailReadError(_BROKEN_MSG) from error
    finally:
        message.close()


def _converted(message: MSGFile, depth: int) -> EmailMessage:
    from extract_msg.msg_classes import MessageBase, MSGFile

    received = _received_headers(message.getStringStream("__substg1.0_007D") or "")
    converted = EmailMessage()
    address = message.getStringStream("__substg1.0_5D01") or message.getStringStream("__substg1.0_0C1F") or ""
    if "@" in address:  # 0C1F holds an Exchange path for a sender inside the organisation
        converted["From"] = formataddr((_one_line(message.getStringStream("__substg1.0_0C1A") or ""), address))
    elif received["From"]:
        converted["From"] = str(received["From"])
    recipients = message.recipients if isinstance(message, MessageBase) else []
    to = [formataddr((r.name or "", r.email)) for r in recipients if r.type == _RECIPIENT_TO and r.email]
    if received["To"] or to:
        converted["To"] = str(received["To"] or ", ".join(to))
    sent = message.getPropertyVal("00390040") or message.getPropertyVal("0E060040")  # submitted, delivered
    if received["Date"] or isinstance(sent, datetime):
        converted["Date"] = str(received["Date"] or format_datetime(sent))
    subject = message.getStringStream("__substg1.0_0037") or received["Subject"]
    if subject:
        converted["Subject"] = _one_line(str(subject))
    message_id = received["Message-ID"] or message.getStringStream("__substg1.0_1035")
    if message_id:
        converted["Message-ID"] = _one_line(str(message_id))
    body = message.body if isinstance(message, MessageBase) else message.getStringStream("__substg1.0_1000")
    converted.set_content(body or "")

    for attachment in message.attachments:
        content = attachment.data
        name = unicodedata.normalize("NFC", attachment.name or "") or None
        if isinstance(content, MSGFile):
            if depth >= MAX_DEPTH:
                raise MailReadError(_TOO_DEEP)
            if name and name.lower().endswith(".msg"):
                name = name[:-4] + ".eml"
            converted.add_attachment(_converted(content, depth + 1), filename=name)
        elif isinstance(content, bytes):
            maintype, _, subtype = (mimetypes.guess_type(name or "")[0] or "application/octet-stream").partition("/")
            converted.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
        # Anything else holds no file: a link to a file on the web, an OLE object's storage.
    return converted


def _received_headers(text: str) -> EmailMessage:
    """The headers the message arrived with (PR_TRANSPORT_MESSAGE_HEADERS); none for a draft."""
    text = text.removeprefix(_HEADERS_PREFIX).lstrip()
    parsed = HeaderParser(policy=policy.default).parsestr(text, headersonly=True)
    assert isinstance(parsed, EmailMessage)  # policy.default makes EmailMessage
    return parsed


def _one_line(text: str) -> str:
    """`text` fit for a header: a line break in a property would be refused by the email package."""
    return " ".join(text.split())


def tnef_attachments(data: bytes) -> list[tuple[str, bytes]]:
    """The files in a winmail.dat (TNEF): (long name, else the short one, NFC; bytes), in order.

    The files of an attached message come in its place, up to `MAX_DEPTH` levels. A record whose
    checksum is wrong means a damaged file.
    """
    try:
        from tnefparse import TNEF
    except ImportError as error:
        raise MailReadError(_NEEDS_TNEFPARSE) from error
    try:
        tnef = TNEF(bytes(data))
        if not all(record.good_checksum for record in tnef.objects):
            raise MailReadError(_BROKEN_TNEF)
        return _tnef_files(tnef, depth=0)
    except MailReadError:
        raise
    except Exception as error:  # tnefparse raises many kinds on a damaged file
        raise MailReadError(_BROKEN_TNEF) from error


def _tnef_files(tnef: Any, depth: int) -> list[tuple[str, bytes]]:
    files = []
    for attachment in tnef.attachments:
        embedded = getattr(attachment, "embed", None)  # set by tnefparse for an attached message only
        if embedded is not None:
            if depth >= MAX_DEPTH:
                raise MailReadError(_TOO_DEEP)
            files += _tnef_files(embedded, depth + 1)
            continue
        try:
            name = attachment.long_filename()
        except UnicodeDecodeError:  # tnefparse decodes the 8-bit title as UTF-8: it is in the code page
            name = bytes(attachment._name).decode(tnef.codepage or "cp1252", errors="replace").strip("\0")
        files.append((unicodedata.normalize("NFC", name), bytes(attachment.data)))
    return files
