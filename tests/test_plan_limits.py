"""The plan as the CLI sees it: team accounts (orgId), the daily window, organisation spend limits,
and upstream 429s that name a window or a model (final until their reset, never retried)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import respx
from fastapi.testclient import TestClient
from tests.conftest import CREDITS, UPSTREAM_KEY, WHOAMI, make_settings
from tests.test_accounts import answer_per_account, conversation, two_accounts
from tests.test_spending import CHAT, START, Clock

from ccgw.plan import PlanMonitor

TEAM = {**WHOAMI, "org": {"id": "org_42", "name": "Team"}}
RESET = START + 3 * 3600  # on the test's clock
RESETS_IN = 3 * 3600  # upstream `rateLimit.reset` is read against the real clock


def window_429(window: str = "fiveHour", *, retry_after: int | None = None, model: str | None = None) -> httpx.Response:
    limit: dict[str, Any] = {"reset": int(time.time()) + RESETS_IN, "window": window}
    if model:
        limit["model"] = model
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return httpx.Response(
        429, headers=headers, json={"error": {"message": "limit", "code": "RATE_LIMITED", "rateLimit": limit}}
    )


def test_plan_team_account_reads_org_credits_daily_window_and_limits(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    org_limits = [
        {"spent": 12.5, "limit": 50, "resetInterval": "monthly", "resetAt": "2100-01-01T00:00:00Z", "exceeded": False}
    ]
    upstream.routes["whoami"].mock(return_value=httpx.Response(200, json={**TEAM, "orgLimits": org_limits}))
    daily = {"used": 1, "cap": 2, "exceeded": False, "resetAt": 4102444800000}
    credits = {**CREDITS, "windowLimits": {**CREDITS["windowLimits"], "daily": daily}}
    upstream.routes["credits"].mock(return_value=httpx.Response(200, json=credits))
    client = app_factory(clock=Clock())
    plan = client.get("/usage").json()["plan"]
    assert upstream.routes["whoami"].calls.last.request.url.params["limits"] == "1"
    assert upstream.routes["credits"].calls.last.request.url.params["orgId"] == "org_42"
    assert plan["org_id"] == "org_42"
    assert plan["windows"]["daily"] == {"used": 1.0, "cap": 2.0, "exceeded": False, "resets_at": "2100-01-01T00:00:00Z"}
    assert plan["org_limits"] == [
        {"spent": 12.5, "limit": 50.0, "interval": "monthly", "exceeded": False, "resets_at": "2100-01-01T00:00:00Z"}
    ]
    detail = client.get("/health?detail=1").json()["accounts"][0]["plan"]
    assert detail["org_id"] == "org_42" and detail["windows"]["daily"]["cap"] == 2.0


def test_plan_personal_account_asks_credits_without_org(client: TestClient, upstream: respx.MockRouter) -> None:
    client.get("/usage")
    assert "orgId" not in upstream.routes["credits"].calls.last.request.url.params


def test_plan_exhausted_org_spend_limit_fails_fast_with_402(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    limit = {"spent": 50, "limit": 50, "resetInterval": "monthly", "resetAt": "2026-11-22T00:30:10Z", "exceeded": True}
    upstream.routes["whoami"].mock(return_value=httpx.Response(200, json={**TEAM, "orgLimits": [limit]}))
    client = app_factory(clock=clock)
    client.get("/usage")
    before = upstream.routes["generate"].call_count
    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "spend_cap_exceeded"
    assert refused.headers["retry-after"] == "10800"
    assert upstream.routes["generate"].call_count == before


def test_plan_exhausted_daily_window_fails_fast(app_factory: Any, upstream: respx.MockRouter) -> None:
    daily = {"used": 2, "cap": 2, "exceeded": True, "resetAt": int(RESET * 1000)}
    upstream.routes["credits"].mock(
        return_value=httpx.Response(200, json={**CREDITS, "windowLimits": {"daily": daily}})
    )
    client = app_factory(clock=Clock())
    client.get("/usage")
    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "plan_window_exhausted"
    assert "daily window" in refused.json()["error"]["message"]


def test_window_429_is_not_retried_and_blocks_until_its_reset(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    client = app_factory(clock=clock)
    # A short Retry-After must neither make the gateway wait and retry, nor end the window early.
    upstream.routes["generate"].mock(return_value=window_429(retry_after=2))
    first = client.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == 429 and first.json()["error"]["code"] == "plan_window_exhausted"
    assert upstream.routes["generate"].call_count == 1  # never retried
    clock.now += 60  # past the Retry-After, long before the window's reset
    for _ in range(2):
        again = client.post("/v1/chat/completions", json=CHAT)
        assert again.status_code == 429 and again.json()["error"]["code"] == "plan_window_exhausted"
        assert abs(int(again.headers["retry-after"]) - (RESETS_IN - 60)) <= 2
    assert upstream.routes["generate"].call_count == 1  # failed fast, nothing sent
    assert client.get("/usage").json()["plan"]["windows"]["five_hour"]["exceeded"] is True
    clock.now = START + RESETS_IN + 1
    upstream.routes["generate"].mock(side_effect=None, return_value=httpx.Response(200, content=b""))
    assert client.post("/v1/chat/completions", json=CHAT).json()["error"]["code"] != "plan_window_exhausted"


def test_window_429_mark_survives_a_lagging_credits_document(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    client = app_factory(clock=clock)
    upstream.routes["generate"].mock(return_value=window_429("weekly"))
    client.post("/v1/chat/completions", json=CHAT)
    clock.now += 600  # the plan is fetched again; the credits document still says not exceeded
    assert client.get("/usage").json()["plan"]["windows"]["weekly"]["exceeded"] is True
    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.json()["error"]["code"] == "plan_window_exhausted"
    assert upstream.routes["generate"].call_count == 1


def test_model_429_blocks_that_model_on_that_account_only(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = two_accounts(app_factory, Clock())
    seen = answer_per_account(upstream, a=window_429("daily", model="deepseek/deepseek-v4-pro"))
    for i in range(6):
        assert client.post("/v1/chat/completions", json=conversation(f"c{i}")).status_code == 200
    assert seen.count("a") == 1  # asked once, then the next account serves that model
    accounts = client.get("/health?detail=1").json()["accounts"]
    assert list(accounts[0]["blocked_models"]) == ["deepseek/deepseek-v4-pro"]
    assert accounts[0]["state"] == "healthy"  # the account still serves other models
    assert accounts[0]["plan"]["windows"].get("daily", {}).get("exceeded") is not True


def test_model_429_with_one_account_is_model_limit_exhausted(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = app_factory(make_settings(), accounts=[("only", UPSTREAM_KEY)], clock=Clock())
    upstream.routes["generate"].mock(return_value=window_429("daily", model="deepseek/deepseek-v4-pro"))
    for _ in range(2):
        refused = client.post("/v1/chat/completions", json=CHAT)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "model_limit_exhausted"
    assert upstream.routes["generate"].call_count == 1


def test_plain_429_still_honours_retry_after(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = app_factory(clock=Clock())
    upstream.routes["generate"].mock(return_value=httpx.Response(429, headers={"retry-after": "42"}, json={}))
    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["retry-after"] == "42"


def test_plan_current_waits_for_the_refresh_under_way() -> None:
    """`/usage` right after start-up: the start-up fetch is not due again, but its answer is the plan."""

    async def scenario() -> tuple[str, str]:
        answered = asyncio.Event()

        async def fetch() -> Any:
            await answered.wait()
            return {"credits": CREDITS, "whoami": TEAM}

        monitor = PlanMonitor(fetch, ttl=300, clock=Clock())
        monitor.refresh_soon()  # as Gateway.start does
        await asyncio.sleep(0)
        asyncio.get_running_loop().call_later(0.05, answered.set)
        state = await monitor.current()
        return state.status, str(state.org_id)

    assert asyncio.run(scenario()) == ("ok", "org_42")
