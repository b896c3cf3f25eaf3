"""The tests' own mail servers (tests/servers.py): Dovecot gives back what was put in it, through
imap-tools on the plain and the TLS port; aiosmtpd keeps what smtplib sent, only after a login."""

from __future__ import annotations

import email.policy
import io
import smtplib
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import openpyxl
import pytest
from imap_tools import MailBox, MailBoxUnencrypted

from tests import servers

SUBJECT = "Báo cáo sáng kiến quý II/2022 — CĐCS Trường Tiểu học Việt Trung"
ATTACHMENT = "Báo cáo sáng kiến.xlsx"
FOLDER = "Báo cáo CĐCS"
UNION = "vt021@example.vn"


def workbook() -> bytes:
    book = openpyxl.Workbook()
    book.active["A1"] = "Tên sáng kiến"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def message(sender: str, to: str, attachment: bytes) -> EmailMessage:
    """A union's report as a mail program sends it: Vietnamese subject and names, the workbook
    attached; lines end in CRLF (email.policy.SMTP), as on the wire and in IMAP."""
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = Address("Công đoàn cơ sở Việt Trung", addr_spec=sender)
    mail["To"] = to
    mail["Subject"] = SUBJECT
    mail["Message-ID"] = make_msgid(domain="example.vn")
    mail.set_content("Kính gửi Ban Tuyên giáo,\nCông đoàn cơ sở gửi báo cáo sáng kiến quý II.\n")
    mail.add_attachment(
        attachment,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=ATTACHMENT,
    )
    return mail


def mailbox(server: servers.ImapServer, tls: bool) -> MailBox | MailBoxUnencrypted:
    """imap-tools' client: MailBox speaks implicit TLS (its default port is 993), MailBoxUnencrypted
    plain IMAP."""
    if tls:
        return MailBox(server.host, server.tls_port, ssl_context=ssl.create_default_context(cafile=server.cafile))
    return MailBoxUnencrypted(server.host, server.port)


@pytest.mark.slow
@pytest.mark.parametrize("tls", [False, True], ids=["imap", "imaps"])
def test_a_message_put_in_dovecot_comes_back_byte_for_byte(imap_server: servers.ImapServer, tls: bool) -> None:
    attachment = workbook()
    raw = message(UNION, imap_server.user, attachment).as_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")  # CRLF throughout, as IMAP keeps it
    appended = imap_server.append(raw)
    with mailbox(imap_server, tls).login(imap_server.user, imap_server.password) as box:
        status = box.folder.status("INBOX")
        (fetched,) = box.fetch(mark_seen=False)
        _, data = box.client.uid("FETCH", str(appended.uid), "(BODY.PEEK[])")
    assert (status["UIDVALIDITY"], fetched.uid) == (appended.uidvalidity, str(appended.uid))
    assert fetched.subject == SUBJECT
    assert [(part.filename, part.payload) for part in fetched.attachments] == [(ATTACHMENT, attachment)]
    assert data[0][1] == raw


@pytest.mark.slow
def test_the_tls_port_needs_the_fixtures_certificate(imap_server: servers.ImapServer) -> None:
    """The client checks the server's certificate: without the fixture's cafile it is refused."""
    with pytest.raises(ssl.SSLCertVerificationError):
        MailBox(imap_server.host, imap_server.tls_port, ssl_context=ssl.create_default_context())


@pytest.mark.slow
def test_a_folder_with_vietnamese_letters_is_created_and_selected(imap_server: servers.ImapServer) -> None:
    imap_server.create_folder(FOLDER)
    appended = imap_server.append(message(UNION, imap_server.user, b"PK").as_bytes(), folder=FOLDER)
    with mailbox(imap_server, tls=False).login(imap_server.user, imap_server.password) as box:
        names = sorted(folder.name for folder in box.folder.list())
        _, listed = box.client.list()
        box.folder.set(FOLDER)
        selected = box.folder.get()
        uids = box.uids()
    assert names == sorted(["INBOX", FOLDER]) and selected == FOLDER and uids == [str(appended.uid)]
    # On the wire, RFC 3501's modified UTF-7, worked out by hand: "á" is U+00E1, whose UTF-16 bytes
    # 00 E1 are "AOE" in base64; "Đ" is U+0110, "ARA".
    assert b'(\\HasNoChildren) "/" "B&AOE-o c&AOE-o C&ARA-CS"' in listed


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_message_sent_after_login_arrives_byte_for_byte(smtp_server: servers.SmtpServer, mechanism: str) -> None:
    reply = message(smtp_server.user, UNION, workbook())
    sent = reply.as_bytes()  # before sending: this fixes the MIME boundary that smtplib then writes
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        if mechanism == "PLAIN":
            client.login(smtp_server.user, smtp_server.password)  # smtplib prefers PLAIN
        else:
            client.ehlo()
            client.user, client.password = smtp_server.user, smtp_server.password
            client.auth("LOGIN", client.auth_login)
        client.send_message(reply)
    assert [(m.mail_from, m.rcpt_tos, m.login, m.content) for m in smtp_server.messages] == [
        (smtp_server.user, [UNION], smtp_server.user, sent)
    ]


@pytest.mark.slow
def test_the_smtp_server_takes_no_mail_without_the_password(smtp_server: servers.SmtpServer) -> None:
    reply = message(smtp_server.user, UNION, b"PK")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            client.login(smtp_server.user, "sai-mat-khau")
        with pytest.raises(smtplib.SMTPSenderRefused) as anonymous:
            client.send_message(reply)
    assert (wrong.value.smtp_code, anonymous.value.smtp_code, smtp_server.messages) == (535, 530, [])


@pytest.mark.slow
def test_the_starttls_server_wants_tls_first(smtp_starttls_server: servers.SmtpServer) -> None:
    server = smtp_starttls_server
    reply = message(server.user, UNION, workbook())
    sent = reply.as_bytes()
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo()
        offered = (client.has_extn("starttls"), client.has_extn("auth"))
        with pytest.raises(smtplib.SMTPSenderRefused) as clear:
            client.send_message(reply)
        client.starttls(context=ssl.create_default_context(cafile=server.cafile))
        client.login(server.user, server.password)
        client.send_message(reply)
    assert (offered, clear.value.smtp_code) == ((True, False), 530)
    assert [(m.login, m.content) for m in server.messages] == [(server.user, sent)]


def test_without_dovecot_a_test_skips_but_fails_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^Dovecot \(dovecot-imapd\) is not installed$"):
        servers.dovecot_binary(search_path=str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^Dovecot \(dovecot-imapd\) is not installed, and CI=true"):
        servers.dovecot_binary(search_path=str(tmp_path))


@pytest.mark.slow
def test_a_dovecot_that_cannot_start_fails_with_its_output(tmp_path: Path, mail_tls: servers.TlsFiles) -> None:
    broken = servers.TlsFiles(certfile=mail_tls.certfile, keyfile=tmp_path / "no-such-key.pem")
    reaper = servers.Reaper()
    with pytest.raises(pytest.fail.Exception) as failed, servers.dovecot(broken, reaper):
        pass
    reaper.finish()
    text = str(failed.value)
    assert text.startswith("Dovecot did not start (dovecot exited with status") and "no-such-key.pem" in text, text


@pytest.mark.slow
def test_a_stopped_dovecot_leaves_nothing_behind(mail_tls: servers.TlsFiles) -> None:
    reaper = servers.Reaper()
    with servers.dovecot(mail_tls, reaper) as server:
        folder = server.log_path.parent
        assert folder.is_dir()
    reaper.finish()
    assert not folder.exists()
    for port in (server.port, server.tls_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, port), timeout=5).close()
