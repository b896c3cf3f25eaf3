"""Messages as mail programs send them, for the mail tests: attachment names in each of the forms
real programs write (RFC 2231, RFC 2047, raw UTF-8), NFD names, forwarded messages."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import unicodedata
from email import policy
from email.header import Header
from email.message import EmailMessage

NAME_FORMS = ("rfc2231", "rfc2047", "utf8")


def compose(
    sender: str,
    subject: str,
    attachments: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    *,
    date: dt.datetime = dt.datetime(2022, 6, 2, 9, 0),
    message_id: str | None = None,
    to: str = "ldld@example.vn",
    body: str = "Kính gửi LĐLĐ huyện, đơn vị gửi báo cáo sáng kiến.",
    name_form: str = "rfc2231",
    nfd: bool = False,
    forwarded: bytes | None = None,
    forward_base64: bool = False,
) -> bytes:
    """A message's bytes. `date` is local time of this machine; `name_form` is how the attachment
    names are written."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date.astimezone())
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain="example.vn")
    msg["MIME-Version"] = "1.0"
    msg.set_content(body)
    for name, data in attachments:
        shown = unicodedata.normalize("NFD" if nfd else "NFC", name)
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=shown)
    if forwarded is not None and forward_base64:  # as a few programs do, against RFC 2046
        msg.add_attachment(forwarded, maintype="message", subtype="rfc822")
    elif forwarded is not None:
        msg.add_attachment(email.message_from_bytes(forwarded, policy=policy.default))
    raw = msg.as_bytes(policy=policy.SMTP)
    if name_form == "rfc2231":
        return raw
    return _rename(raw, attachments, name_form, nfd)


def _rename(raw: bytes, attachments: list[tuple[str, bytes]], form: str, nfd: bool) -> bytes:
    """The same message with each attachment's name written as RFC 2047 or raw UTF-8 (as some
    webmail and phone programs do) instead of RFC 2231."""
    text = raw
    for name, _ in attachments:
        shown = unicodedata.normalize("NFD" if nfd else "NFC", name)
        for line in _rfc2231_lines(text, shown):
            if form == "rfc2047":
                encoded = Header(shown, "utf-8").encode().encode("ascii")
                new = b'attachment; filename="' + encoded + b'"'
            else:
                new = b'attachment; filename="' + shown.encode("utf-8") + b'"'
            text = text.replace(line, new, 1)
    return text


def _rfc2231_lines(raw: bytes, name: str) -> list[bytes]:
    """The Content-Disposition value of the attachment called `name`, as the library wrote it."""
    import re

    found = []
    for m in re.finditer(rb"Content-Disposition: (attachment;[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", raw):
        value = m.group(1)
        parsed = email.message_from_bytes(b"Content-Disposition: " + value + b"\r\n\r\n", policy=policy.default)
        if parsed.get_filename() == name:
            found.append(value)
    return found


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data)
