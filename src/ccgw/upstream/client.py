"""The only network I/O towards Command Code.

:meth:`CommandCodeClient.generate` sends the request and settles its HTTP status before anything
reaches the client: a refusal becomes a :mod:`ccgw.errors` exception here, with nothing sent
downstream. A :class:`GenerateStream` then yields body chunks under two separate clocks (the
first chunk, and the idle gap between chunks; never the total length) and is closed by its owner
in a `finally`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import aiohttp
import httpx

from ccgw import bulk, errors
from ccgw.config import Settings
from ccgw.jsonutil import dumps, loads
from ccgw.silence import Silence
from ccgw.upstream import failures
from ccgw.upstream.envelope import build_envelope, build_headers
from ccgw.upstream.events import StreamReader, TurnReader
from ccgw.upstream.ndjson import NDJSONDecoder
from ccgw.upstream.opener import Opened, Opener, opener_for

ERROR_BODY_LIMIT = 64 * 1024
# What opening a generation or reading its refusal may raise, on either transport (aiohttp's or httpx's).
OPEN_ERRORS = (TimeoutError, OSError, httpx.HTTPError, aiohttp.ClientError)

NO_KEY_MESSAGE = "ccgw has no Command Code API key, so it cannot answer model requests. " + failures.KEY_HELP


def _timed_out(exc: Exception) -> bool:
    if isinstance(exc, TimeoutError):
        return True
    if not isinstance(exc, httpx.TimeoutException):
        return False
    # httpx-aiohttp reports some connection failures (refused, reset) as ConnectTimeout: a timeout
    # whose cause is a connection error is that connection error.
    cause = exc.__cause__
    return isinstance(cause, TimeoutError) or not isinstance(cause, OSError | aiohttp.ClientConnectionError)


def transport_error(exc: Exception, what: str = "Command Code") -> errors.GatewayError:
    """Map an httpx/asyncio failure to the client-facing error."""
    if _timed_out(exc):
        return errors.UpstreamTimeoutError(f"{what} did not answer in time")
    return errors.UpstreamError(f"Cannot reach {what}: {type(exc).__name__}", code="upstream_unreachable")


class GenerateStream:
    """An open generation (`/alpha/generate`, or a Provider API stream); iterate :meth:`chunks`, then
    :meth:`aclose`. `reader` makes what reads its decoded events (the CLI endpoint's NDJSON parts, or a
    Provider format), and the NDJSON decoder also reads SSE `data:` frames."""

    def __init__(
        self,
        response: Opened,
        *,
        first_timeout: float,
        idle_timeout: float,
        reader: Callable[[], StreamReader] = TurnReader,
    ) -> None:
        self.response = response
        self._first_timeout = first_timeout
        self._idle_timeout = idle_timeout
        self.reader = reader

    @staticmethod
    def decoder() -> NDJSONDecoder:
        return NDJSONDecoder()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives; the silence before the first chunk and between two is bounded."""
        raw = self.response.chunks()
        task = asyncio.current_task()
        assert task is not None
        silent: list[float] = []  # the length of the silence that timed out, once one has

        def time_out() -> None:
            silent.append(watchdog.seconds)
            task.cancel()

        watchdog = Silence(self._first_timeout, time_out)
        try:
            async for chunk in raw:
                watchdog.touch()
                watchdog.seconds = self._idle_timeout
                if chunk:
                    yield chunk
        except asyncio.CancelledError:
            if not silent:
                raise
            task.uncancel()
            raise errors.UpstreamTimeoutError(
                f"Command Code sent nothing for {silent[0]:g} s", code="upstream_idle_timeout"
            ) from None
        except httpx.TimeoutException:
            raise errors.UpstreamTimeoutError("Command Code went silent", code="upstream_idle_timeout") from None
        except (httpx.HTTPError, aiohttp.ClientError) as exc:
            raise transport_error(exc) from exc
        finally:
            watchdog.cancel()
            close = getattr(raw, "aclose", None)  # an async generator (httpx's) is closed at once
            if close is not None:
                await close()

    async def aclose(self) -> None:
        await self.response.aclose()


class CommandCodeClient:
    """Generations go straight to the client's transport: the AsyncClient layer (cookies, auth flows,
    redirects, event hooks) is nothing `/alpha/generate` uses, and it cost a third of the CPU of an
    upstream call. The rest (catalog, billing) uses the AsyncClient."""

    def __init__(self, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport, settings: Settings) -> None:
        self._http = http
        self._open = opener_for(transport)
        self._settings = settings
        self._base = settings.commandcode.base_url
        self._generate_url = f"{self._base}/alpha/generate"

    async def generate(
        self, params: dict[str, Any], *, thread: str, api_key: str, large: bool = False
    ) -> GenerateStream:
        """Open a generation; raise before returning if the upstream refuses it.

        A `large` request's envelope is encoded in pieces in a thread, so the event loop keeps answering.
        """
        envelope = build_envelope(params, thread=thread)
        content = await asyncio.to_thread(bulk.dumps, envelope) if large else dumps(envelope)
        commandcode = self._settings.commandcode
        headers = build_headers(api_key, commandcode.cli_version, thread, zdr=commandcode.zdr)
        return await open_stream(self._open, self._generate_url, content, headers, self._settings)

    async def get_json(self, path: str, *, api_key: str | None = None, limit: float = 10.0) -> Any:
        """GET a small JSON document (catalog: anonymous; billing: with the account's key)."""
        headers = {"User-Agent": "cli", "x-cli-environment": "production"}
        headers["x-command-code-version"] = self._settings.commandcode.cli_version
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        try:
            async with asyncio.timeout(limit):
                response = await self._http.get(f"{self._base}{path}", headers=headers)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise transport_error(exc) from exc
        if response.status_code != 200:
            raise failures.from_response(response.status_code, response.headers, response.content)
        try:
            return loads(response.content)
        except ValueError as exc:
            raise errors.UpstreamError(f"Command Code sent invalid JSON for {path}") from exc


async def open_stream(
    open_: Opener,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    settings: Settings,
    *,
    reader: Callable[[], StreamReader] = TurnReader,
) -> GenerateStream:
    """POST a generation and settle its status: a refusal is raised here, with its body read (bounded)."""
    timeouts = settings.timeouts
    try:
        async with asyncio.timeout(timeouts.connect + timeouts.first_event):
            response = await open_(url, content, headers)
    except OPEN_ERRORS as exc:
        raise transport_error(exc) from exc
    if response.status != 200:
        try:
            body = await _read_limited(response, ERROR_BODY_LIMIT)
        except OPEN_ERRORS:
            body = b""
        finally:
            await response.aclose()
        raise failures.from_response(response.status, response.headers, body)
    return GenerateStream(response, first_timeout=timeouts.first_event, idle_timeout=timeouts.idle, reader=reader)


async def _read_limited(response: Opened, limit: int) -> bytes:
    body = b""
    async with asyncio.timeout(10):
        async for chunk in response.chunks():
            body += chunk
            if len(body) >= limit:
                break
    return body[:limit]
