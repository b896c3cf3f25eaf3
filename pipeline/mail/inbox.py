"""The e-mails saved in the inbox -> their attachments, as submissions like any other file.

A saved message (.eml, or an Outlook .msg) in the inbox is read (`pipeline.mail.message`), and each
attachment is kept in the archive under its hash, once, before anything else reads it. The
attachment is then a `Submission` named "<message file>/<attachment>": the message is its folder,
so a cover letter sent beside a workbook is that workbook's attachment; it arrived at the
message's date, and it carries the message's Message-ID and sender.

The same message twice (saved by hand and fetched, or saved twice) counts once, by Message-ID; the
same attachment in two messages counts once, by its hash (`pipeline.stages`). A message that cannot
be read, or carries nothing to read, is kept too, with its reason: the union gets a reply.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.files import atomic_path
from pipeline.intake import Submission, archived_path, sniff
from pipeline.ledger import StoredMessage
from pipeline.mail.message import Letter, MailReadError, is_message_file, read_letter, too_large

NO_ATTACHMENT = "thư không có tệp đính kèm"

__all__ = ["NO_ATTACHMENT", "Received", "attachment_of", "is_message_file", "open_messages"]


@dataclass
class Received:
    """A message file found in the inbox, what it carried, and what became of it."""

    name: str  # where it is in the inbox
    sha256: str  # of the saved message
    message_id: str
    letter: Letter | None  # None when it could not be read
    problem: str | None = None  # why nothing in it can be taken (Vietnamese)
    submissions: list[Submission] = field(default_factory=list)
    duplicate_of: str | None = None  # the message file that brought the same Message-ID first
    new: bool = True  # not in the ledger before this run

    def stored(self) -> StoredMessage:
        letter = self.letter
        return StoredMessage(
            self.message_id,
            self.sha256,
            self.name,
            letter.sender if letter else None,
            letter.sender_name if letter else None,
            letter.subject if letter else "",
            letter.sent_at if letter else None,
            letter.references if letter else (),
            self.problem,
            tuple((s.sha256, s.name) for s in self.submissions),
        )


def attachment_of(name: str) -> str | None:
    """The attachment's own name, for a file that came in a saved message ("thư/a.eml/Báo cáo.xlsx"
    gives "Báo cáo.xlsx"); None for any other file."""
    folder, _, own = name.rpartition("/")
    return own if folder and is_message_file(folder) else None


def open_messages(
    messages: Sequence[Submission], archive_dir: Path, known: Mapping[str, StoredMessage] | None = None
) -> list[Received]:
    """Each saved message (already fingerprinted and archived) with its attachments as
    submissions, in the order the messages were sent. `known` holds the messages of earlier runs by
    Message-ID: one of them saved again under another name is a duplicate and gives nothing."""
    known = known or {}
    out = [_open(m, archive_dir) for m in messages]
    out.sort(key=lambda r: (_sent(r) or dt.datetime.min, r.name))
    first: dict[str, str] = {mid: m.name for mid, m in known.items()}
    for received in out:
        earlier = known.get(received.message_id)
        if earlier is not None and earlier.sha256 == received.sha256:
            received.new = False  # read in an earlier run: its files are known
            continue
        original = first.setdefault(received.message_id, received.name)
        if original != received.name:
            received.duplicate_of, received.submissions, received.new = original, [], earlier is None
    return out


def _sent(received: Received) -> dt.datetime | None:
    return received.letter.sent_at if received.letter else None


def _open(message: Submission, archive_dir: Path) -> Received:
    fallback_id = f"<{message.sha256[:32]}@thu-khong-doc-duoc>"
    refused = too_large(message.size)  # before the message is read into memory
    if refused is not None:
        return Received(message.name, message.sha256, fallback_id, None, refused)
    try:
        letter = read_letter(message.path.read_bytes(), message.name)
    except MailReadError as e:
        return Received(message.name, message.sha256, fallback_id, None, f"không đọc được thư: {e}")
    except Exception as e:  # a way to break the reader not foreseen: it costs this message, not the run
        why = f"không đọc được thư: lỗi nội bộ khi đọc thư ({type(e).__name__}: {str(e)[:200]})"
        return Received(message.name, message.sha256, fallback_id, None, why)
    sent_at = letter.sent_at or message.received_at
    submissions = []
    for attachment in letter.attachments:
        sha256 = hashlib.sha256(attachment.data).hexdigest()
        kept = archived_path(archive_dir, sha256, attachment.name)
        if not kept.exists():  # the untouched copy, before anything reads it
            with atomic_path(kept) as tmp:
                tmp.write_bytes(attachment.data)
        kind = sniff(kept, attachment.data[:8])
        name = f"{message.name}/{attachment.name}"
        sub = Submission(kept, name, sha256, len(attachment.data), kind, sent_at, letter.message_id, letter.sender)
        submissions.append(sub)
    problem = None if submissions else "; ".join((NO_ATTACHMENT, *letter.notes))
    return Received(message.name, message.sha256, letter.message_id, letter, problem, submissions)
