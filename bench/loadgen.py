"""A small, fast HTTP/1.1 load generator: raw keep-alive sockets, httptools parsing, uvloop.

One :class:`Connection` carries one request at a time and times it at three points: the first
response byte, the first occurrence of a marker (the first content token) and the end of the body.
Bodies are not kept: each read is scanned for the markers that show a response ended the way it should.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httptools

log = logging.getLogger("bench")

RESPONSE_TIMEOUT = 300.0  # seconds a response may take before it counts as an error
EDGE = 64  # markers are at most this long; a marker split across two reads is still found


@dataclass(frozen=True, slots=True)
class Request:
    """A pre-encoded request: `raw` is written as is; `marker` times the first token; the body must
    contain every one of `expect` (each at most `EDGE` bytes) for the response to count as complete."""

    raw: bytes
    marker: bytes = b""
    expect: tuple[bytes, ...] = ()


def build_request(
    host: str,
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    marker: bytes = b"",
    expect: Sequence[bytes] = (),
) -> Request:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in {"host", "content-length", "connection"}]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Request(head + body, marker, tuple(expect))


@dataclass(slots=True)
class Result:
    status: int
    started: float
    first_byte: float
    marker_at: float
    ended: float
    body_bytes: int
    ok: bool

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def ttft(self) -> float:
        return self.marker_at - self.started if self.marker_at else float("nan")


class _Exchange:
    """httptools callbacks for one response."""

    def __init__(self, request: Request, future: asyncio.Future[None]) -> None:
        self.request = request
        self.future = future
        self.started = time.perf_counter()
        self.first_byte = 0.0
        self.marker_at = 0.0
        self.status = 0
        self.size = 0
        self.seen = [False] * len(request.expect)
        self.edge = b""

    def on_headers_complete(self) -> None:
        pass

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        window = self.edge + body[:EDGE]
        marker = self.request.marker
        if marker and not self.marker_at and (marker in body or marker in window):
            self.marker_at = time.perf_counter()
        for i, expected in enumerate(self.request.expect):
            if not self.seen[i] and (expected in body or expected in window):
                self.seen[i] = True
        self.edge = body[-EDGE:]

    def on_message_complete(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.parser: httptools.HttpResponseParser | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is no subclass

    def data_received(self, data: bytes) -> None:
        exchange, parser = self.exchange, self.parser
        if exchange is None or parser is None:
            return
        if not exchange.first_byte:
            exchange.first_byte = time.perf_counter()
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not exchange.future.done():
                exchange.future.set_exception(exc)
            return
        if not exchange.status:
            exchange.status = parser.get_status_code()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(ConnectionError("connection closed mid-response"))


class Connection:
    """A keep-alive connection; reopened transparently when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._protocol: _Protocol | None = None

    async def connect(self) -> _Protocol:
        if self._protocol is None or self._protocol.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self._protocol = protocol
        return self._protocol

    async def send(self, request: Request) -> Result:
        started = time.perf_counter()
        try:
            protocol = await self.connect()
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            exchange = _Exchange(request, future)
            exchange.started = started
            protocol.exchange = exchange
            protocol.parser = httptools.HttpResponseParser(exchange)
            assert protocol.transport is not None
            protocol.transport.write(request.raw)
            async with asyncio.timeout(RESPONSE_TIMEOUT):
                await future
        except (OSError, ConnectionError, TimeoutError, httptools.HttpParserError) as exc:
            log.warning("request to :%d failed: %s: %s", self.port, type(exc).__name__, exc)
            self.close()
            return Result(0, started, 0.0, 0.0, time.perf_counter(), 0, False)
        ended = time.perf_counter()
        ok = exchange.status == 200 and all(exchange.seen)
        if not ok:  # say why, so a run's error count can be explained
            log.warning("request to :%d: status %d, markers seen %s", self.port, exchange.status, exchange.seen)
        return Result(exchange.status, started, exchange.first_byte, exchange.marker_at, ended, exchange.size, ok)

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None


async def sequential(conn: Connection, request: Request, count: int) -> list[Result]:
    return [await conn.send(request) for _ in range(count)]


async def for_duration(conn: Connection, request: Request, seconds: float, min_count: int = 1) -> list[Result]:
    """Send `request` back to back until `seconds` passed and at least `min_count` were sent."""
    results: list[Result] = []
    deadline = time.perf_counter() + seconds
    while len(results) < min_count or time.perf_counter() < deadline:
        results.append(await conn.send(request))
    return results


async def burst(
    host: str, port: int, request: Request, count: int, *, during: Callable[[], Awaitable[None]] | None = None
) -> list[Result]:
    """`count` requests at once, each on its own new connection; `during` runs alongside (sampling)."""
    conns = [Connection(host, port) for _ in range(count)]
    await asyncio.gather(*(c.connect() for c in conns))
    sampler = asyncio.ensure_future(during()) if during is not None else None
    try:
        return list(await asyncio.gather(*(c.send(request) for c in conns)))
    finally:
        if sampler is not None:
            sampler.cancel()
        for conn in conns:
            conn.close()


async def closed_loop(host: str, port: int, request: Request, concurrency: int, seconds: float) -> list[Result]:
    """`concurrency` workers, each sending back to back on its own connection for `seconds`."""
    conns = [Connection(host, port) for _ in range(concurrency)]
    await asyncio.gather(*(c.connect() for c in conns))
    deadline = time.perf_counter() + seconds

    async def worker(conn: Connection) -> list[Result]:
        out: list[Result] = []
        while time.perf_counter() < deadline:
            out.append(await conn.send(request))
        return out

    try:
        per_worker = await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            conn.close()
    return [r for results in per_worker for r in results]
