"""How a generation's HTTP request goes out: on aiohttp itself, or through an httpx transport.

The gateway's transport is httpx-aiohttp's (httpx's API over aiohttp's connection pool and C
parser). For `/alpha/generate`, the request of every model call, ccgw talks to that aiohttp session
directly: building the httpx request and response objects and relaying the body through httpx's
iterators cost about 100 µs per call, a tenth of a small request's CPU. Any other transport (tests
inject `httpx.MockTransport` or `httpx.ASGITransport`) is used through httpx, as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

_NO_TIMEOUTS = aiohttp.ClientTimeout()  # the caller bounds the wait (and each silence) itself


class Opened(Protocol):
    """A response whose status and headers have arrived; the body is read with :meth:`chunks`."""

    status: int
    headers: Mapping[str, str]  # case-insensitive

    def chunks(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


Opener = Callable[[str, bytes, Mapping[str, str]], Awaitable[Opened]]  # (url, body, headers) → a POST's response


class _AiohttpOpened:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    async def aclose(self) -> None:
        self._response.release()  # back to the pool if the body was read whole, else the connection is closed


class _HttpxOpened:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()

    async def aclose(self) -> None:
        await self._response.aclose()


def opener_for(transport: httpx.AsyncBaseTransport) -> Opener:
    """POST with `transport`'s own aiohttp session when it has one, else through httpx."""
    if isinstance(transport, AiohttpTransport) and isinstance(transport.client, aiohttp.ClientSession):
        session = transport.client

        async def post_aiohttp(url: str, body: bytes, headers: Mapping[str, str]) -> Opened:
            response = await session.post(
                url, data=body, headers=headers, allow_redirects=False, auto_decompress=False, timeout=_NO_TIMEOUTS
            )
            return _AiohttpOpened(response)

        return post_aiohttp

    async def post_httpx(url: str, body: bytes, headers: Mapping[str, str]) -> Opened:
        request = httpx.Request("POST", url, content=body, headers=headers)
        return _HttpxOpened(await transport.handle_async_request(request))

    return post_httpx
