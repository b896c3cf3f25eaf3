"""`pipeline mail send`: the drafts not yet sent, over SMTP, only when told (`send=True`).

Without `send` it only lists what it would send. With it, each draft is read again from its file
(so an edit the officer made is what goes), loses its `X-Unsent` mark and is handed to the server.
The ledger marks it "sending" before and "sent" (with the time) after: a draft is never sent twice,
even when the program stops in the middle of a batch. One left "sending" by such a stop may or may
not have gone; it is listed, for the officer to look in the sent folder, and never sent again by
itself. A recipient the server refuses marks that draft "failed" with the server's answer, and the
others still go. A draft whose file the officer deleted is "withdrawn": never sent. The recipients
are those of the file's To and Cc when it is sent (the officer may have edited them).
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.ledger import LEDGER_NAME, Ledger, StoredDraft
from pipeline.lock import exclusive
from pipeline.mail.account import MailError, smtp_connection


@dataclass
class Sending:
    to_send: list[StoredDraft] = field(default_factory=list)  # what goes (went, with send=True)
    sent: list[StoredDraft] = field(default_factory=list)
    failed: list[tuple[StoredDraft, str]] = field(default_factory=list)
    uncertain: list[StoredDraft] = field(default_factory=list)  # left "sending" by an earlier stop
    withdrawn: list[StoredDraft] = field(default_factory=list)  # the officer deleted its file


def send_drafts(settings: Settings, *, send: bool = False) -> Sending:
    history = settings.paths.history_dir
    with exclusive(history), Ledger(history / LEDGER_NAME) as ledger:
        drafts = ledger.drafts()
        for draft in drafts:  # a draft whose file the officer deleted is withdrawn, not sent
            if draft.state == "drafted" and not Path(draft.path).is_file():
                ledger.set_draft_state(draft.message_id, "withdrawn")
        drafts = ledger.drafts()
        result = Sending(
            to_send=[d for d in drafts if d.state == "drafted"],
            uncertain=[d for d in drafts if d.state == "sending"],
            withdrawn=[d for d in drafts if d.state == "withdrawn"],
        )
        if not send or not result.to_send:
            return result
        connection = smtp_connection(settings)
        try:
            for draft in result.to_send:
                message = message_from_bytes(Path(draft.path).read_bytes(), policy=policy.SMTP)
                del message["X-Unsent"]
                # To and Cc as the file has them now: the officer may have edited the draft.
                recipients = _recipients(message) or list(draft.recipients)
                ledger.set_draft_state(draft.message_id, "sending", recipients=recipients)
                try:
                    refused = connection.send_message(message, to_addrs=recipients)
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
                    reason = _refusal(e)
                    ledger.set_draft_state(draft.message_id, "failed", reason)
                    result.failed.append((draft, reason))
                    continue
                except (smtplib.SMTPException, OSError) as e:
                    raise MailError(
                        f"Mất kết nối với máy chủ gửi thư khi đang gửi thư cho {', '.join(draft.recipients)} ({e}). "
                        "Thư này có thể đã đi hoặc chưa: hãy xem thư mục Thư đã gửi trước khi gửi lại."
                    ) from e
                ledger.set_draft_state(draft.message_id, "sent", _refusal_text(refused) if refused else None)
                result.sent.append(draft)
        finally:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()
    return result


def _recipients(message: Any) -> list[str]:
    found: list[str] = []
    for header in ("To", "Cc"):
        try:
            found += [a.addr_spec for a in getattr(message[header], "addresses", ()) if "@" in a.addr_spec]
        except Exception:  # a header edited into something unreadable: the recorded recipients go
            return []
    return list(dict.fromkeys(found))


def _refusal(error: smtplib.SMTPException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return _refusal_text(error.recipients)
    code = getattr(error, "smtp_code", "")
    text = getattr(error, "smtp_error", b"")
    return f"máy chủ từ chối ({code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text})"


def _refusal_text(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{a}: {code} {text.decode('utf-8', 'replace')}" for a, (code, text) in refused.items())


__all__ = ["Sending", "send_drafts"]
