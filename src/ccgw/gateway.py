"""The gateway's shared state and the steps every model endpoint takes.

One :class:`Gateway` lives for the app's life (made in the lifespan) and holds the single upstream
HTTP client, the model catalog, the usage store and the reasoning memory. Endpoints translate
their request, then call :meth:`Gateway.open` and :func:`respond`, so opening, settling,
streaming, folding, cancellation and accounting are written once for every protocol.

Durable before acknowledged: a request is recorded when its answer ends, and its last frame (or its
JSON, or its error) goes out only after that record's commit (:meth:`Gateway.durable`).
"""

from __future__ import annotations

import asyncio
import dataclasses
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
from starlette.responses import Response

from ccgw import bulk, errors, limits
from ccgw.accounts import Account, AccountPool, account_level, final_refusal
from ccgw.auth import Identity, KeyRing
from ccgw.catalog import Catalog
from ccgw.config import Settings, resolve_accounts
from ccgw.images import ImageFetcher
from ccgw.jsonutil import dumps
from ccgw.metrics import Metrics
from ccgw.plan import PlanMonitor, fetch_plan
from ccgw.reasoning_memory import ReasoningMemory
from ccgw.relay import Stage, Translator, collect, relay
from ccgw.shared_state import SharedState
from ccgw.storage import Store
from ccgw.storage.schema import LEDGER_MODEL_CHARS
from ccgw.streaming import EventStream
from ccgw.translate.common import UpstreamRequest
from ccgw.translate.stops import StopFilter
from ccgw.translate.token_estimate import estimate_tokens
from ccgw.turns import TurnGroup
from ccgw.upstream.access import Path as UpstreamPath
from ccgw.upstream.access import ProviderAccess
from ccgw.upstream.client import NO_KEY_MESSAGE, CommandCodeClient, GenerateStream
from ccgw.upstream.envelope import thread_id
from ccgw.upstream.events import Usage
from ccgw.upstream.paths import UpstreamPaths
from ccgw.upstream.provider import ProviderClient
from ccgw.usage import UsageRecord
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
    large: bool = False  # a big body: its envelope is encoded in pieces, in a thread (see ccgw.bulk)


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How a protocol frames its stream."""

    encode: Callable[[Iterable[dict[str, Any]]], bytes]
    keepalive: bytes
    trailer: bytes = b""
    media_type: str = "text/event-stream"
    error_gap: float = 0.0  # write a failure's error frame apart, this long after earlier data (Gemini SSE)


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        transport: httpx.AsyncBaseTransport,
        accounts: Sequence[tuple[str, str]],
        images: ImageFetcher,
        store: Store,
        config_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.http = http
        self.upstream = CommandCodeClient(http, transport, settings)
        self.provider = ProviderClient(http, transport, settings)
        self.images = images
        self.store = store
        self.keys = KeyRing(
            settings.local_keys(),
            config_path=config_path,
            allow_unauthenticated=settings.allow_unauthenticated,
            on_reload=self._config_changed,
        )
        self.memory = ReasoningMemory(persist=store.remember)
        self._absent: dict[str, None] = {}  # tool-call ids the database had no reasoning for (bounded)
        self.metrics = Metrics()
        self.clock = clock
        self.shared = SharedState(store, clock)  # cooldowns, plan and paths, with other gateways on the database
        self.pool = AccountPool(
            [self._account(name, key) for name, key in accounts],
            clock,
            backoff=settings.retries.backoff,
            on_change=self.shared.changed,
        )
        self._no_plan = PlanMonitor(_nothing, ttl=3600, clock=clock)
        self._live: dict[TurnGroup, UsageRecord | None] = {}  # open generations → their record, once made
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
        link = self.shared.link(key, self.settings.plan_cache_ttl)
        access = ProviderAccess(
            commandcode.upstream_of(name),
            functools.partial(self.provider.has_access, key),
            interval=commandcode.provider_check_interval,
            clock=self.clock,
            name=name,
            on_decided=link.decided,
        )
        plan = PlanMonitor(fetch, ttl=self.settings.plan_cache_ttl, clock=self.clock, peers=link)
        return Account(name, key, plan, access)

    def _config_changed(self, settings: Settings) -> None:
        """The config file changed: use the Command Code key(s) it names now (accounts keep their state)."""
        wanted, source = resolve_accounts(settings)
        if wanted == [(a.name, a.api_key) for a in self.pool.accounts]:
            return
        current = {(a.name, a.api_key): a for a in self.pool.accounts}
        accounts = [current.get(pair) or self._account(*pair) for pair in wanted]
        for account in self.pool.accounts:
            if account not in accounts:
                account.plan.close()
        for account in accounts:
            if (account.name, account.api_key) not in current:
                account.plan.refresh_soon()
        self.pool.accounts = accounts
        log.info("Command Code key(s) reloaded from %s (%d accounts)", source, len(accounts))

    @property
    def plan(self) -> PlanMonitor:
        """The first account's plan (what `/usage` shows as `plan`)."""
        accounts = self.pool.accounts
        return accounts[0].plan if accounts else self._no_plan

    async def start(self) -> None:
        """Background work at start-up: learn what other gateways know of the accounts, then fetch each
        account's plan and find out its upstream path where they did not."""
        await self.shared.start(self.pool)
        for account in self.pool.accounts:
            account.plan.refresh_soon()
            account.access.check_soon()

    async def aclose(self) -> None:
        await self.shared.aclose()
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

    async def admit(self, call: Call, request: UpstreamRequest | None) -> None:
        """The local key's checks before anything goes upstream: its models, rates and budgets.

        A key with request limits or budgets is counted (and its estimated cost reserved) in the
        storage layer, atomically with the check; a refusal is recorded as a rejected request.
        Without a `request` (a call that Command Code does not bill, e.g. forwarded embeddings),
        nothing is reserved.
        """
        key = call.identity.key
        if key is None:
            return
        try:
            if not limits.model_allowed(key, call.model):
                limits.check(key, call.model, {}, self.clock())
            if limits.has_request_limits(key) or limits.has_budgets(key):
                tokens = 0
                if request is not None:
                    tokens = (estimate_tokens(request.params) + int(request.params.get("max_tokens") or 0)) * request.n
                await self.store.admit(key, call.model, call.request_id, tokens)
        except errors.GatewayError as refusal:
            self.account(call, Usage(), refusal, None, upstream=False)
            await self.store.settle()
            raise

    async def recall(self, call_ids: list[str]) -> bool:
        """Fetch reasoning this process does not remember from the database; True if any was found."""
        wanted = [c for c in dict.fromkeys(call_ids) if c not in self._absent][:256]
        if not wanted:
            return False
        try:
            found = await self.store.reasoning(wanted)
        except Exception:  # a failing database only costs the replay (a placeholder is used instead)
            return False
        for call_id in wanted:
            if call_id in found:
                self.memory.remember([call_id], found[call_id], persist=False)
            else:
                self._absent[call_id] = None
        while len(self._absent) > 4096:
            del self._absent[next(iter(self._absent))]
        return bool(found)

    async def durable(self, group: TurnGroup) -> None:
        """Wait until `group`'s record (and what was queued before it) is committed, within
        `storage.commit_timeout`; a failing database is reported by `/health`, not to this client."""
        await group.ended()
        await self.store.settle()

    async def open(self, request: UpstreamRequest, call: Call) -> TurnGroup:
        """Admit the request, then open it upstream (:meth:`_open`); a reservation it still holds when
        that fails without a record (a cancellation, a bug) is released."""
        if not self.pool.accounts:
            # Refused before anything went upstream: neither an upstream failure nor a request to count.
            raise errors.UpstreamKeyMissingError(NO_KEY_MESSAGE)
        await self.admit(call, request)
        try:
            return await self._open(request, call)
        except BaseException:
            self.store.release(call.request_id)  # a no-op once its record was made
            raise

    async def _open(self, request: UpstreamRequest, call: Call) -> TurnGroup:
        """Start the upstream generation(s) and hold them until they produced something.

        Failures before that point (nothing has reached the client) cool the account down and are
        tried again on the next healthy account, or on the same one after a short wait, within the
        configured number of attempts and seconds. A failure that remains is raised here, so the
        client gets a plain HTTP error rather than a broken stream.
        """
        seed = _conversation_seed(call.identity.name, request.params, large=call.large)
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
        await self.store.settle()
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
            on_closed=lambda done: self._closed(call, done),
        )
        self._live[group] = None
        try:
            await group.settle(self.settings.timeouts.keepalive)
        except errors.GatewayError:
            group.retried = True  # its outcome is the retry's to report, not this group's
            raise
        except BaseException:  # the client hung up (cancelled) while the upstream was still silent
            group.close()
            raise
        return group

    def _finished(self, call: Call, group: TurnGroup, account: str, path: str) -> None:
        if group.retried:
            return
        if group.error is not None and group.error.code != "client_disconnected":
            self.metrics.upstream_error(group.error.code or type(group.error).__name__)
        self._live[group] = self.account(
            call, group.usage, group.error, group.first_output_at, account=account, path=path
        )

    def _closed(self, call: Call, group: TurnGroup) -> None:
        """Every upstream response is closed: correct the record with what came after the finish."""
        recorded = self._live.pop(group, None)
        self.metrics.in_flight.dec()
        if recorded is None:
            return
        final = _with_usage(recorded, group.usage)
        if final != recorded:
            self.store.amend(recorded, final)
            self.metrics.observe_amend(recorded, final)

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
    ) -> UsageRecord:
        """Record one request in the ledger (queued; see :meth:`durable`) and the metrics, with the
        account and the upstream path that served it; a request ccgw refused itself (`upstream=False`)
        is also logged, and counts as neither an upstream request nor a cost."""
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
            model=call.model[:LEDGER_MODEL_CHARS],  # a refused name may be longer (up to 256, see schemas)
            status="ok" if error is None else str(error.code or type(error).__name__),
            latency_ms=(now - call.started) * 1000,
            ttft_ms=None if first_output_at is None else (first_output_at - call.started) * 1000,
            at=now,
            upstream=upstream,
            account=account,
            path=path,
            **_usage_fields(usage),
        )
        self.store.record(record)
        self.metrics.observe(record)
        return record


def _usage_fields(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost_micro": round(usage.cost_usd * 1_000_000),
    }


def _with_usage(record: UsageRecord, usage: Usage) -> UsageRecord:
    return dataclasses.replace(record, **_usage_fields(usage))


def _same(value: T) -> T:
    return value


async def _nothing() -> None:
    """The plan "document" when no account is configured (parsed as unavailable)."""


def _conversation_seed(key_name: str, params: dict[str, Any], *, large: bool = False) -> str:
    """Same key, model, system prompt and first message ⇒ same conversation (and thread id)."""
    messages = params.get("messages") or []
    # A big request's first message may be 49 MB: clipped first, which gives the same prefix.
    clip = functools.partial(bulk.clip, budget=4096) if large else _same
    first = dumps(clip(messages[0]))[:4096] if messages else b""
    system = str(clip(params.get("system", "")))[:4096].encode()
    digest = hashlib.sha256(b"\0".join([key_name.encode(), str(params.get("model")).encode(), system, first]))
    return digest.hexdigest()


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work` here, cancelling it if the client hangs up first (one watcher task, no waits)."""
    current = asyncio.current_task()
    assert current is not None
    working = True

    def hung_up(watcher: asyncio.Future[None]) -> None:
        if working and not watcher.cancelled():  # not once `work` is done: the cancel would land later
            current.cancel()

    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    watcher.add_done_callback(hung_up)
    try:
        return await work
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            current.uncancel()
            raise ClientDisconnected from None
        raise
    finally:
        working = False
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
    """Answer as SSE or as one JSON document; upstream errors before the first byte are raised.

    The caller watches for a hang-up until this returns (see :func:`until_disconnect`).
    """
    try:
        if not stream:
            try:
                frames = await collect(group, translator, stages)  # `serve` notices a hang-up
            except errors.GatewayError:
                group.close()
                await gateway.durable(group)
                raise
            answer = JSONResponse(fold(frames), headers=headers)  # rendered while the record commits
            await gateway.durable(group)
            return answer
        body = relay(
            group,
            translator,
            stages,
            encode=fmt.encode,
            keepalive=fmt.keepalive,
            keepalive_every=gateway.settings.timeouts.keepalive,
            trailer=fmt.trailer,
            before_end=functools.partial(gateway.durable, group),
            error_gap=fmt.error_gap,
        )
        sse_headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})}
        return EventStream(body, media_type=fmt.media_type, headers=sse_headers)
    except BaseException:
        group.close()
        raise
