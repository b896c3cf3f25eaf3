"""A reporting period by mail, from end to end, against real servers on 127.0.0.1: Dovecot holds the
unions' messages; `pipeline mail fetch`, `pipeline run`, `pipeline mail drafts`, `pipeline mail
reminders` and `pipeline mail send --send` follow, as the officer types them; aiosmtpd receives."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import unicodedata
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.demo import demo_roster_path
from pipeline.ledger import LEDGER_NAME, Ledger
from tests.conftest import ROOT
from tests.mailmaker import compose
from tests.msgfile import Attachment, Message, write_msg

pytestmark = pytest.mark.slow

OFFICE = "canbo@ldld.vn"
FOLDER = "Báo cáo CĐCS"  # a folder name with Vietnamese letters: IMAP's modified UTF-7
NAME = "Báo cáo sáng kiến.xlsx"
UNITS = 12  # the first units of the demo roster


def memory_keyring():
    """A keyring backend in memory: `pipeline mail password` stores in it, the commands read it."""
    import keyring.backend

    class Backend(keyring.backend.KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    return Backend()


def _set(text: str, section: str, key: str, value: str) -> str:
    """`key = value` in `[section]` of a TOML text (the project's own pipeline.toml)."""
    start = text.index(f"\n[{section}]\n")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end
    body = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text[start:end], count=1)
    assert body != text[start:end] or f"{key} = {value}" in body, (section, key)
    return text[:start] + body + text[end:]


@pytest.fixture
def district(tmp_path, imap_server, smtp_server, monkeypatch):
    """A district's folder: its configuration pointing at the two servers, a roster of 12 unions."""
    import keyring

    roster = tmp_path / "danh-sách.csv"
    lines = demo_roster_path().read_text(encoding="utf-8").splitlines()
    roster.write_text("\n".join(lines[: UNITS + 1]) + "\n", encoding="utf-8")
    text = (ROOT / "pipeline.toml").read_text(encoding="utf-8")
    for section, key, value in [
        ("paths", "inbox", '"inbox"'),
        ("paths", "outbox", '"outbox"'),
        ("paths", "roster", f'"{roster.name}"'),
        ("paths", "report_text", '"bao-cao.md"'),
        ("mail", "address", f'"{OFFICE}"'),
        ("mail", "name", '"LĐLĐ huyện Vĩnh Thuận"'),
        ("mail", "cafile", f'"{imap_server.cafile.as_posix()}"'),
        ("mail.imap", "host", f'"{imap_server.host}"'),
        ("mail.imap", "port", str(imap_server.tls_port)),
        ("mail.imap", "user", f'"{imap_server.user}"'),
        ("mail.imap", "folder", f'"{FOLDER}"'),
        ("mail.smtp", "host", f'"{smtp_server.host}"'),
        ("mail.smtp", "port", str(smtp_server.port)),
        ("mail.smtp", "security", '"starttls"' if smtp_server.starttls else '"none"'),
        ("mail.smtp", "user", f'"{smtp_server.user}"'),
    ]:
        text = _set(text, section, key, value)
    config = tmp_path / "pipeline.toml"
    config.write_text(text, encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    previous = keyring.get_keyring()
    keyring.set_keyring(memory_keyring())
    monkeypatch.delenv("PIPELINE_MAIL_PASSWORD", raising=False)
    # The officer stores the account's password once, as the guide says; both servers find it.
    assert imap_server.password == smtp_server.password
    monkeypatch.setattr("getpass.getpass", lambda prompt="": imap_server.password)
    assert main(["mail", "password", "--config", str(config)]) == 0
    yield config
    keyring.set_keyring(previous)


def own(code: str, **edits: object) -> list[dict[str, object]]:
    return [{"ten_sang_kien": f"Sổ theo dõi điện tử của đơn vị {code}", "tac_gia": f"Nguyễn Văn {code}", **edits}]


def _at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2022, 6, day, hour, 0)


def test_a_period_by_mail_from_the_mailbox_to_the_replies_received(district, imap_server, smtp_server, filled):
    def book(code: str, **kwargs: object) -> bytes:
        return filled(name=f"{code}.xlsx", code=code, **{"rows": own(code), **kwargs}).read_bytes()

    imap_server.create_folder(FOLDER)
    outlook = write_msg(
        Message(
            subject="Báo cáo sáng kiến VT006",
            sender_address="vt006@example.vn",
            message_id="<msg-vt006@example.vn>",
            attachments=[Attachment(NAME, book("VT006"))],
        )
    )
    inner = compose("vt005@example.vn", "Báo cáo VT005", [(NAME, book("VT005"))], date=_at(1, 8))
    messages = {
        "VT001": compose("vt001@example.vn", "Báo cáo sáng kiến", [(NAME, book("VT001"))], date=_at(1, 9), nfd=True),
        "VT002": compose("vt002@example.vn", "Báo cáo", [(NAME, book("VT002"))], date=_at(1, 10), name_form="rfc2047"),
        "VT003": compose(
            "vt003@example.vn", "Báo cáo", [(NAME, book("VT003", unit={"dien_thoai": "123"}))], date=_at(2, 9)
        ),
        "VT004": compose("vt004@example.vn", "Báo cáo", [(NAME, book("VT004", rows=own("VT004", tac_gia="")))]),
        "VT005": compose("van.thu@example.vn", "Fwd: Báo cáo VT005", forwarded=inner, date=_at(2, 11)),
        "VT006": compose("vt006@example.vn", "Chuyển thư Outlook", [("Báo cáo.msg", outlook)], date=_at(2, 12)),
        "VT007": compose(
            "vt007@example.vn",
            "Báo cáo và công văn",
            [(NAME, book("VT007")), ("Công văn 12-CĐ.pdf", b"%PDF-1.4 a signed cover letter")],
            date=_at(3, 8),
            name_form="utf8",
        ),
        "VT008": compose("vt008@example.vn", "Báo cáo sáng kiến (đính kèm)", date=_at(3, 9)),
        "VT009": compose(
            "vt009@example.vn", "Báo cáo", [(NAME, book("VT009", rows=own("VT009", tac_gia="")))], date=_at(2, 8)
        ),
        "VT009 lần 2": compose(
            "vt009@example.vn", "Re: Báo cáo", [("Báo cáo đã sửa.xlsx", book("VT009"))], date=_at(3, 15)
        ),
    }
    for raw in messages.values():
        imap_server.append(raw, FOLDER)
    config = str(district)
    base = district.parent

    assert main(["mail", "fetch", "--config", config]) == 0
    saved = sorted((base / "inbox" / "thư").iterdir())
    assert len(saved) == len(messages)
    assert main(["mail", "fetch", "--config", config]) == 0  # idempotent: nothing fetched twice
    assert len(list((base / "inbox" / "thư").iterdir())) == len(messages)

    assert main(["run", "--config", config]) == 0
    assert main(["mail", "drafts", "--config", config]) == 0
    assert main(["mail", "reminders", "--config", config]) == 0
    assert main(["mail", "send", "--config", config]) == 0
    assert smtp_server.messages == []  # listed, not sent
    assert main(["mail", "send", "--send", "--config", config]) == 0

    received = [email.message_from_bytes(m.content, policy=email.policy.default) for m in smtp_server.messages]
    by_to: dict[str, list[email.message.EmailMessage]] = {}
    for m, envelope in zip(received, smtp_server.messages, strict=True):
        assert m["X-Unsent"] is None and m["From"].addresses[0].addr_spec == OFFICE
        assert envelope.rcpt_tos == [a.addr_spec for a in m["To"].addresses]
        by_to.setdefault(m["To"].addresses[0].addr_spec, []).append(m)

    def body(m):
        return m.get_body(("plain",)).get_content()

    def attached(m):
        return [a.get_filename() for a in m.iter_attachments()]

    # Replies, each once, under the union's own message.
    for code in ("VT001", "VT002", "VT006", "VT007"):
        [reply] = by_to[f"{code.lower()}@example.vn"]
        assert "đã tiếp nhận" in body(reply) and attached(reply) == [], code
        assert reply["In-Reply-To"] and reply["In-Reply-To"] in reply["References"]
    [warned] = by_to["vt003@example.vn"]
    assert "kiểm tra lại" in body(warned) and attached(warned)[0].endswith("phản hồi.xlsx")
    assert warned["Subject"] == "Re: Báo cáo"
    rejected = by_to["vt004@example.vn"]
    assert [m["Subject"] for m in rejected] == ["Re: Báo cáo", rejected[1]["Subject"]]
    assert "chưa được tiếp nhận" in body(rejected[0]) and attached(rejected[0])[0].endswith("phản hồi.xlsx")
    assert rejected[1]["Subject"].startswith("Quá hạn nộp") and "chưa được tiếp nhận vì còn lỗi" in body(rejected[1])
    [forwarded] = by_to["van.thu@example.vn"]  # the forwarder gets the answer for VT005
    assert "VT005" in body(forwarded) and "đã tiếp nhận" in body(forwarded)
    nothing = by_to["vt008@example.vn"]
    assert "không lấy được tệp báo cáo" in body(nothing[0]) and "thư không có tệp đính kèm" in body(nothing[0])
    assert nothing[1]["Subject"].startswith("Quá hạn nộp")  # VT008 has still not reported
    [twice] = by_to["vt009@example.vn"]  # one reply, to the correction, naming both messages
    assert "đã tiếp nhận" in body(twice) and "Báo cáo đã sửa.xlsx" in body(twice)
    assert len(twice["References"].split()) >= 2
    # Reminders: the other units of the roster, each with its own template.
    for code in ("VT010", "VT011", "VT012"):
        [reminder] = by_to[f"{code.lower()}@example.vn"]
        assert reminder["Subject"].startswith("Quá hạn nộp")
        [template] = attached(reminder)
        assert template.startswith(code) and unicodedata.is_normalized("NFC", template)
    assert len(received) == 9 + 5  # nine replies; overdue notices to VT004, VT008, VT010, VT011, VT012

    # A second round sends nothing new.
    count = len(smtp_server.messages)
    for command in (["mail", "fetch"], ["run"], ["mail", "drafts"], ["mail", "reminders"], ["mail", "send", "--send"]):
        assert main([*command, "--config", config]) == 0
    assert len(smtp_server.messages) == count
    with Ledger(base / "outbox" / LEDGER_NAME) as ledger:
        drafts = ledger.drafts()
        assert {d.state for d in drafts} == {"sent"} and len(drafts) == count
        assert all(d.sent_at is not None for d in drafts)


def test_a_draft_looked_at(district, imap_server, smtp_server, filled, capsys):
    """One rejected union's draft, printed as the officer's mail program shows it (for the closing note)."""
    imap_server.create_folder(FOLDER)
    bad = filled(rows=own("VT004", tac_gia=""), name="b.xlsx", code="VT004").read_bytes()
    imap_server.append(compose("vt004@example.vn", "Báo cáo sáng kiến", [(NAME, bad)]), FOLDER)
    config = str(district)
    for command in (["mail", "fetch"], ["run"], ["mail", "drafts"]):
        assert main([*command, "--config", config]) == 0
    [path] = (Path(config).parent / "outbox" / "thu-tra-loi").iterdir()
    draft = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    shown = "\n".join(f"{h}: {draft[h]}" for h in ("From", "To", "Subject", "In-Reply-To", "X-Unsent"))
    shown += "\n\n" + draft.get_body(("plain",)).get_content()
    shown += "\n" + "\n".join(f"[đính kèm: {a.get_filename()}]" for a in draft.iter_attachments())
    print(shown)
    assert "Kính gửi Ban Chấp hành" in shown and "[đính kèm: VT004" in shown
    assert f'đã nhận tệp "{NAME}"' in shown and ".eml" not in shown  # the attachment's own name
