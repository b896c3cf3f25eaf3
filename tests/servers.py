"""Mail servers that the tests start themselves on 127.0.0.1, no mocks: Dovecot for IMAP (plain, and
implicit TLS) and aiosmtpd for SMTP (AUTH LOGIN/PLAIN; a variant that requires STARTTLS), with the
self-signed certificate they share. tests/conftest.py wraps them as the fixtures `mail_tls`,
`imap_server`, `smtp_server` and `smtp_starttls_server`."""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imap_tools.imap_utf7 import utf7_encode

HOST = "127.0.0.1"
USER = "canbo@ldld.vn"
PASSWORD = "cong-doan-2022"
# The longest a server may take to accept connections (a loaded CI machine), and to stop.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# How many times a server is started on new ports when another process took one of its ports
# between free_ports() and the server's bind.
START_ATTEMPTS = 3
NOT_INSTALLED = "Dovecot (dovecot-imapd) is not installed"
# Where Debian puts dovecot: not on the PATH of a user who is not root.
SBIN = ("/usr/sbin", "/sbin")


def in_ci() -> bool:
    """CI sets CI=true, as tests/conftest.py reads it: there a missing tool fails, never skips."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def free_ports(count: int) -> list[int]:
    """`count` different ports that nothing listens on now, each the kernel's choice for a socket
    bound to port 0. Another process may take one before the server binds it: the servers start
    again on new ports then."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


# --- The certificate ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key. It is its own authority:
    a client trusts it with `ssl.create_default_context(cafile=cafile)`."""

    certfile: Path
    keyfile: Path

    @property
    def cafile(self) -> Path:
        return self.certfile


def make_certificate(folder: Path) -> TlsFiles:
    """A new key and self-signed certificate in `folder`, made with the openssl command (Debian's
    openssl package, which Dovecot's depends on). The extensions are those of a certificate authority
    that is also a server's certificate, so that Python's strict verification (VERIFY_X509_STRICT,
    the default from Python 3.13) accepts it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make the test mail servers' certificate", pytrace=False)
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    command = [
        openssl, "req", "-x509", "-nodes", "-days", "30",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(files.keyfile), "-out", str(files.certfile),
        "-subj", "/CN=sang-kien test mail servers",
        "-addext", f"subjectAltName=IP:{HOST},DNS:localhost",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        "-addext", "extendedKeyUsage=serverAuth",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"openssl could not make the certificate:\n{done.stderr}", pytrace=False)
    return files


# --- IMAP: Dovecot --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Appended:
    """Where IMAP APPEND put a message (the APPENDUID response of RFC 4315)."""

    uidvalidity: int
    uid: int


@dataclass(frozen=True, slots=True)
class ImapServer:
    """A Dovecot of the test's own, with one user and an empty mailbox."""

    host: str
    port: int  # plain IMAP
    tls_port: int  # IMAP in implicit TLS (imaps), with the certificate that `cafile` verifies
    cafile: Path
    user: str
    password: str
    log_path: Path  # Dovecot's log

    def append(self, raw: bytes, folder: str = "INBOX") -> Appended:
        """Put the message `raw` in `folder` by IMAP APPEND, as a delivery would (imaplib, not the
        client under test). IMAP's lines end in CRLF, and imaplib turns a bare LF into CRLF: a message
        written with email.policy.SMTP is fetched back byte for byte."""
        with self._session() as client:
            _, data = client.append(_mailbox(folder), "", "", raw)
        answer = data[0] if data and isinstance(data[0], bytes) else b""
        found = re.match(rb"\[APPENDUID (\d+) (\d+)\]", answer)
        assert found, f"Dovecot answered APPEND without APPENDUID: {answer!r}"
        return Appended(uidvalidity=int(found[1]), uid=int(found[2]))

    def create_folder(self, name: str) -> None:
        """Create the folder `name`, any letters (sent in IMAP's modified UTF-7)."""
        with self._session() as client:
            client.create(_mailbox(name))

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4]:
        with imaplib.IMAP4(self.host, self.port, timeout=10) as client:
            client.login(self.user, self.password)
            yield client


def _mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string; imaplib sends its arguments as they are."""
    encoded = utf7_encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dovecot_binary(search_path: str | None = None) -> str:
    """Dovecot's master program, looked for on the PATH and in /usr/sbin. Without it the test skips,
    or fails under CI=true, where every test must run."""
    path = search_path if search_path is not None else os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    found = shutil.which("dovecot", path=path)
    if found:
        return found
    if in_ci():
        pytest.fail(f"{NOT_INSTALLED}, and CI=true: `make system-deps` installs it", pytrace=False)
    pytest.skip(NOT_INSTALLED)


class Reaper:
    """The Dovecot masters told to stop, and their folders. A master takes about a second to stop
    (once its children have quit, it gives them one second more to close their listening sockets), so
    a test does not wait for its own: the session waits for them all at its end, together."""

    def __init__(self) -> None:
        self._stopping: list[tuple[subprocess.Popen[bytes], Path]] = []

    def stop(self, process: subprocess.Popen[bytes], folder: Path) -> None:
        if process.poll() is None:
            process.terminate()
        self._stopping.append((process, folder))

    def finish(self) -> None:
        stopping, self._stopping = self._stopping, []
        for process, _ in stopping:
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The master is still there, so its process group (its own session) is ours:
                # this ends its children too, even those still serving a client.
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for _, folder in stopping:
            shutil.rmtree(folder)


@contextlib.contextmanager
def dovecot(tls: TlsFiles, reaper: Reaper) -> Iterator[ImapServer]:
    """Start `dovecot -F` with a configuration of its own in a new folder, on two free ports of
    127.0.0.1; yield once a client can log in on both; then tell it to stop (`reaper` waits)."""
    binary = dovecot_binary()
    for attempt in range(1, START_ATTEMPTS + 1):
        folder = Path(tempfile.mkdtemp(prefix="dovecot-"))
        port, tls_port = free_ports(2)
        server = ImapServer(HOST, port, tls_port, tls.cafile, USER, PASSWORD, folder / "dovecot.log")
        process = _start_dovecot(binary, folder, server, tls)
        problem = _wait_for_dovecot(process, server)
        if problem is None:
            break
        reaper.stop(process, folder)
        output = "\n".join(_tail(path) for path in (server.log_path, folder / "dovecot.out"))
        if "Address already in use" not in output or attempt == START_ATTEMPTS:
            pytest.fail(f"Dovecot did not start ({problem}); its log and output:\n{output}", pytrace=False)
    try:
        yield server
    finally:
        reaper.stop(process, folder)


def _start_dovecot(binary: str, folder: Path, server: ImapServer, tls: TlsFiles) -> subprocess.Popen[bytes]:
    # The login and mail processes run as other users than root: they must get through the folder.
    folder.chmod(0o755)
    mail_user, login_user, internal_user = _dovecot_users()
    mail = folder / "mail"
    mail.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(mail, mail_user.pw_uid, mail_user.pw_gid)
    (folder / "passwd").write_text(f"{server.user}:{{PLAIN}}{server.password}::::::\n", encoding="utf-8")
    # Running as root, the login processes are chrooted into base_dir/login as usual; otherwise no
    # process can change its user or root, and every service runs as the user of the tests.
    as_user = (
        ""
        if os.geteuid() == 0
        else f"""
default_internal_group = {grp.getgrgid(os.getegid()).gr_name}
service imap-login {{
  chroot =
}}
service anvil {{
  chroot =
}}
service auth-worker {{
  user = $default_internal_user
}}
"""
    )
    config = f"""# Written by tests/servers.py: a Dovecot of the tests' own; no system configuration is read.
protocols = imap
listen = {server.host}
instance_name = dovecot-tests
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {server.log_path}
default_login_user = {login_user.pw_name}
default_internal_user = {internal_user.pw_name}

ssl = yes
ssl_cert = <{tls.certfile}
ssl_key = <{tls.keyfile}
disable_plaintext_auth = no
auth_mechanisms = plain login

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={mail}/%u
}}
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
first_valid_gid = {mail_user.pw_gid}
last_valid_gid = {mail_user.pw_gid}
mail_location = maildir:~/Maildir:LAYOUT=fs
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  mail_max_userip_connections = 100
}}

service imap-login {{
  inet_listener imap {{
    port = {server.port}
    ssl = no
  }}
  inet_listener imaps {{
    port = {server.tls_port}
    ssl = yes
  }}
}}
{as_user}"""
    path = folder / "dovecot.conf"
    path.write_text(config, encoding="utf-8")
    with (folder / "dovecot.out").open("wb") as output:
        return subprocess.Popen(
            [binary, "-F", "-c", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, for Reaper.finish's last resort
        )


def _dovecot_users() -> tuple[pwd.struct_passwd, pwd.struct_passwd, pwd.struct_passwd]:
    """The users of the mail processes, the login processes and Dovecot's own internal ones. As root:
    `nobody`, and Debian's `dovenull` and `dovecot` (`nobody` where they are missing); Dovecot never
    keeps mail as root. Otherwise the user running the tests, for all three."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return me, me, me
    nobody = pwd.getpwnam("nobody")

    def user(name: str) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            return nobody

    return nobody, user("dovenull"), user("dovecot")


def _wait_for_dovecot(process: subprocess.Popen[bytes], server: ImapServer) -> str | None:
    """None once the user can log in on the plain port and a verified TLS session opens on the
    other; otherwise what went wrong. Polls until START_TIMEOUT."""
    context = ssl.create_default_context(cafile=server.cafile)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            return f"dovecot exited with status {process.returncode}"
        try:
            with imaplib.IMAP4(server.host, server.port, timeout=5) as client:
                client.login(server.user, server.password)
            with imaplib.IMAP4_SSL(server.host, server.tls_port, ssl_context=context, timeout=5):
                return None
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                return f"nothing listens on ports {server.port} and {server.tls_port} after {START_TIMEOUT:g} s"
            time.sleep(0.01)
        except (OSError, imaplib.IMAP4.error) as error:
            return f"{type(error).__name__}: {error}"


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else "(none)\n"
    return f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:])


# --- SMTP: aiosmtpd -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes  # the message as received, after DATA's dot-unstuffing: lines end in CRLF
    login: str | None  # the user who had logged in (AUTH)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """An aiosmtpd server of the test's own; it accepts mail only after AUTH LOGIN or PLAIN."""

    host: str
    port: int
    user: str
    password: str
    cafile: Path
    starttls: bool  # True: STARTTLS comes first (before AUTH and MAIL), with the certificate `cafile` verifies
    messages: list[ReceivedMail]  # every message received, in order


class _Mailroom:
    """aiosmtpd's handler and authenticator: one user and password; keeps every message."""

    def __init__(self, user: str, password: str, messages: list[ReceivedMail]) -> None:
        self.user = user
        self.password = password
        self.messages = messages

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:  # fmt: skip
        known = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        # handled=False: aiosmtpd answers 235, or 535 for a wrong user or password.
        return AuthResult(success=known, handled=False, auth_data=self.user if known else None)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            content=envelope.original_content or b"",
            login=session.auth_data,
        )
        self.messages.append(received)
        return "250 2.0.0 Message accepted"


@contextlib.contextmanager
def smtp(tls: TlsFiles, *, starttls: bool) -> Iterator[SmtpServer]:
    """Start aiosmtpd's Controller (a thread with its own event loop) on a free port of 127.0.0.1;
    yield; stop it. AUTH is required before MAIL; with `starttls`, STARTTLS is required before both,
    otherwise AUTH goes in clear text, which is fine on the loopback."""
    messages: list[ReceivedMail] = []
    mailroom = _Mailroom(USER, PASSWORD, messages)
    context = None
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.certfile, tls.keyfile)
    for attempt in range(1, START_ATTEMPTS + 1):
        (port,) = free_ports(1)
        controller = Controller(
            mailroom,
            hostname=HOST,
            port=port,
            server_hostname="localhost",
            ready_timeout=START_TIMEOUT,
            authenticator=mailroom.authenticate,
            auth_required=True,
            auth_require_tls=starttls,
            tls_context=context,
            require_starttls=starttls,
        )
        try:
            controller.start()
            break
        except OSError as error:
            controller.stop(no_assert=True)
            controller.loop.close()
            if "Address already in use" not in str(error) or attempt == START_ATTEMPTS:
                raise
    try:
        yield SmtpServer(HOST, port, USER, PASSWORD, tls.cafile, starttls, messages)
    finally:
        controller.stop()
