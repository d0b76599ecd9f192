"""The two upstream paths behind one call: open a generation on the CLI endpoint or on the Provider API.

Whichever path an account takes (:mod:`ccgw.upstream.access`), :meth:`UpstreamPaths.opener` gives the
gateway a function from one generation's internal params to an open :class:`GenerateStream`, read into the
same turn events; so the gateway's admission, retries, failover and accounting never learn which path
served a request.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from ccgw.catalog import Model
from ccgw.translate.common import ReasoningLookup, UpstreamRequest
from ccgw.translate.provider_request import endpoint_for, provider_body
from ccgw.upstream.access import Path
from ccgw.upstream.client import CommandCodeClient, GenerateStream
from ccgw.upstream.provider import ProviderClient

Opener = Callable[[dict[str, Any]], Awaitable[GenerateStream]]


class UpstreamPaths:
    def __init__(
        self,
        cli: CommandCodeClient,
        provider: ProviderClient,
        known: Callable[[str], Model | None],
        memory: ReasoningLookup,
    ) -> None:
        self.cli = cli
        self.provider = provider
        self._known = known  # the catalog's entry for a model id (its `supported_endpoints`)
        self._memory = memory

    def opener(self, path: Path, request: UpstreamRequest, model: str, api_key: str, thread: str) -> Opener:
        """How each generation of `request` is opened on `path` (params: one choice's internal params)."""
        if path == "cli":
            return functools.partial(self.cli.generate, thread=thread, api_key=api_key)
        known = self._known(model)
        endpoint = endpoint_for(model, known.endpoints if known else ())

        def open_provider(params: dict[str, Any]) -> Awaitable[GenerateStream]:
            body = provider_body(request, params, endpoint, self._memory)
            return self.provider.open(endpoint, body, api_key=api_key)

        return open_provider
