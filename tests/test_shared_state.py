"""Account state shared by gateways on one database (SQLite and a real PostgreSQL): cooldowns and the
errors behind them, blocked models, plan windows, the billing documents (one poller per ttl), the
upstream path, last-writer-wins, stopped gateways, and a failing database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from tests.conftest import CREDITS, make_settings, text_answer
from tests.test_plan_limits import RESETS_IN, window_429
from tests.test_storage import NOW, Clock, opened

from ccgw import errors
from ccgw.accounts import Account, AccountPool
from ccgw.plan import PlanMonitor
from ccgw.shared_state import SharedState, account_id, error_data, error_from
from ccgw.storage import Store
from ccgw.storage.database import Database
from ccgw.upstream.access import ProviderAccess

KEY = "user_shared_0123456789abcdefghijklmnop"
WHOAMI = {"success": True, "user": {"id": "u1", "name": "Ann", "email": "ann@example.test"}, "org": None}


@dataclass
class Side:
    """One gateway's part in this: its store, its shared state, one account."""

    store: Store
    shared: SharedState
    pool: AccountPool
    fetches: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)

    @property
    def account(self) -> Account:
        return self.pool.accounts[0]

    async def sync(self) -> None:
        """What the other side queued is committed; this side reads it."""
        await self.store.durable()


@asynccontextmanager
async def gateway(tmp_path: Path, url: str, clock: Clock, name: str, *, has_api: bool = True) -> AsyncIterator[Side]:
    store = await opened(tmp_path, url, clock)
    shared = SharedState(store, clock)
    side = Side(store, shared, AccountPool([], clock))

    async def fetch() -> dict[str, Any]:
        side.fetches.append(clock())
        return {"whoami": WHOAMI, "credits": CREDITS}

    async def probe() -> bool:
        side.probes.append(clock())
        return has_api

    link = shared.link(KEY, plan_ttl=60)
    access = ProviderAccess("auto", probe, interval=3600, clock=clock, name=name, on_decided=link.decided)
    account = Account(name, KEY, PlanMonitor(fetch, ttl=60, clock=clock, peers=link), access)
    side.pool = AccountPool([account], clock, backoff=1.0, on_change=shared.changed)
    await shared.start(side.pool)
    try:
        yield side
    finally:
        await shared.aclose()
        await store.close()


async def told(writer: Side, reader: Side) -> None:
    writer.store._queue().heartbeat = writer.store._heartbeat()  # alive on the test's clock (every 10 s for real)
    await writer.store.durable()
    await reader.shared.refresh()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_shared_cooldown_met_by_one_gateway_cools_the_other(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a, gateway(tmp_path, storage_url, clock, "b") as b:
            out = errors.PaymentRequiredError("Credits exhausted", code="insufficient_credits", retry_after=600)
            a.pool.failed(a.account, out, "m")
            await told(a, b)
            assert b.pool.candidates("seed", "m") == []
            assert (b.account.cooldown_until, b.account.reason, b.account.failures) == (NOW + 600, out.code, 1)
            refusal = b.account.refusal("m", clock())
            assert type(refusal) is errors.PaymentRequiredError
            assert (refusal.message, refusal.code, refusal.retry_after) == (out.message, out.code, 600)
            clock.now += 601
            a.pool.succeeded(a.account)  # the credits came back: a clears it, so b does too
            await told(a, b)
            assert (b.account.cooldown_until, b.account.failures, b.account.cooled_by) == (0.0, 0, None)

    run(go())


def test_shared_blocked_model_and_plan_window_refused_by_the_other(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a, gateway(tmp_path, storage_url, clock, "b") as b:
            limited = errors.RateLimitError("qwen's daily limit", code="model_limit_exhausted")
            limited.model, limited.resets_in = "qwen", 900.0
            a.pool.failed(a.account, limited, "qwen")
            a.account.plan.note_exhausted("fiveHour", 1800)
            await told(a, b)
            assert b.account.available("m", clock()) and not b.account.available("qwen", clock())
            blocked = b.account.refusal("qwen", clock())
            assert isinstance(blocked, errors.RateLimitError) and (blocked.model, blocked.resets_in) == ("qwen", 900)
            with pytest.raises(errors.RateLimitError) as refused:
                b.account.plan.guard()
            assert refused.value.code == "plan_window_exhausted" and refused.value.retry_after == 1800
            assert b.account.plan.public()["windows"]["five_hour"]["exceeded"] is True
            clock.now += 1801
            b.account.plan.guard()  # the window reset on its own

    run(go())


def test_shared_billing_polled_by_one_gateway_per_ttl(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a, gateway(tmp_path, storage_url, clock, "b") as b:
            await a.account.plan.refresh()
            await b.account.plan.refresh()  # a holds this period's poll: b does not ask
            assert (len(a.fetches), len(b.fetches)) == (1, 0)
            await told(a, b)
            assert b.account.plan.state.status == "ok"
            assert b.account.plan.public() == a.account.plan.public()
            stored = await b.store.db.read(lambda conn: [r.data for r in conn.execute(schema_rows("plan"))])
            assert "ann@example.test" not in stored[0] and json.loads(stored[0])["credits"] == CREDITS
            assert b.account.plan.refresh_soon() is None  # b's copy is as fresh as a's: nothing due
            clock.now += 61
            await b.account.plan.refresh()  # the next period: whoever is due first polls
            await a.account.plan.refresh()
            assert (len(a.fetches), len(b.fetches)) == (1, 1)

    run(go())


def schema_rows(part: str) -> Any:
    from sqlalchemy import select

    from ccgw.storage import schema

    return select(schema.account_state).where(schema.account_state.c.part == part)


def test_shared_upstream_path_found_by_one_gateway_serves_the_other(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a:
            assert await a.account.access.path_for() == "provider"
            await a.store.durable()
            async with gateway(tmp_path, storage_url, clock, "b") as b:  # starts after a's check: reads it
                assert await b.account.access.path_for() == "provider"
                assert b.probes == [] and b.account.access.public() == a.account.access.public()
                clock.now += 1
                assert a.account.access.no_access()  # a request of a's met upgrade_required
                await told(a, b)
                assert await b.account.access.path_for() == "cli" and b.probes == []
                assert "upgrade_required" in b.account.access.reason

    run(go())


def test_shared_older_fact_never_undoes_a_newer_one(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a, gateway(tmp_path, storage_url, clock, "b") as b:
            a.pool.failed(a.account, errors.RateLimitError("slow down", retry_after=30), "m")
            clock.now += 1
            b.pool.failed(b.account, errors.RateLimitError("slower", retry_after=300), "m")  # b's is later
            await b.store.durable()
            late = a.account
            a.shared.write(account_id(KEY), "cooldown", NOW + 30, {"reason": "x", "failures": 1}, NOW)  # a stale copy
            await told(a, b)
            assert b.account.cooldown_until == NOW + 1 + 300  # b's own, newer fact stands, in b ...
            await a.shared.refresh()
            assert late.cooldown_until == NOW + 1 + 300  # ... and in the database, so a takes it
            assert late.refusal("m", clock()) is not None and late.refusal("m", clock()).message == "slower"  # type: ignore[union-attr]

    run(go())


def test_shared_cooldowns_of_a_stopped_gateway_are_not_taken(tmp_path: Path, storage_url: str) -> None:
    clock = Clock()

    async def go() -> None:
        async with gateway(tmp_path, storage_url, clock, "a") as a:
            a.pool.failed(a.account, errors.UpstreamKeyRejectedError("key refused"), "m")
            a.account.plan.note_exhausted("weekly", 7200)
        async with gateway(tmp_path, storage_url, clock, "b") as b:  # a stopped before b started
            assert b.account.available("m", clock())  # a restart forgets cooldowns, as it always did
            with pytest.raises(errors.RateLimitError):  # a plan window is the upstream's fact until its reset
                b.account.plan.guard()

    run(go())


def test_shared_error_round_trip_keeps_class_code_and_limits() -> None:
    limited = errors.RateLimitError("window used up", code="plan_window_exhausted", retry_after=12.5)
    limited.window, limited.resets_in = "fiveHour", 99.0
    back = error_from(json.loads(json.dumps(error_data(limited))))
    assert type(back) is errors.RateLimitError
    assert (back.message, back.code, back.retry_after, back.window, back.model, back.resets_in) == (
        "window used up", "plan_window_exhausted", 12.5, "fiveHour", None, 99.0
    )  # fmt: skip
    assert type(error_from(error_data(errors.UpstreamKeyRejectedError("no")))) is errors.UpstreamKeyRejectedError

    class Local(errors.UpstreamTimeoutError):  # a subclass from elsewhere: its nearest class in ccgw.errors
        pass

    assert type(error_from(error_data(Local("slow")))) is errors.UpstreamTimeoutError
    assert type(error_from({"class": "SystemExit", "message": "x"})) is errors.UpstreamError
    assert error_from({"class": "RateLimitError"}) is None and error_data(None) is None


class Unreadable(Database):
    """The real database, failing every read and write while `failing` is set (a lost server)."""

    def __init__(self, real: Database) -> None:
        self.real, self.dialect, self.url, self.failing = real, real.dialect, real.url, True

    async def write(self, fn: Any) -> Any:
        if self.failing:
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        return await self.real.write(fn)

    async def read(self, fn: Any) -> Any:
        if self.failing:
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return await self.real.read(fn)

    async def close(self) -> None:
        await self.real.close()


def test_shared_failing_database_gateway_serves_on_its_own_state_and_says_so(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    client: TestClient = app_factory()
    gateway_ = client.app.state.gateway  # type: ignore[attr-defined]
    gateway_.store.db = broken = Unreadable(gateway_.store.db)
    client.portal.call(gateway_.shared.refresh)  # type: ignore[union-attr]
    detail = client.get("/health?detail=1").json()
    assert detail["status"] == "degraded"
    assert detail["shared_state"]["status"] == "local" and "connection refused" in detail["shared_state"]["error"]
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200  # still serving
    limited = httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "60"})
    upstream.routes["generate"].mock(return_value=limited)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 429
    calls = upstream.routes["generate"].call_count
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 429  # its own cooldown: fails fast
    assert upstream.routes["generate"].call_count == calls
    broken.failing = False
    gateway_.store._stop.set()  # the writer retries now rather than after its back-off
    for _ in range(100):
        client.portal.call(gateway_.shared.refresh)  # type: ignore[union-attr]
        if client.get("/health?detail=1").json()["shared_state"]["status"] == "ok":
            break
        time.sleep(0.02)
    assert client.get("/health?detail=1").json()["shared_state"] == {"status": "ok", "read_at": ANY}


CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}


def test_shared_two_apps_on_one_database_window_429_fails_fast_on_the_other(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    """The whole wiring, in process: two gateways on one SQLite file (the same `usage.db`)."""
    a: TestClient = app_factory(make_settings())
    b: TestClient = app_factory(make_settings())
    upstream.routes["generate"].mock(return_value=window_429(retry_after=2))
    first = a.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == 429 and first.json()["error"]["code"] == "plan_window_exhausted"
    upstream.routes["generate"].mock(
        return_value=httpx.Response(200, content=text_answer("hi"), headers={"content-type": "text/event-stream"})
    )
    calls = upstream.routes["generate"].call_count
    b.portal.call(b.app.state.gateway.shared.refresh)  # type: ignore[union-attr,attr-defined]
    second = b.post("/v1/chat/completions", json=CHAT)
    assert second.status_code == 429 and second.json()["error"]["code"] == "plan_window_exhausted"
    assert abs(int(second.headers["retry-after"]) - RESETS_IN) <= 2  # the window's reset, not the Retry-After
    assert upstream.routes["generate"].call_count == calls  # b never asked the upstream
    detail = b.get("/health?detail=1").json()
    assert detail["shared_state"]["status"] == "ok"
    assert detail["accounts"][0]["plan"]["windows"]["five_hour"]["exceeded"] is True
