"""The official Provider API (`/provider/v1/*`, upstream-protocol.md §8): network I/O only.

:meth:`ProviderClient.open` posts a body built by `translate.provider_request` and settles the HTTP
status before anything reaches the client, as the CLI endpoint's client does; the open response is a
:class:`GenerateStream` read by the endpoint's own reader, so everything after it (keep-alives, idle
timeouts, cancellation, accounting) is shared with the CLI path.

The Messages endpoint caps `max_tokens` per model and names the ceiling when it refuses
(`max_tokens: 200000 > 128000, which is the maximum allowed number of output tokens for <model>`);
the request is sent once more at that ceiling, and later requests for the model use it from the start.

:meth:`ProviderClient.has_access` is the `auto` path's probe: a request the API's schema refuses
(`n: 2`; "n > 1 is rejected at the schema layer"), so it generates and bills nothing, and the answer
tells the plan: `403 upgrade_required` (Go, "on every request") or a 400 (a plan with API access).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import httpx

from ccgw import __version__, errors
from ccgw.config import Settings
from ccgw.jsonutil import dumps
from ccgw.translate.provider_request import Endpoint
from ccgw.upstream import failures
from ccgw.upstream.chat_reader import ChatReader
from ccgw.upstream.client import GenerateStream, open_stream, transport_error
from ccgw.upstream.events import StreamReader
from ccgw.upstream.messages_reader import MessagesReader
from ccgw.upstream.opener import opener_for

log = logging.getLogger("ccgw.provider")

PATHS: dict[Endpoint, str] = {"chat": "/provider/v1/chat/completions", "messages": "/provider/v1/messages"}
READERS: dict[Endpoint, Callable[[], StreamReader]] = {"chat": ChatReader, "messages": MessagesReader}
PROBE_BODY = {
    "model": "deepseek/deepseek-v4-flash",
    "messages": [{"role": "user", "content": "ping"}],
    "max_tokens": 1,
    "n": 2,  # refused by the schema: nothing is generated or billed
}
_CEILING = re.compile(r"max_tokens: (\d+) > (\d+)")
ANTHROPIC_VERSION = "2023-06-01"


class ProviderClient:
    def __init__(self, http: httpx.AsyncClient, transport: httpx.AsyncBaseTransport, settings: Settings) -> None:
        self._http = http
        self._open = opener_for(transport)
        self._settings = settings
        self._base = settings.commandcode.base_url
        self.ceilings: dict[str, int] = {}  # model → the `max_tokens` ceiling the Messages endpoint named

    def headers(self, api_key: str, endpoint: Endpoint) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api_key}",
            "User-Agent": f"ccgw/{__version__}",
            "Accept": "text/event-stream",
            "Accept-Encoding": "identity",  # no compression: it would hold deltas back
        }
        if endpoint == "messages":
            headers["anthropic-version"] = ANTHROPIC_VERSION
        if self._settings.commandcode.zdr:
            headers["x-cmd-zdr"] = "1"
        return headers

    async def open(self, endpoint: Endpoint, body: dict[str, Any], *, api_key: str) -> GenerateStream:
        """Send a generation; raise before returning if the Provider API refuses it."""
        ceiling = self.ceilings.get(str(body.get("model")))
        if ceiling and isinstance(body.get("max_tokens"), int) and body["max_tokens"] > ceiling:
            body = {**body, "max_tokens": ceiling}
        try:
            return await self._send(endpoint, body, api_key)
        except errors.InvalidRequestError as refused:
            lower = self._ceiling(endpoint, body, refused)
            if lower is None:
                raise
            log.info("%s takes at most %d output tokens: sending again with that", body.get("model"), lower)
            return await self._send(endpoint, {**body, "max_tokens": lower}, api_key)

    def _ceiling(self, endpoint: Endpoint, body: dict[str, Any], refused: errors.GatewayError) -> int | None:
        found = _CEILING.search(refused.message) if endpoint == "messages" else None
        if found is None or int(found.group(2)) >= int(body.get("max_tokens") or 0):
            return None
        self.ceilings[str(body.get("model"))] = int(found.group(2))
        return int(found.group(2))

    async def _send(self, endpoint: Endpoint, body: dict[str, Any], api_key: str) -> GenerateStream:
        url = f"{self._base}{PATHS[endpoint]}"
        headers = self.headers(api_key, endpoint)
        return await open_stream(self._open, url, dumps(body), headers, self._settings, reader=READERS[endpoint])

    async def has_access(self, api_key: str) -> bool | None:
        """Whether the key's plan has the Provider API: True, False (`upgrade_required`), or None when
        the answer tells nothing (a refused key, an outage)."""
        try:
            response = await self._http.post(
                f"{self._base}{PATHS['chat']}", content=dumps(PROBE_BODY), headers=self.headers(api_key, "chat")
            )
        except httpx.HTTPError as exc:
            log.warning("the Provider API could not be asked: %s", transport_error(exc).message)
            return None
        if response.status_code in (200, 400, 404, 422):
            return True
        error = failures.from_response(response.status_code, response.headers, response.content)
        if response.status_code == 403:
            return error.code != "upgrade_required"
        log.warning("the Provider API did not tell (upstream %d): %s", response.status_code, error.message)
        return None
