"""Generations sent on aiohttp's session directly (the production path), against a real socket server.

The app tests inject httpx transports, which take the httpx path; these tests pin down the aiohttp one:
what goes on the wire, the status and error body, the streamed body, and each failure's mapping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
from httpx_aiohttp import AiohttpTransport
from tests.conftest import UPSTREAM_KEY, make_settings

from ccgw import errors
from ccgw.upstream import opener
from ccgw.upstream.client import CommandCodeClient

Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


class Server:
    """A one-scenario HTTP/1.1 server: records each request's head and body, answers with `reply`."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[tuple[list[tuple[str, str]], bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")[1:-2]
                headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines)]
                length = int(next(v for k, v in headers if k.lower() == "content-length"))
                self.requests.append((headers, await reader.readexactly(length)))
                await self.reply(writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _streams(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    for line in (b'{"type":"start"}\n', b'{"type":"text-delta","text":"hi"}\n', b'{"type":"finish"}\n'):
        writer.write(_chunk(line))
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def _refuses(writer: asyncio.StreamWriter) -> None:
    body = b'{"error":{"message":"slow down"}}'
    writer.write(
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 7\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


async def _cuts(writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunk(b'{"type":"start"}\n'))
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.transport.abort()


async def _silent(writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


@asynccontextmanager
async def upstream(reply: Reply, **timeouts: float) -> AsyncIterator[tuple[CommandCodeClient, Server]]:
    server = Server(reply)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    settings = make_settings(commandcode={"api_key": UPSTREAM_KEY, "base_url": f"http://127.0.0.1:{port}"})
    if timeouts:
        settings = settings.model_copy(update={"timeouts": settings.timeouts.model_copy(update=timeouts)})
    transport = AiohttpTransport(client=aiohttp.ClientSession())
    async with httpx.AsyncClient(transport=transport) as http:
        try:
            yield CommandCodeClient(http, transport, settings), server
        finally:
            listening.close()


@pytest.fixture(autouse=True)
def _no_httpx_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests must take the aiohttp path: building an httpx request fails them."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the httpx path was taken")

    monkeypatch.setattr(opener.httpx, "Request", refuse)


def test_opener_aiohttp_sends_exactly_the_clis_headers_and_streams_the_body() -> None:
    async def go() -> tuple[list[bytes], Server]:
        async with upstream(_streams) as (client, server):
            params = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            stream = await client.generate(params, thread="5f0c6a8e-8d4a-4b7e-9f3c-0a1b2c3d4e5f", api_key=UPSTREAM_KEY)
            chunks = [chunk async for chunk in stream.chunks()]
            await stream.aclose()
            again = await client.generate(params, thread="5f0c6a8e-8d4a-4b7e-9f3c-0a1b2c3d4e5f", api_key=UPSTREAM_KEY)
            assert [c async for c in again.chunks()]
            await again.aclose()
            return chunks, server

    chunks, server = asyncio.run(go())
    assert b"".join(chunks) == b'{"type":"start"}\n{"type":"text-delta","text":"hi"}\n{"type":"finish"}\n'
    assert len(server.requests) == 2
    headers, body = server.requests[0]
    names = [name.lower() for name, _ in headers]
    assert sorted(names) == sorted(
        [
            "host", "content-length", "content-type", "user-agent", "x-command-code-version", "x-cli-environment",
            "x-project-slug", "x-taste-learning", "x-session-id", "authorization", "traceparent", "accept",
            "accept-encoding",
        ]
    )  # fmt: skip
    values = {name.lower(): value for name, value in headers}
    assert values["user-agent"] == "cli"
    assert values["accept-encoding"] == "identity"
    assert values["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert b'"threadId":"5f0c6a8e-8d4a-4b7e-9f3c-0a1b2c3d4e5f"' in body


def test_opener_aiohttp_refusal_is_mapped_with_its_body_and_headers() -> None:
    async def go() -> errors.GatewayError:
        async with upstream(_refuses) as (client, _):
            with pytest.raises(errors.GatewayError) as raised:
                await client.generate({"model": "m"}, thread="t", api_key=UPSTREAM_KEY)
            return raised.value

    error = asyncio.run(go())
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == 7
    assert "slow down" in error.message


def test_opener_aiohttp_connection_cut_mid_body_is_an_upstream_error() -> None:
    async def go() -> tuple[list[bytes], errors.GatewayError]:
        async with upstream(_cuts) as (client, _):
            stream = await client.generate({"model": "m"}, thread="t", api_key=UPSTREAM_KEY)
            got: list[bytes] = []
            with pytest.raises(errors.GatewayError) as raised:
                async for chunk in stream.chunks():
                    got.append(chunk)
            await stream.aclose()
            return got, raised.value

    got, error = asyncio.run(go())
    assert got == [b'{"type":"start"}\n']
    assert type(error) is errors.UpstreamError
    assert error.status == 502


def test_opener_aiohttp_unreachable_upstream_is_502() -> None:
    async def go() -> errors.GatewayError:
        async with upstream(_streams) as (client, _):
            client._generate_url = "http://127.0.0.1:9/alpha/generate"  # discard port: refused
            with pytest.raises(errors.GatewayError) as raised:
                await client.generate({"model": "m"}, thread="t", api_key=UPSTREAM_KEY)
            return raised.value

    error = asyncio.run(go())
    assert (error.status, error.code) == (502, "upstream_unreachable")


def test_opener_aiohttp_silent_upstream_times_out_as_504() -> None:
    async def go() -> errors.GatewayError:
        async with upstream(_silent, connect=0.1, first_event=0.2) as (client, _):
            with pytest.raises(errors.GatewayError) as raised:
                await client.generate({"model": "m"}, thread="t", api_key=UPSTREAM_KEY)
            return raised.value

    error = asyncio.run(go())
    assert error.status == 504
