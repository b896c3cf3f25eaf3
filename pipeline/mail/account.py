"""The district's mail account: its password and its connections to the servers.

The password is never in `pipeline.toml`. It comes from the `PIPELINE_MAIL_PASSWORD` environment
variable when that is set (a scheduled task, a test), else from the system's keyring through
`keyring`: Windows Credential Manager on the officer's laptop, the Secret Service or KWallet on
Linux, the Keychain on macOS. `pipeline mail password` stores it there once.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from typing import Any

from pipeline.config import Imap, Settings, Smtp
from pipeline.errors import PipelineError

ENV_PASSWORD = "PIPELINE_MAIL_PASSWORD"
KEYRING_SERVICE = "sang-kien-pipeline"
TIMEOUT_S = 60


class MailError(PipelineError):
    """The mailbox or the mail server cannot be used: not configured, no password, refused."""

    exit_code = 7


def user_of(settings: Settings, server: Imap | Smtp) -> str:
    user = server.user or settings.mail.address
    if not user:
        raise MailError(
            "Chưa có tên đăng nhập hộp thư: điền khóa mail.address (hoặc user trong [mail.imap], "
            f'[mail.smtp]) trong tệp cấu hình "{settings.source}".'
        )
    return user


def _keyring_key(server: Imap | Smtp) -> str:
    """The keyring's entry for a server: "sang-kien-pipeline/imap/imap.gmail.com"."""
    return f"{KEYRING_SERVICE}/{'imap' if isinstance(server, Imap) else 'smtp'}/{server.host or ''}"


def password(settings: Settings, server: Imap | Smtp) -> str:
    """The password for `server`: the environment variable, else the keyring. The SMTP server of
    the same account takes the IMAP server's password unless one of its own was stored."""
    from_env = os.environ.get(ENV_PASSWORD)
    if from_env:
        return from_env
    user = user_of(settings, server)
    found = _stored(server, user)
    imap = settings.mail.imap
    if not found and isinstance(server, Smtp) and imap.host and user_of(settings, imap) == user:
        found = _stored(imap, user)
    if not found:
        raise MailError(
            f"Chưa có mật khẩu của hộp thư {user} trên máy chủ {server.host}. Chạy lệnh "
            "`pipeline mail password` để lưu mật khẩu vào kho mật khẩu của máy (Windows: Credential "
            f"Manager), hoặc đặt biến môi trường {ENV_PASSWORD}."
        )
    return found


def _stored(server: Imap | Smtp, user: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(_keyring_key(server), user)
    except Exception:  # no keyring backend on this machine (a server without a desktop session)
        return None


def save_password(settings: Settings, server: Imap | Smtp, secret: str) -> str:
    """Store `secret` in the system's keyring for `server`; returns where it went (Vietnamese)."""
    import keyring
    from keyring.errors import KeyringError

    require_host(settings, server)
    user = user_of(settings, server)
    try:
        keyring.set_password(_keyring_key(server), user, secret)
    except KeyringError as e:
        raise MailError(
            f"Không lưu được mật khẩu vào kho mật khẩu của máy ({e}). Hãy đặt biến môi trường {ENV_PASSWORD}."
        ) from e
    return f'kho mật khẩu của máy ({type(keyring.get_keyring()).__name__}), mục "{_keyring_key(server)}", tên {user}'


def require_host(settings: Settings, server: Imap | Smtp) -> str:
    if not server.host:
        what, section = ("nhận thư", "mail.imap") if isinstance(server, Imap) else ("gửi thư", "mail.smtp")
        raise MailError(
            f'Chưa cấu hình máy chủ {what}: điền khóa host trong mục [{section}] của tệp "{settings.source}".'
        )
    return server.host


def tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificates checked as a browser would; against `mail.cafile` for a server with its own."""
    cafile = settings.mail.cafile
    if cafile is not None and not cafile.is_file():
        raise MailError(f'Không tìm thấy tệp chứng chỉ "{cafile}" (khóa mail.cafile).')
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)


def imap_box(settings: Settings) -> Any:
    """An imap-tools mailbox for [mail.imap], connected but not logged in."""
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

    imap = settings.mail.imap
    require_host(settings, imap)
    port = imap.port_or_default
    try:
        if imap.security == "tls":
            return MailBox(imap.host, port, timeout=TIMEOUT_S, ssl_context=tls_context(settings))
        if imap.security == "starttls":
            return MailBoxStartTls(imap.host, port, timeout=TIMEOUT_S, ssl_context=tls_context(settings))
        return MailBoxUnencrypted(imap.host, port, timeout=TIMEOUT_S)
    except (OSError, ssl.SSLError) as e:
        raise MailError(f"Không kết nối được máy chủ nhận thư {imap.host}:{port} ({e}).") from e


def smtp_connection(settings: Settings) -> smtplib.SMTP:
    """A logged-in SMTP connection for [mail.smtp]."""
    smtp = settings.mail.smtp
    host = require_host(settings, smtp)
    secret = password(settings, smtp)
    port = smtp.port_or_default
    try:
        connection: smtplib.SMTP
        if smtp.security == "tls":
            connection = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=tls_context(settings))
        else:
            connection = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
            if smtp.security == "starttls":
                connection.starttls(context=tls_context(settings))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
        raise MailError(f"Không kết nối được máy chủ gửi thư {smtp.host}:{port} ({e}).") from e
    try:
        connection.login(user_of(settings, smtp), secret)
    except smtplib.SMTPAuthenticationError as e:
        connection.close()
        raise MailError(
            f"Máy chủ gửi thư {smtp.host} từ chối đăng nhập ({e.smtp_code}): kiểm tra tên đăng nhập và mật khẩu "
            "(Gmail cần mật khẩu ứng dụng)."
        ) from e
    except (OSError, smtplib.SMTPException) as e:
        connection.close()
        raise MailError(f"Không đăng nhập được máy chủ gửi thư {smtp.host} ({e}).") from e
    return connection
