"""`pipeline mail fetch`: the new messages of the district's IMAP folder, saved into the inbox.

Each message is saved whole, as the server holds it, as an .eml in the inbox's "thư" folder; the
next `pipeline run` reads it like any saved message (`pipeline.mail.inbox`). The ledger records the
folder's UIDVALIDITY and each message's UID once it is saved, so a message is fetched once however
often this runs, and a crash at any point fetches nothing twice that was recorded (a message saved
but not yet recorded is saved again under the same name). Nothing on the server changes unless
`[mail.imap] after_fetch` says so; a message too large to be a report is left on the server and
listed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.files import atomic_path, safe_filename
from pipeline.ledger import LEDGER_NAME, Ledger
from pipeline.lock import exclusive
from pipeline.mail.account import MailError, imap_box, password, require_host, user_of
from pipeline.mail.message import MAX_MESSAGE_MB

MAIL_FOLDER = "thư"  # inside the inbox
BATCH = 20  # messages fetched per request


@dataclass
class Fetched:
    mailbox: str  # the login, server and folder, in words
    saved: list[Path] = field(default_factory=list)
    already: int = 0  # fetched by an earlier run
    too_large: list[str] = field(default_factory=list)  # left on the server: what they are


def fetch(settings: Settings) -> Fetched:
    """Save every message of the folder that no earlier fetch saved; see the module's text."""
    from imap_tools import MailMessage, MailMessageFlags
    from imap_tools.errors import MailboxLoginError, UnexpectedCommandStatusError

    imap = settings.mail.imap
    if imap.after_fetch == "move" and not imap.move_to:
        raise MailError('after_fetch = "move" cần khóa mail.imap.move_to (thư mục chuyển thư đến).')
    require_host(settings, imap)
    user = user_of(settings, imap)
    secret = password(settings, imap)
    key = f"{user}@{imap.host}/{imap.folder}"
    history = settings.paths.history_dir

    class _Raw(MailMessage):
        """A fetched message that keeps the bytes the server sent."""

        def __init__(self, fetch_data: list[Any]) -> None:
            super().__init__(fetch_data)
            self.raw = self._get_message_data_parts(fetch_data)[0]

    result = Fetched(f'{user} trên {imap.host}, thư mục "{imap.folder}"')
    with exclusive(history), Ledger(history / LEDGER_NAME) as ledger:
        box = imap_box(settings)
        box.email_message_class = _Raw
        try:
            try:
                box.login(user, secret, initial_folder=None)
            except MailboxLoginError as e:
                raise MailError(
                    f"Máy chủ nhận thư {imap.host} từ chối đăng nhập của {user}: kiểm tra mật khẩu "
                    "(`pipeline mail password`; Gmail cần mật khẩu ứng dụng)."
                ) from e
            try:
                box.folder.set(imap.folder)
            except UnexpectedCommandStatusError as e:
                raise MailError(f'Hộp thư không có thư mục "{imap.folder}" (khóa mail.imap.folder).') from e
            _fetch_new(box, ledger, key, settings, result, MailMessageFlags)
        finally:
            try:
                box.logout()  # also closes the connection
            except Exception:  # the server went away: close the socket all the same
                with contextlib.suppress(OSError):
                    box.client.shutdown()
    return result


def _fetch_new(box: Any, ledger: Ledger, key: str, settings: Settings, result: Fetched, flags: Any) -> None:
    from imap_tools import AND

    imap, target = settings.mail.imap, settings.paths.inbox / MAIL_FOLDER
    validity = int(box.folder.status(imap.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
    seen = ledger.fetched(key)
    uids = [u for u in box.uids("ALL") if (validity, int(u)) not in seen]
    result.already = len(seen)
    done: list[str] = []
    for start in range(0, len(uids), BATCH):
        batch = uids[start : start + BATCH]
        sizes = {m.uid: m.size_rfc822 for m in box.fetch(AND(uid=batch), headers_only=True, mark_seen=False)}
        wanted = [u for u in batch if sizes.get(u, 0) <= MAX_MESSAGE_MB << 20]
        result.too_large += [f"UID {u} ({sizes.get(u, 0) / (1 << 20):.0f} MB)" for u in batch if u not in wanted]
        for message in box.fetch(AND(uid=wanted), mark_seen=False, bulk=True) if wanted else ():
            path = target / _file_name(message)
            with atomic_path(path) as tmp:
                tmp.write_bytes(message.raw)
            when = message.date
            if when and when.year > 1900:
                os.utime(path, (when.timestamp(), when.timestamp()))
            ledger.add_fetched(key, validity, int(message.uid), path.relative_to(settings.paths.inbox).as_posix())
            result.saved.append(path)
            done.append(message.uid)
    _after_fetch(box, settings, done, flags)


def _file_name(message: Any) -> str:
    """ "2022-06-02 09.00 vt021@example.vn (UID 17).eml": by date, then sender, unique by UID."""
    when = message.date if message.date and message.date.year > 1900 else None
    moment = when.astimezone().strftime("%Y-%m-%d %H.%M") if when and when.tzinfo else "không rõ ngày"
    sender = safe_filename(message.from_ or "không rõ người gửi", reserve=20)[:60]
    return f"{moment} {sender} (UID {message.uid}).eml"


def _after_fetch(box: Any, settings: Settings, uids: list[str], flags: Any) -> None:
    """What `[mail.imap] after_fetch` asks for the messages just saved (by default nothing)."""
    imap = settings.mail.imap
    if not uids or imap.after_fetch == "keep":
        return
    if imap.after_fetch == "seen":
        box.flag(uids, flags.SEEN, True)
    elif imap.after_fetch == "move":
        box.move(uids, imap.move_to)
    elif imap.after_fetch == "delete":
        box.delete(uids)


__all__ = ["MAIL_FOLDER", "Fetched", "fetch"]
