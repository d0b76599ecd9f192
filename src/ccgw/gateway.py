"""The gateway's shared state and the steps every model endpoint takes.

One :class:`Gateway` lives for the app's life (made in the lifespan) and holds the single upstream
HTTP client, the model catalog, the usage store and the reasoning memory. Endpoints translate
their request, then call :meth:`Gateway.open` and :func:`respond`, so opening, settling,
streaming, folding, cancellation and accounting are written once for every protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ccgw import errors, limits
from ccgw.auth import Identity, KeyRing
from ccgw.catalog import Catalog
from ccgw.config import Settings
from ccgw.images import ImageFetcher
from ccgw.jsonutil import dumps
from ccgw.metrics import Metrics
from ccgw.plan import PlanMonitor
from ccgw.reasoning_memory import ReasoningMemory
from ccgw.relay import Stage, Translator, collect, relay
from ccgw.translate.common import UpstreamRequest
from ccgw.translate.stops import StopFilter
from ccgw.turns import TurnGroup
from ccgw.upstream.client import CommandCodeClient, GenerateStream
from ccgw.upstream.envelope import thread_id
from ccgw.upstream.events import Usage
from ccgw.usage import UsageRecord, UsageStore
from ccgw.web import JSONResponse

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client hung up before a non-streaming answer was ready."""


@dataclass(frozen=True, slots=True)
class Call:
    """Who asked for what: the accounting facts of one model request."""

    request_id: str
    identity: Identity
    endpoint: str
    model: str
    started: float


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How a protocol frames its stream."""

    encode: Callable[[Iterable[dict[str, Any]]], bytes]
    keepalive: bytes
    trailer: bytes = b""


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        upstream_key: str | None,
        images: ImageFetcher,
        usage: UsageStore,
        config_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.upstream = CommandCodeClient(http, settings, upstream_key)
        self.images = images
        self.usage = usage
        self.keys = KeyRing(settings.local_keys(), config_path=config_path)
        self.memory = ReasoningMemory()
        self.metrics = Metrics()
        self.clock = clock
        self.plan = PlanMonitor(
            lambda: self.upstream.get_json("/alpha/billing/credits"), ttl=settings.plan_cache_ttl, clock=clock
        )
        self.catalog = Catalog(
            lambda: self.upstream.get_json("/provider/v1/models", auth=False),
            ttl=settings.models_cache_ttl,
            exclude=settings.exclude_models,
            aliases=settings.model_aliases,
        )

    async def aclose(self) -> None:
        await self.plan.aclose()
        await self.catalog.aclose()
        await self.images.aclose()

    def stages(self, request: UpstreamRequest) -> list[list[Stage]]:
        """Per choice: stop sequences first, so remembered reasoning matches what the client saw."""
        per_choice: list[list[Stage]] = []
        for _ in range(request.n):
            stages: list[Stage] = [StopFilter(request.stop)] if request.stop else []
            stages.append(self.memory.recorder())
            per_choice.append(stages)
        return per_choice

    def admit(self, call: Call) -> None:
        """The local checks before any upstream call: the key's limits, then the plan's windows."""
        key = call.identity.key
        try:
            if key is not None:
                limits.check(key, call.model, self.usage.window_usage(key.name), self.clock())
            self.plan.guard()
        except errors.GatewayError as refusal:
            self.account(call, Usage(), refusal, None)
            raise
        if key is not None and limits.has_request_limits(key):
            self.usage.admit(key.name)

    async def open(self, request: UpstreamRequest, call: Call) -> TurnGroup:
        """Start the upstream generation(s); a refusal raises here, before any byte is sent."""
        self.admit(call)
        thread = thread_id(_conversation_seed(call.identity.name, request.params))
        opened = await asyncio.gather(
            *(self.upstream.generate(request.params, thread=thread) for _ in range(request.n)),
            return_exceptions=True,
        )
        streams = [s for s in opened if isinstance(s, GenerateStream)]
        failure = next((e for e in opened if isinstance(e, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
            error = failure if isinstance(failure, errors.GatewayError) else errors.UpstreamError(str(failure))
            self.account(call, Usage(), error, None, upstream=True)
            raise failure
        self.metrics.in_flight.inc()

        def done(usage: Usage, error: errors.GatewayError | None, first_output_at: float | None) -> None:
            self.metrics.in_flight.dec()
            self.account(call, usage, error, first_output_at, upstream=True)

        return TurnGroup(streams, done, clock=self.clock)

    def account(
        self,
        call: Call,
        usage: Usage,
        error: errors.GatewayError | None,
        first_output_at: float | None,
        *,
        upstream: bool = False,
    ) -> None:
        """Record one request in the ledger and the metrics; learn from the upstream's refusals."""
        now = self.clock()
        if isinstance(error, errors.RateLimitError) and upstream:
            self.plan.note_exhausted(error.window, error.retry_after)
        record = UsageRecord(
            request_id=call.request_id,
            key=call.identity.name,
            endpoint=call.endpoint,
            model=call.model,
            status="ok" if error is None else str(error.code or type(error).__name__),
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_micro=round(usage.cost_usd * 1_000_000),
            latency_ms=(now - call.started) * 1000,
            ttft_ms=None if first_output_at is None else (first_output_at - call.started) * 1000,
            at=now,
        )
        self.usage.record(record)
        self.metrics.observe(record, upstream_failure=upstream and error is not None)


def _conversation_seed(key_name: str, params: dict[str, Any]) -> str:
    """Same key, model, system prompt and first message ⇒ same conversation (and thread id)."""
    messages = params.get("messages") or []
    first = dumps(messages[0])[:4096] if messages else b""
    system = str(params.get("system", ""))[:4096].encode()
    digest = hashlib.sha256(b"\0".join([key_name.encode(), str(params.get("model")).encode(), system, first]))
    return digest.hexdigest()


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it if the client hangs up first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            raise ClientDisconnected
        return task.result()
    finally:
        watcher.cancel()
        task.cancel()


async def respond(
    gateway: Gateway,
    request: Request,
    group: TurnGroup,
    translator: Translator,
    stages: Sequence[Sequence[Stage]],
    *,
    stream: bool,
    fmt: StreamFormat,
    fold: Callable[[list[dict[str, Any]]], dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer as SSE or as one JSON document; upstream errors before the first byte are raised."""
    try:
        if not stream:
            frames = await until_disconnect(request, collect(group, translator, stages))
            return JSONResponse(fold(frames), headers=headers)
        await group.settle(gateway.settings.timeouts.keepalive)
        body = relay(
            group,
            translator,
            stages,
            encode=fmt.encode,
            keepalive=fmt.keepalive,
            keepalive_every=gateway.settings.timeouts.keepalive,
            trailer=fmt.trailer,
        )
        sse_headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})}
        return StreamingResponse(body, media_type="text/event-stream", headers=sse_headers)
    except BaseException:
        group.close()
        raise
