"""Fetching and sending against the real servers of tests/servers.py: what happens to the mail on
the server, each connection's security, and sending that stops in the middle."""

from __future__ import annotations

import dataclasses
import smtplib

import pytest

from pipeline import Period, draft_replies, fetch_mail, run, send_drafts
from pipeline.config import Imap, Mail, Smtp
from pipeline.ledger import LEDGER_NAME, Ledger
from pipeline.mail.account import ENV_PASSWORD, MailError
from tests.mailmaker import compose

pytestmark = pytest.mark.slow

NAME = "Báo cáo sáng kiến.xlsx"


@pytest.fixture
def period(tmp_path, settings, form, roster, imap_server, monkeypatch):
    monkeypatch.setenv(ENV_PASSWORD, imap_server.password)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    mail = Mail(
        address=imap_server.user,
        cafile=imap_server.cafile,
        imap=Imap(host=imap_server.host, port=imap_server.port, security="none", user=imap_server.user),
    )
    s = dataclasses.replace(settings.with_paths(inbox=inbox, outbox=tmp_path / "outbox"), mail=mail)
    return Period(s, form, roster)


def _with_imap(period: Period, **changes: object) -> Period:
    imap = dataclasses.replace(period.settings.mail.imap, **changes)
    return period.with_settings(
        dataclasses.replace(period.settings, mail=dataclasses.replace(period.settings.mail, imap=imap))
    )


def _flags(server, folder: str = "INBOX") -> list[tuple[str, ...]]:
    """The flags of each message of `folder`, read with imap-tools (folder names in UTF-7)."""
    from imap_tools import MailBoxUnencrypted

    with MailBoxUnencrypted(server.host, server.port).login(server.user, server.password, folder) as box:
        return [m.flags for m in box.fetch(mark_seen=False, headers_only=True)]


def test_fetch_leaves_the_mail_as_it_was_unless_told(period, imap_server):
    for i in range(3):
        imap_server.append(compose(f"vt00{i + 1}@example.vn", "Báo cáo", [(NAME, b"PK")]))
    fetched = fetch_mail(period)
    assert len(fetched.saved) == 3 and all(p.read_bytes().startswith(b"From:") for p in fetched.saved)
    assert [f for f in _flags(imap_server) if "\\Seen" in f] == []  # kept, not even marked read
    assert fetch_mail(period).saved == []
    seen = _with_imap(period, after_fetch="seen")
    imap_server.append(compose("vt004@example.vn", "Báo cáo", [(NAME, b"PK")]))
    assert len(fetch_mail(seen).saved) == 1
    assert ["\\Seen" in f for f in _flags(imap_server)] == [False, False, False, True]
    imap_server.create_folder("Đã tải")
    moved = _with_imap(period, after_fetch="move", move_to="Đã tải")
    imap_server.append(compose("vt005@example.vn", "Báo cáo", [(NAME, b"PK")]))
    assert len(fetch_mail(moved).saved) == 1
    assert len(_flags(imap_server)) == 4 and len(_flags(imap_server, "Đã tải")) == 1
    deleted = _with_imap(period, after_fetch="delete")
    imap_server.append(compose("vt006@example.vn", "Báo cáo", [(NAME, b"PK")]))
    assert len(fetch_mail(deleted).saved) == 1
    assert len(_flags(imap_server)) == 4  # only when the configuration says so


def test_fetch_over_tls_checks_the_servers_certificate(period, imap_server, tmp_path):
    imap_server.append(compose("vt001@example.vn", "Báo cáo", [(NAME, b"PK")]))
    tls = _with_imap(period, port=imap_server.tls_port, security="tls")
    assert len(fetch_mail(tls).saved) == 1
    stranger = tmp_path / "other.pem"
    stranger.write_bytes(b"")  # a certificate file that vouches for nobody
    mail = dataclasses.replace(tls.settings.mail, cafile=None)
    untrusted = tls.with_settings(dataclasses.replace(tls.settings, mail=mail))
    with pytest.raises(MailError, match="Không kết nối được máy chủ nhận thư"):
        fetch_mail(untrusted)  # the system's authorities do not know the test's own certificate


def test_a_wrong_password_or_folder_is_said_in_vietnamese(period, monkeypatch):
    with pytest.raises(MailError, match="không có thư mục"):
        fetch_mail(_with_imap(period, folder="Không có"))
    monkeypatch.setenv(ENV_PASSWORD, "sai")
    with pytest.raises(MailError, match="từ chối đăng nhập"):
        fetch_mail(period)


@pytest.fixture
def drafted(period, filled):
    """Three unions' replies drafted, ready to send."""
    for code in ("VT021", "VT030", "VT031"):
        rows = [{"ten_sang_kien": f"Sáng kiến riêng của {code}", "tac_gia": f"Lê Văn {code}"}]
        book = filled(rows=rows, name=f"{code}.xlsx", code=code).read_bytes()
        (period.settings.paths.inbox / f"{code}.eml").write_bytes(
            compose(f"{code.lower()}@example.vn", "Báo cáo", [(NAME, book)])
        )
    run(period)
    assert len(draft_replies(period).made) == 3
    return period


def _with_smtp(period: Period, server, security: str) -> Period:
    smtp = Smtp(host=server.host, port=server.port, security=security, user=server.user)  # type: ignore[arg-type]
    mail = dataclasses.replace(period.settings.mail, smtp=smtp, cafile=server.cafile)
    return period.with_settings(dataclasses.replace(period.settings, mail=mail))


def test_sending_over_starttls_delivers_each_draft_once(drafted, smtp_starttls_server):
    period = _with_smtp(drafted, smtp_starttls_server, "starttls")
    sent = send_drafts(period, send=True)
    assert len(sent.sent) == 3 and len(smtp_starttls_server.messages) == 3
    assert all(m.login == smtp_starttls_server.user for m in smtp_starttls_server.messages)
    assert all(b"X-Unsent" not in m.content for m in smtp_starttls_server.messages)
    assert send_drafts(period, send=True).sent == [] and len(smtp_starttls_server.messages) == 3


def test_a_stop_in_the_middle_never_sends_a_draft_twice(drafted, smtp_server, monkeypatch):
    period = _with_smtp(drafted, smtp_server, "none")
    calls = {"n": 0}
    real = smtplib.SMTP.send_message

    def flaky(self, msg, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the connection drops while the second draft is being handed over
            raise smtplib.SMTPServerDisconnected("mất kết nối")
        return real(self, msg, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", flaky)
    with pytest.raises(MailError, match="có thể đã đi"):
        send_drafts(period, send=True)
    assert len(smtp_server.messages) == 1
    with Ledger(period.settings.paths.history_dir / LEDGER_NAME) as ledger:
        assert sorted(d.state for d in ledger.drafts()) == ["drafted", "sending", "sent"]
    again = send_drafts(period, send=True)  # the rest goes; the uncertain one is listed, not sent
    assert len(again.sent) == 1 and len(again.uncertain) == 1 and len(smtp_server.messages) == 2


def test_a_refused_recipient_fails_that_draft_only(drafted, smtp_server, monkeypatch):
    period = _with_smtp(drafted, smtp_server, "none")
    with Ledger(period.settings.paths.history_dir / LEDGER_NAME) as ledger:
        first = ledger.drafts()[0]
    real = smtplib.SMTP.send_message

    def refusing(self, msg, from_addr=None, to_addrs=None, **kwargs):
        if list(to_addrs or ()) == list(first.recipients):  # as a server answers RCPT for an unknown mailbox
            raise smtplib.SMTPRecipientsRefused({first.recipients[0]: (550, b"5.1.1 mailbox unavailable")})
        return real(self, msg, from_addr, to_addrs, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "send_message", refusing)
    result = send_drafts(period, send=True)
    assert [d.message_id for d, _ in result.failed] == [first.message_id] and len(result.sent) == 2
    assert "550" in result.failed[0][1] and len(smtp_server.messages) == 2
    with Ledger(period.settings.paths.history_dir / LEDGER_NAME) as ledger:
        states = {d.message_id: (d.state, d.error) for d in ledger.drafts()}
    assert states[first.message_id][0] == "failed" and "550" in (states[first.message_id][1] or "")
