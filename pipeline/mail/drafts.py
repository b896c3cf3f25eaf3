"""Replies and reminders as drafts: `pipeline mail drafts` and `pipeline mail reminders`.

A draft is an .eml file marked `X-Unsent: 1`, so that Outlook and Thunderbird open it as a message
to send, not one received; `pipeline mail send --send` can send it too. Each is written once and
recorded in the ledger with what it answers, so running these again writes only what is new.

- A reply goes to each union with something not yet answered: its messages (to the sender, threaded
  under its latest one with In-Reply-To and References) or the files saved by hand into the inbox
  (to the roster's address). What it says follows the union's latest workbook among them: rejected,
  what to fix and by when, with the marked-up workbook (the run's feedback); accepted with
  warnings, what to check, with the same; accepted, a receipt with what was counted. A message
  that carried nothing to read gets a reply that says what to send instead.
- A reminder goes to every active union of the roster that has not reported, or whose latest file
  was rejected and not corrected: before the deadline a reminder, after it an overdue notice, each
  with the union's personalised template. A union already reminded is not reminded again unless
  asked (`again`).

Everything a draft takes from a workbook or a message (a union's name, a subject) is reduced to one
line without control characters before it goes into a header.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

from pipeline.config import Settings
from pipeline.files import atomic_path, numbered, safe_filename
from pipeline.form import Form
from pipeline.intake import SPREADSHEET_KINDS
from pipeline.ledger import LEDGER_NAME, Ledger, StoredDraft, StoredFile, StoredMessage
from pipeline.lock import exclusive
from pipeline.mail.account import MailError
from pipeline.mail.inbox import NO_ATTACHMENT, attachment_of
from pipeline.mail.message import one_line
from pipeline.merge import Reporting, UnitState, arrival, file_statuses, unit_states
from pipeline.render.feedback import letter
from pipeline.roster import Roster, Unit

REPLY_DIR = "thu-tra-loi"  # in the outbox
REMINDER_DIR = "thu-nhac-nop"
TEMPLATE_DIR = "mau"  # inside REMINDER_DIR: the templates the reminders attach
REMINDER_KINDS = ("reminder", "overdue")
KIND_WORDS = {
    "rejected": "trả lại, cần sửa",
    "warnings": "đã nhận, cần kiểm tra",
    "receipt": "đã nhận",
    "no_attachment": "thư không có tệp báo cáo",
    "reminder": "nhắc nộp báo cáo",
    "overdue": "báo cáo quá hạn",
}
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\]+")


@dataclass(frozen=True)
class Draft:
    path: Path
    kind: str
    unit_code: str | None
    to: tuple[str, ...]
    subject: str
    attachments: tuple[str, ...] = ()


@dataclass
class Drafted:
    made: list[Draft] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (who, why), in Vietnamese


def _encoded(raw: bytes, fields: dict[str, str]) -> bytes:
    """`raw` with the given header fields written as `email.header.Header` encodes them. The
    generator of `policy.SMTP` folds a long Vietnamese subject between encoded words where a space
    was, and a reader then drops that space ("Chương trình"01 triệu..."); `Header` keeps each space
    inside an encoded word."""
    head, blank, body = raw.partition(b"\r\n\r\n")
    out = []
    for line in re.split(rb"\r\n(?![ \t])", head):
        name = line.split(b":", 1)[0].decode("ascii").lower()
        out.append(f"{name.title()}: {fields[name]}".encode("ascii") if name in fields else line)
    return b"\r\n".join(out) + blank + body


def addresses(text: str | None) -> tuple[str, ...]:
    """The well-formed addresses in `text` (a roster cell may hold several)."""
    return tuple(dict.fromkeys(a.lower() for a in _ADDRESS.findall(text or "")))


class _Writer:
    """Builds the drafts of one command, writes them and records them in the ledger."""

    def __init__(self, settings: Settings, ledger: Ledger, folder: Path) -> None:
        mail = settings.mail
        if not mail.address or not _ADDRESS.fullmatch(mail.address):
            raise MailError(
                "Chưa có địa chỉ thư của cơ quan để làm người gửi: điền khóa mail.address trong tệp "
                f'cấu hình "{settings.source}".'
            )
        self.settings, self.ledger, self.folder = settings, ledger, folder
        self.sender = Address(one_line(mail.name or settings.organisation.full_name), addr_spec=mail.address)
        self.result = Drafted()

    def write(
        self,
        kind: str,
        unit: str | None,
        unit_name: str,
        to: Sequence[str],
        subject: str,
        body: str,
        attachments: Sequence[Path] = (),
        about: Sequence[str] = (),
        replying_to: StoredMessage | None = None,
        earlier: Sequence[str] = (),
    ) -> Draft:
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = self.sender
        msg["To"] = [Address(addr_spec=a) for a in to]
        msg["Subject"] = one_line(subject)
        msg["Date"] = format_datetime(dt.datetime.now().astimezone())
        message_id = make_msgid(domain=self.sender.domain)
        msg["Message-ID"] = message_id
        if replying_to is not None:
            msg["In-Reply-To"] = replying_to.message_id
            chain = [*replying_to.references, *earlier, replying_to.message_id]
            msg["References"] = " ".join(dict.fromkeys(chain))
        msg["X-Unsent"] = "1"  # Outlook and Thunderbird open it as a message to send
        msg.set_content(body)
        for path in attachments:
            maintype, subtype = (mimetypes.guess_type(path.name)[0] or "application/octet-stream").split("/", 1)
            msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
        who = f"{unit} - {unit_name}" if unit else unit_name
        target = self._free(safe_filename(f"{who} - {KIND_WORDS[kind]}", reserve=len(" (99).eml")))
        raw = _encoded(
            msg.as_bytes(),
            {
                "subject": Header(str(msg["Subject"]), "utf-8", header_name="Subject").encode(linesep="\r\n"),
                "from": formataddr((self.sender.display_name, self.sender.addr_spec), "utf-8"),
            },
        )
        with atomic_path(target) as tmp:
            tmp.write_bytes(raw)
        stored = StoredDraft(
            message_id, kind, tuple(about), unit, str(target), tuple(to), str(msg["Subject"]), dt.datetime.now()
        )
        self.ledger.add_draft(stored)
        draft = Draft(target, kind, unit, tuple(to), str(msg["Subject"]), tuple(p.name for p in attachments))
        self.result.made.append(draft)
        return draft

    def _free(self, stem: str) -> Path:
        return self.folder / numbered(f"{stem}.eml", lambda name: (self.folder / name).exists())


def draft_replies(settings: Settings, form: Form, roster: Roster | None) -> Drafted:
    """A draft for each union (and each message) with something not yet answered; see the module."""
    history = settings.paths.history_dir
    with exclusive(history), Ledger(history / LEDGER_NAME) as ledger:
        writer = _Writer(settings, ledger, settings.paths.outbox / REPLY_DIR)
        files = ledger.files()
        answered = {a for d in ledger.drafts() if d.kind not in REMINDER_KINDS for a in d.about}
        states = unit_states(files, roster, settings)
        owner = {f.sha256: s for s in states.values() for f in s.files}
        statuses = file_statuses(states, files)
        by_sha = {f.sha256: f for f in files}
        pending: dict[str, list[StoredMessage | StoredFile]] = {}
        for m in ledger.messages():
            if m.message_id in answered:
                continue
            carried = [by_sha[sha] for sha, _ in m.files if sha in by_sha]
            union = next((owner[f.sha256] for f in carried if f.sha256 in owner), None)
            if not carried or union is None:
                known = roster.sent_by(m.sender) if roster else None
                if known is None:  # a newsletter, an invoice, a stranger: the officer decides
                    why = "người gửi không có trong danh sách CĐCS và thư không có tệp báo cáo của CĐCS nào"
                    writer.result.skipped.append((f"thư {m.name} ({m.sender or 'không rõ người gửi'})", why))
                    continue
                _no_attachment(writer, m, known)
                continue
            pending.setdefault(union.code, []).append(m)
        for f in files:
            if f.message_id is None and f.sha256 not in answered and f.sha256 in owner:
                pending.setdefault(owner[f.sha256].code, []).append(f)
        for code, items in sorted(pending.items()):
            _reply(writer, states[code], items, by_sha, statuses, roster)
        return writer.result


def _latest(items: Sequence[StoredMessage | StoredFile], by_sha: dict[str, StoredFile]) -> list[StoredFile]:
    """The files of `items`, in arrival order."""
    found: dict[str, StoredFile] = {}
    for item in items:
        shas = [sha for sha, _ in item.files] if isinstance(item, StoredMessage) else [item.sha256]
        found.update({sha: by_sha[sha] for sha in shas if sha in by_sha})
    return sorted(found.values(), key=arrival)


def _reply(
    writer: _Writer,
    state: UnitState,
    items: list[StoredMessage | StoredFile],
    by_sha: dict[str, StoredFile],
    statuses: dict[str, str],
    roster: Roster | None,
) -> None:
    settings = writer.settings
    files = _latest(items, by_sha)
    workbooks = [f for f in files if f.kind in SPREADSHEET_KINDS] or files
    latest = workbooks[-1]
    status = statuses[latest.sha256]
    messages = sorted((m for m in items if isinstance(m, StoredMessage)), key=lambda m: m.sent_at or dt.datetime.min)
    replying_to = messages[-1] if messages else None
    unit = roster.find(state.code) if roster else None
    to = addresses(replying_to.sender) if replying_to else addresses(unit.email if unit else None)
    about = [m.message_id for m in messages] + [f.sha256 for f in items if isinstance(f, StoredFile)]
    if not to:
        writer.result.skipped.append((f"{state.code} - {state.name}", "không có địa chỉ thư trong danh sách CĐCS"))
        return
    feedback = Path(latest.message) if latest.message else None
    if status in ("rejected", "accepted_with_warnings") and feedback is not None and feedback.is_file():
        kind = "rejected" if status == "rejected" else "warnings"
        body = feedback.read_text(encoding="utf-8-sig")  # the run's message to the union, as it is
        attachments = [Path(latest.feedback)] if latest.feedback and Path(latest.feedback).is_file() else []
    else:
        kind, body, attachments = "receipt", _receipt(settings, state, latest), []
    subject = _subject(replying_to, kind, state.name)
    earlier = [m.message_id for m in messages[:-1]]
    writer.write(kind, state.code, state.name, to, subject, body, attachments, about, replying_to, earlier)


def _subject(replying_to: StoredMessage | None, kind: str, unit_name: str) -> str:
    if replying_to is not None and replying_to.subject:
        subject = replying_to.subject
        return subject if re.match(r"(?i)(re|tl|trả lời)\s*:", subject) else f"Re: {subject}"
    return f"Báo cáo sáng kiến của {unit_name}: {KIND_WORDS[kind]}"


def _receipt(settings: Settings, state: UnitState, f: StoredFile) -> str:
    org = settings.organisation.full_name
    counted = f"{f.initiatives} sáng kiến" if f.initiatives else "không có sáng kiến nào"
    as_of = f" (số liệu tính đến ngày {f.as_of_date:%d/%m/%Y})" if f.as_of_date else ""
    lines = [
        f"Kính gửi Ban Chấp hành {state.name} (mã {state.code}),",
        "",
        f'{org} đã tiếp nhận tệp "{attachment_of(f.name) or f.name}" của đơn vị, gửi ngày {f.received_at:%d/%m/%Y}: '
        f"đã ghi nhận {counted}{as_of}. Đơn vị không cần gửi lại.",
        "Nếu sau này có thay đổi, đơn vị sửa trên chính tệp này và gửi lại; bản gửi sau sẽ thay cho bản này.",
    ]
    return letter(settings, lines)


def _no_attachment(writer: _Writer, m: StoredMessage, unit: Unit) -> None:
    settings = writer.settings
    org = settings.organisation.full_name
    sent = f" ngày {m.sent_at:%d/%m/%Y}" if m.sent_at else ""
    subject = f'"{m.subject}"' if m.subject else "(không có tiêu đề)"
    lines = [
        f"Kính gửi Ban Chấp hành {unit.name} (mã {unit.code}),",
        "",
        f"{org} đã nhận thư {subject}{sent} nhưng không lấy được tệp báo cáo nào từ thư này: {_union_reason(m)}.",
        "Đề nghị đơn vị gửi lại thư, đính kèm tệp biểu mẫu Excel (.xlsx) do LĐLĐ huyện gửi, đã điền số liệu "
        "của đơn vị. Không gửi ảnh chụp, tệp PDF hay đường liên kết thay cho tệp; nếu đã gửi tệp mà vẫn nhận "
        f"được thư này, vui lòng lưu tệp dạng .xlsx và gửi lại trước ngày {settings.reply_by():%d/%m/%Y}.",
    ]
    body = letter(settings, lines)
    subject_line = _subject(m, "no_attachment", unit.name)
    writer.write("no_attachment", unit.code, unit.name, addresses(m.sender), subject_line, body, (), [m.message_id], m)


def _union_reason(m: StoredMessage) -> str:
    """Why nothing could be taken from a message, in words for the union (not the officer's detail)."""
    problem = m.problem or ""
    if "winmail.dat" in problem:
        return (
            "thư được gửi từ Outlook ở định dạng riêng (RTF), tệp đính kèm nằm trong winmail.dat; "
            "vui lòng đặt định dạng thư là HTML hoặc văn bản thường rồi gửi lại"
        )
    if problem.startswith(NO_ATTACHMENT):
        return "thư không có tệp đính kèm"
    if m.files:
        return "các tệp đính kèm không phải biểu mẫu báo cáo của đơn vị"
    return "không đọc được thư hoặc tệp đính kèm"


def draft_reminders(
    settings: Settings, form: Form, roster: Roster, *, again: bool = False, today: dt.date | None = None
) -> Drafted:
    """A reminder (or an overdue notice) for each active union that has not reported or whose
    latest file was rejected and not corrected; see the module."""
    from pipeline.template import template_name, write_template

    # The day it is written: today, or the report date when that is earlier (a period looked at
    # afterwards, as the demo is), as for the date a correction is asked by (`Settings.reply_by`).
    today = today or min(dt.date.today(), settings.as_of)
    kind = "reminder" if today <= settings.deadline else "overdue"
    history = settings.paths.history_dir
    folder = settings.paths.outbox / REMINDER_DIR
    with exclusive(history), Ledger(history / LEDGER_NAME) as ledger:
        writer = _Writer(settings, ledger, folder)
        reminded = {d.unit_code: d for d in ledger.drafts() if d.kind in REMINDER_KINDS}
        states = unit_states(ledger.files(), roster, settings)
        for unit in roster.active:
            state = states[unit.code]
            if state.reporting not in (Reporting.MISSING, Reporting.REJECTED) and state.latest_rejected is None:
                continue
            who = f"{unit.code} - {unit.name}"
            if unit.code in reminded and not again:
                earlier = reminded[unit.code]
                writer.result.skipped.append(
                    (who, f"đã nhắc ngày {earlier.made_at:%d/%m/%Y} (dùng --again để nhắc lại)")
                )
                continue
            to = addresses(unit.email)
            if not to:
                writer.result.skipped.append((who, "không có địa chỉ thư trong danh sách CĐCS"))
                continue
            template = write_template(folder / TEMPLATE_DIR / template_name(form, unit), form, settings, unit)
            body = _reminder(settings, unit, state, kind, today)
            subject = f"{'Nhắc nộp' if kind == 'reminder' else 'Quá hạn nộp'} báo cáo sáng kiến - {unit.name}"
            writer.write(kind, unit.code, unit.name, to, subject, body, [template], [f"{unit.code}@{today}"])
        return writer.result


def _reminder(settings: Settings, unit: Unit, state: UnitState, kind: str, today: dt.date) -> str:
    org = settings.organisation.full_name
    deadline = f"{settings.deadline:%d/%m/%Y}"
    rejected = state.latest_rejected
    if rejected is None and state.reporting is Reporting.REJECTED:
        workbooks = [f for f in state.files if f.kind in SPREADSHEET_KINDS] or state.files
        rejected = workbooks[-1]
    if rejected is not None:
        shown = attachment_of(rejected.name) or rejected.name
        what = (
            f'tệp "{shown}" đơn vị gửi ngày {rejected.received_at:%d/%m/%Y} chưa được tiếp nhận vì còn lỗi '
            "(đã gửi phản hồi kèm tệp được đánh dấu), và đến nay LĐLĐ huyện chưa nhận được bản sửa."
        )
    else:
        what = f"đến ngày {today:%d/%m/%Y}, {org} chưa nhận được báo cáo của đơn vị."
    if kind == "reminder":
        ask = f"Hạn nộp là ngày {deadline}. Đề nghị đơn vị điền biểu mẫu đính kèm và gửi lại trước hạn."
    else:
        ask = (
            f"Hạn nộp ngày {deadline} đã qua. Đề nghị đơn vị khẩn trương điền biểu mẫu đính kèm và gửi lại "
            f"trước ngày {settings.reply_by(today):%d/%m/%Y}."
        )
    lines = [
        f"Kính gửi Ban Chấp hành {unit.name} (mã {unit.code}),",
        "",
        f"Thực hiện {settings.programme.name}, {what}",
        ask,
        "Biểu mẫu đính kèm đã ghi sẵn thông tin của đơn vị; xin giữ nguyên các trang và dòng tiêu đề.",
    ]
    return letter(settings, lines)


__all__ = ["REMINDER_DIR", "REPLY_DIR", "Draft", "Drafted", "addresses", "draft_reminders", "draft_replies"]
