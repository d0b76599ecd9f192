"""The HTTP server: uvicorn with httptools, plus the limits uvicorn's httptools protocol lacks.

What uvicorn offers and what it does not (uvicorn 0.3x–0.5x, measured with real sockets):

* `h11_max_incomplete_event_size` caps the head only under h11; httptools (what `uvicorn[standard]`
  picks) buffers a request head of any size: a 100 MB header was accepted.
* `timeout_keep_alive` closes a connection idle *between* requests; nothing bounds the wait for a
  first request, nor a head trickled one byte at a time (slowloris).
* `limit_concurrency` answers 503 to new requests, but keeps every connection open, so idle
  connections still run the process out of file descriptors.

:class:`LimitedProtocol` adds, per connection: a cap on the bytes of a request's line and headers
(431), a deadline for receiving them (the connection is closed), and a cap on open connections (503,
then closed). None of them applies while a response is being sent, so streams of any length are
untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ccgw import errors
from ccgw.config import ConfigError, ServerSettings, Settings
from ccgw.jsonutil import dumps

log = logging.getLogger("ccgw.server")


class HeadersTooLargeError(errors.GatewayError):
    status = 431
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "headers_too_large"


def _raw_response(error: errors.GatewayError, reason: str) -> bytes:
    body = dumps(errors.error_body(error, "openai"))
    head = (
        f"HTTP/1.1 {error.status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n"
    )
    extra = "".join(f"{name}: {value}\r\n" for name, value in error.headers().items())
    return (head + extra + "\r\n").encode() + body


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head size cap, a head deadline and a connection cap."""

    limits: ClassVar[ServerSettings] = ServerSettings()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True  # between requests, or in the middle of a request's head
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            full = errors.ServiceUnavailableError(
                f"ccgw is serving its maximum of {self.limits.max_connections} connections "
                "(server.max_connections); try again shortly",
                code="too_many_connections",
                retry_after=1,
            )
            self._refuse(full, "Service Unavailable")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
            self._arm_head_timer()
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            too_large = HeadersTooLargeError(
                f"The request line and headers are larger than {self.limits.max_header_bytes} bytes "
                "(server.max_header_bytes)"
            )
            self._refuse(too_large, "Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_head = True  # the next request's head is timed from its first byte

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            log.debug("closing a connection that sent no complete request head in %g s", self.limits.header_timeout)
            self.transport.close()

    def _refuse(self, error: errors.GatewayError, reason: str) -> None:
        self._disarm_head_timer()
        self.transport.write(_raw_response(error, reason))
        self.transport.close()


def protocol_for(limits: ServerSettings) -> type[LimitedProtocol]:
    """A :class:`LimitedProtocol` with these limits (uvicorn builds the protocol itself)."""
    return type("CcgwProtocol", (LimitedProtocol,), {"limits": limits})


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, or a :class:`ConfigError` of one line (a taken port names the fix)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigError(f"cannot listen on {host!r}: no such address (check host or --host)") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use; pass --port") from None
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def raise_file_limit(connections: int) -> None:
    """Let the process hold `connections` client sockets and an upstream socket for each.

    The usual soft limit (1,024) is below that; the hard limit usually is not. If it is, say so once:
    past the limit `accept()` fails and new clients hang instead of getting the clear 503.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    needed = 2 * connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "the open-file limit (%d) is below what server.max_connections=%d needs (%d); lower it or raise the limit",
            soft,
            connections,
            needed,
        )


def serve(app: Any, settings: Settings, sock: socket.socket) -> None:
    """Run uvicorn on `sock` until SIGTERM/SIGINT."""
    limits = settings.server
    raise_file_limit(limits.max_connections)
    config = uvicorn.Config(
        app,
        http=protocol_for(limits),
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,  # ccgw reads neither the client's address nor the scheme: a layer less per request
        timeout_keep_alive=max(1, round(limits.keepalive_timeout)),
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the signal it stopped on, once shut down
        uvicorn.Server(config).run(sockets=[sock])
