"""What stands between the officer's page and everything else on the machine and the network.

The page is a server that reads hostile files, on a laptop on a shared office network. So:

- it listens on 127.0.0.1 only (`pipeline.web.serve`);
- every request needs the token made at this start: in the URL the command opens (`?t=...`), which
  is then put in a cookie of this port's own and taken out of the address bar;
- the Host header must be this server's own address (a page of another site that makes its name
  point at 127.0.0.1, "DNS rebinding", is refused), and every request that changes something must
  come from this page (its Origin header);
- every answer forbids inline script, framing by another page and guessing content types.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_PARAM = "t"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The report's own page, shown inside the report tab: its styles are in the page, it has no script.
PREVIEW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
PREVIEW_PATH = "/bao-cao/xem"


class Guard:
    """ASGI middleware: Host, token and Origin checked before the app sees a request."""

    def __init__(self, app: App, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.cookie = f"pipeline_{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host") not in self.hosts:
            await _refuse(
                send, 421, "Địa chỉ máy chủ không hợp lệ. Mở trang bằng đường dẫn mà lệnh pipeline serve in ra."
            )
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get(TOKEN_PARAM)
        if given is not None and _same(given, self.token) and scope["method"] in SAFE_METHODS:
            # The token of the opened URL goes into the cookie; the address bar keeps no token.
            rest = urlencode({k: v for k, v in query.items() if k != TOKEN_PARAM})
            location = quote(scope["path"]) + (f"?{rest}" if rest else "")
            cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await _send(send, 303, b"", [(b"location", location.encode()), (b"set-cookie", cookie.encode())])
            return
        if not _same(_cookie(headers.get("cookie", ""), self.cookie), self.token):
            await _refuse(
                send,
                403,
                "Thiếu mã truy cập hoặc mã đã cũ. Mở trang bằng đường dẫn mà lệnh pipeline serve in ra "
                "(mỗi lần chạy lệnh có một mã mới).",
            )
            return
        if scope["method"] not in SAFE_METHODS and headers.get("origin") not in self.origins:
            await _refuse(send, 403, "Yêu cầu không đến từ trang của công cụ nên bị từ chối.")
            return
        csp = PREVIEW_CSP if scope["path"] == PREVIEW_PATH else CSP

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_security_headers(csp)]
            await send(message)

        await self.app(scope, receive, guarded)


def _same(given: str, token: str) -> bool:
    """In constant time, whatever characters a request sends."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def _security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        # Not "no-referrer": under it Chromium sends `Origin: null` with a form's POST (the report's
        # sections), which the Origin check must refuse. "same-origin" gives this server its own
        # origin and every other site nothing.
        (b"referrer-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


async def _refuse(send: Send, status: int, text: str) -> None:
    body = f"<!doctype html><meta charset=utf-8><title>Từ chối</title><p>{text}</p>".encode()
    await _send(send, status, body, [(b"content-type", b"text/html; charset=utf-8")])


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode()), *_security_headers(CSP)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
