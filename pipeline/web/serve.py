"""Start the officer's page on 127.0.0.1, with a token of this start, and open it in the browser."""

from __future__ import annotations

import secrets
import socket
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.api import Period

HOST = "127.0.0.1"  # never another interface: the page reads hostile files on a shared network


@dataclass(frozen=True)
class Address:
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?t={self.token}"


def bind(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1 (`port` 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def serve(
    load: Callable[[], Period],
    *,
    port: int = 0,
    open_browser: bool = True,
    told: Callable[[Address], None] | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C). `told` hears the address (with its token) once listening."""
    import uvicorn

    from pipeline.web.app import create_app

    load()  # a configuration that cannot be read is said now, not on the first page
    sock = bind(port)
    address = Address(sock.getsockname()[1], secrets.token_urlsafe(24))
    app = create_app(load, token=address.token, port=address.port)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    if told is not None:
        told(address)
    if open_browser:
        webbrowser.open(address.url)
    server.run(sockets=[sock])
