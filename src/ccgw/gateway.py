"""The gateway's shared state and the steps every model endpoint takes.

One :class:`Gateway` lives for the app's life (made in the lifespan) and holds the single upstream
HTTP client, the model catalog, the usage store and the reasoning memory. Endpoints translate
their request, then call :meth:`Gateway.open` and :func:`respond`, so opening, settling,
streaming, folding, cancellation and accounting are written once for every protocol.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ccgw import errors, limits
from ccgw.accounts import Account, AccountPool, account_level, final_refusal
from ccgw.auth import Identity, KeyRing
from ccgw.catalog import Catalog
from ccgw.config import Settings
from ccgw.images import ImageFetcher
from ccgw.jsonutil import dumps
from ccgw.metrics import Metrics
from ccgw.plan import PlanMonitor, fetch_plan
from ccgw.reasoning_memory import ReasoningMemory
from ccgw.relay import Stage, Translator, collect, relay
from ccgw.translate.common import UpstreamRequest
from ccgw.translate.stops import StopFilter
from ccgw.turns import TurnGroup
from ccgw.upstream.access import Path as UpstreamPath
from ccgw.upstream.access import ProviderAccess
from ccgw.upstream.client import NO_KEY_MESSAGE, CommandCodeClient, GenerateStream
from ccgw.upstream.envelope import thread_id
from ccgw.upstream.events import Usage
from ccgw.upstream.paths import UpstreamPaths
from ccgw.upstream.provider import ProviderClient
from ccgw.usage import UsageRecord, UsageStore
from ccgw.web import JSONResponse

T = TypeVar("T")
log = logging.getLogger("ccgw")


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
    route: str = ""  # the request's path, for the log


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How a protocol frames its stream."""

    encode: Callable[[Iterable[dict[str, Any]]], bytes]
    keepalive: bytes
    trailer: bytes = b""
    media_type: str = "text/event-stream"


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        accounts: Sequence[tuple[str, str]],
        images: ImageFetcher,
        usage: UsageStore,
        config_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.upstream = CommandCodeClient(http, transport, settings)
        self.provider = ProviderClient(http, transport, settings)
        self.images = images
        self.usage = usage
        self.keys = KeyRing(settings.local_keys(), config_path=config_path)
        self.memory = ReasoningMemory()
        self.metrics = Metrics()
        self.clock = clock
        self.pool = AccountPool(
            [self._account(name, key) for name, key in accounts], clock, backoff=settings.retries.backoff
        )
        self._no_plan = PlanMonitor(_nothing, ttl=3600, clock=clock)
        self._live: set[TurnGroup] = set()  # open generations, accounted at shutdown if still running
        self.catalog = Catalog(
            lambda: self.upstream.get_json("/provider/v1/models"),
            ttl=settings.models_cache_ttl,
            exclude=settings.exclude_models,
            aliases=settings.model_aliases,
        )
        self.paths = UpstreamPaths(self.upstream, self.provider, self.catalog.known, self.memory)

    def _account(self, name: str, key: str) -> Account:
        fetch = functools.partial(fetch_plan, self.upstream.get_json, key)
        commandcode = self.settings.commandcode
        access = ProviderAccess(
            commandcode.upstream_of(name),
            functools.partial(self.provider.has_access, key),
            interval=commandcode.provider_check_interval,
            clock=self.clock,
            name=name,
        )
        return Account(name, key, PlanMonitor(fetch, ttl=self.settings.plan_cache_ttl, clock=self.clock), access)

    @property
    def plan(self) -> PlanMonitor:
        """The first account's plan (what `/usage` shows as `plan`)."""
        accounts = self.pool.accounts
        return accounts[0].plan if accounts else self._no_plan

    def start(self) -> None:
        """Background work at start-up: fetch each account's plan, find out its upstream path."""
        for account in self.pool.accounts:
            account.plan.refresh_soon()
            account.access.check_soon()

    async def aclose(self) -> None:
        await asyncio.gather(*(group.aclose() for group in list(self._live)))
        for account in self.pool.accounts:
            await account.plan.aclose()
            await account.access.aclose()
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
        """The local key's checks before anything goes upstream: its models, rates and budgets."""
        key = call.identity.key
        if key is None:
            return
        try:
            limits.check(key, call.model, self.usage.window_usage(key.name), self.clock())
        except errors.GatewayError as refusal:
            self.account(call, Usage(), refusal, None, upstream=False)
            raise
        if limits.has_request_limits(key):
            self.usage.admit(key.name)

    async def open(self, request: UpstreamRequest, call: Call) -> TurnGroup:
        """Start the upstream generation(s) and hold them until they produced something.

        Failures before that point (nothing has reached the client) cool the account down and are
        tried again on the next healthy account, or on the same one after a short wait, within the
        configured number of attempts and seconds. A failure that remains is raised here, so the
        client gets a plain HTTP error rather than a broken stream.
        """
        self.admit(call)
        seed = _conversation_seed(call.identity.name, request.params)
        retries = self.settings.retries
        deadline = self.clock() + retries.max_seconds
        attempts = waits = 0
        error: errors.GatewayError | None = None
        tried = ("", "")  # the last account and path tried, for the ledger
        while True:
            account = self._pick(seed, call.model)
            if account is None:
                # Every account is cooling down: wait for the first to recover if that is soon
                # (never for a used-up window or model limit: the CLI does not retry those either).
                wait = self.pool.earliest_recovery(call.model)
                if wait is None or waits >= retries.attempts or wait > retries.max_wait or final_refusal(error):
                    break
                if self.clock() + wait >= deadline:
                    break
                waits += 1
                await asyncio.sleep(wait + random.uniform(0, 0.1 + wait / 4))  # jitter spreads the retries
                continue
            attempts += 1
            path = await account.access.path_for()
            tried = (account.name, path)
            try:
                group = await self._start(request, call, account, path, thread_id(seed))
            except errors.GatewayError as failure:
                error = failure
                if failure.code == "upgrade_required" and account.access.no_access():
                    attempts -= 1  # the plan lost its Provider API: the same account, on the CLI endpoint
                    continue
                self._failed(account, failure, call.model)
                if not account_level(failure) or attempts >= retries.attempts or self.clock() >= deadline:
                    break
                continue
            self.pool.succeeded(account)
            return group
        final = self._give_up(call.model, error)
        self.account(call, Usage(), final, None, upstream=attempts > 0, account=tried[0], path=tried[1])
        raise final

    def _pick(self, seed: str, model: str) -> Account | None:
        """The conversation's healthy account whose plan window is not used up."""
        for account in self.pool.candidates(seed, model):
            try:
                account.plan.guard()
            except (errors.RateLimitError, errors.PaymentRequiredError) as exhausted:
                self.pool.failed(account, exhausted, model)
                continue
            return account
        return None

    def _failed(self, account: Account, error: errors.GatewayError, model: str) -> None:
        if isinstance(error, errors.RateLimitError) and error.window:
            account.plan.note_exhausted(error.window, error.resets_in or error.retry_after)
            error.retry_after = max(error.retry_after or 0, error.resets_in or 0) or error.retry_after
        self.pool.failed(account, error, model)
        self.metrics.upstream_error(error.code or type(error).__name__)

    def _give_up(self, model: str, error: errors.GatewayError | None) -> errors.GatewayError:
        """The error a client gets when no attempt succeeded."""
        accounts = self.pool.accounts
        if not accounts:
            return errors.ServiceUnavailableError(NO_KEY_MESSAGE, code="upstream_key_missing")
        if error is not None and (len(accounts) == 1 or not account_level(error)):
            return error
        wait = self.pool.earliest_recovery(model)
        remembered = accounts[0].refusal(model, self.clock()) if len(accounts) == 1 else None
        if remembered is not None:  # the only account is still cooling down from an earlier request
            return type(remembered)(remembered.message, code=remembered.code, retry_after=wait)
        return errors.ServiceUnavailableError(
            f"No healthy Command Code account can serve {model!r} now; the first recovers in {wait or 0:.0f} s",
            code="no_healthy_account",
            retry_after=wait,
        )

    async def _start(
        self, request: UpstreamRequest, call: Call, account: Account, path: UpstreamPath, thread: str
    ) -> TurnGroup:
        generate = self.paths.opener(path, request, call.model, account.api_key, thread)
        choices = request.choice_params()
        opened: list[GenerateStream | BaseException]
        if request.n == 1:  # no gather (and its tasks) for the common case
            try:
                opened = [await generate(choices[0])]
            except Exception as exc:
                opened = [exc]
        else:
            opened = await asyncio.gather(*(generate(params) for params in choices), return_exceptions=True)
        streams = [s for s in opened if isinstance(s, GenerateStream)]
        failure = next((e for e in opened if isinstance(e, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(s.aclose() for s in streams), return_exceptions=True)
            if isinstance(failure, errors.GatewayError):
                raise failure
            raise errors.UpstreamError(f"Cannot reach Command Code: {type(failure).__name__}") from failure
        self.metrics.in_flight.inc()
        group = TurnGroup(
            streams,
            lambda done: self._finished(call, done, account.name, path),
            clock=self.clock,
            reopen=lambda i: generate(choices[i]),
        )
        self._live.add(group)
        try:
            await group.settle(self.settings.timeouts.keepalive)
        except errors.GatewayError:
            group.retried = True  # its outcome is the retry's to report, not this group's
            raise
        return group

    def _finished(self, call: Call, group: TurnGroup, account: str, path: str) -> None:
        self._live.discard(group)
        self.metrics.in_flight.dec()
        if group.retried:
            return
        if group.error is not None and group.error.code != "client_disconnected":
            self.metrics.upstream_error(group.error.code or type(group.error).__name__)
        self.account(call, group.usage, group.error, group.first_output_at, account=account, path=path)

    def account(
        self,
        call: Call,
        usage: Usage,
        error: errors.GatewayError | None,
        first_output_at: float | None,
        *,
        upstream: bool = True,
        account: str = "",
        path: str = "",
    ) -> None:
        """Record one request in the ledger and the metrics, with the account and the upstream path
        that served it; a request ccgw refused itself (`upstream=False`) is also logged, and counts as
        neither an upstream request nor a cost."""
        now = self.clock()
        if error is not None:
            error.recorded = True
            if not upstream:
                log.info(
                    "rejected %s %s: %d %s: %s",
                    call.request_id, call.route or call.endpoint, error.status, error.code or type(error).__name__,
                    error.message,
                )  # fmt: skip
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
            upstream=upstream,
            account=account,
            path=path,
        )
        self.usage.record(record)
        self.metrics.observe(record)


async def _nothing() -> None:
    """The plan "document" when no account is configured (parsed as unavailable)."""


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
    """Await `work` here, cancelling it if the client hangs up first (one watcher task, no waits)."""
    current = asyncio.current_task()
    assert current is not None
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    watcher.add_done_callback(lambda done: done.cancelled() or current.cancel())
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            current.uncancel()
            raise ClientDisconnected from None
        raise
    finally:
        watcher.cancel()


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
        return StreamingResponse(body, media_type=fmt.media_type, headers=sse_headers)
    except BaseException:
        group.close()
        raise
