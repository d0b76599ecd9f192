"""Several accounts: failover, cooldowns that expire on their own (injected clock), stickiness, retries."""

from __future__ import annotations

from typing import Any

import httpx
import respx
from fastapi.testclient import TestClient
from tests.conftest import UPSTREAM_KEY, make_settings, text_answer
from tests.test_spending import Clock

CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
KEYS = {"a": "user_account_a_0123456789", "b": "user_account_b_0123456789"}


def two_accounts(app_factory: Any, clock: Clock, **settings: Any) -> TestClient:
    client: TestClient = app_factory(make_settings(**settings), accounts=list(KEYS.items()), clock=clock)
    return client


def answer_per_account(upstream: respx.MockRouter, **answers: httpx.Response) -> list[str]:
    """Route generate by the account's key; returns the account names in call order."""
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        name = next(n for n, k in KEYS.items() if request.headers["authorization"] == f"Bearer {k}")
        seen.append(name)
        answer = answers.get(name) or httpx.Response(200, content=text_answer(f"from {name}"))
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    upstream.routes["generate"].mock(side_effect=respond)
    return seen


def conversation(text: str) -> dict[str, Any]:
    return {**CHAT, "messages": [{"role": "user", "content": text}]}


def test_failover_on_429_and_cooldown_expires(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    client = two_accounts(app_factory, clock)
    seen = answer_per_account(upstream)
    body = next(conversation(f"q{i}") for i in range(50) if _first_choice(client, conversation(f"q{i}"), seen) == "a")
    limited = httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "60"})
    seen = answer_per_account(upstream, a=limited)
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from b"
    assert seen == ["a", "b"]
    seen.clear()
    client.post("/v1/chat/completions", json=body)
    assert seen == ["b"]  # a is cooling down: not asked
    clock.now += 61
    seen = answer_per_account(upstream)
    client.post("/v1/chat/completions", json=body)
    assert seen == ["a"]  # the cooldown expired on its own; the conversation is back on its account


def _first_choice(client: TestClient, body: dict[str, Any], seen: list[str]) -> str:
    seen.clear()
    client.post("/v1/chat/completions", json=body)
    return seen[0]


def test_conversation_sticks_to_one_account(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = two_accounts(app_factory, Clock())
    seen = answer_per_account(upstream)
    for _ in range(5):
        client.post("/v1/chat/completions", json=conversation("same conversation"))
    assert len(set(seen)) == 1
    seen.clear()
    for i in range(30):
        client.post("/v1/chat/completions", json=conversation(f"conversation {i}"))
    assert set(seen) == {"a", "b"}  # different conversations spread over the accounts


def test_no_healthy_account_503_with_earliest_recovery(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    client = two_accounts(app_factory, clock)
    answer_per_account(
        upstream,
        a=httpx.Response(402, json={"error": {"message": "pay"}}, headers={"retry-after": "900"}),
        b=httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "120"}),
    )
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_healthy_account"
    assert response.headers["retry-after"] == "120"
    detail = client.get("/health?detail=1").json()
    assert detail["status"] == "unavailable"
    assert {a["name"]: a["state"] for a in detail["accounts"]} == {"a": "cooling_down", "b": "cooling_down"}
    assert all("user_" not in str(a) for a in detail["accounts"])
    clock.now += 121
    answer_per_account(upstream)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert client.get("/health?detail=1").json()["status"] == "degraded"  # a still waits for its credits


def test_model_not_in_plan_moves_on_for_that_model_only(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = two_accounts(app_factory, Clock())
    not_in_plan = httpx.Response(403, json={"error": {"message": "MODEL_NOT_IN_PLAN", "code": "MODEL_NOT_IN_PLAN"}})
    seen = answer_per_account(upstream, a=not_in_plan)
    for i in range(6):
        assert client.post("/v1/chat/completions", json=conversation(f"c{i}")).status_code == 200
    assert seen.count("a") == 1  # asked once, then skipped for this model
    blocked = client.get("/health?detail=1").json()["accounts"][0]["blocked_models"]
    assert list(blocked) == ["deepseek/deepseek-v4-pro"]
    seen.clear()
    answer_per_account(upstream)
    other = [
        client.post("/v1/chat/completions", json={**conversation(f"k{i}"), "model": "moonshotai/Kimi-K3"})
        for i in range(10)
    ]
    assert all(r.status_code == 200 for r in other)


def test_client_errors_are_not_retried_or_failed_over(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = two_accounts(app_factory, Clock())
    seen = answer_per_account(
        upstream,
        a=httpx.Response(400, json={"error": {"message": "bad"}}),
        b=httpx.Response(400, json={"error": {"message": "bad"}}),
    )
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 400
    assert len(seen) == 1


def test_single_account_5xx_retried_then_succeeds(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = app_factory()
    answers = iter([httpx.Response(502), httpx.Response(503)])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or httpx.Response(200, content=text_answer("finally"))

    upstream.routes["generate"].mock(side_effect=flaky)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    assert upstream.routes["generate"].call_count == 3
    usage = client.get("/usage").json()
    assert usage["total_requests"] == 1  # one client request, however many tries
    assert usage["failed_requests"] == 0


def test_single_account_retries_are_bounded(app_factory: Any, upstream: respx.MockRouter) -> None:
    client = app_factory()
    upstream.routes["generate"].mock(side_effect=httpx.ConnectError("refused"))
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert upstream.routes["generate"].call_count == 3
    usage = client.get("/usage").json()
    assert (usage["total_requests"], usage["failed_requests"]) == (1, 1)


def test_inband_error_before_any_content_is_retried(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.conftest import ndjson

    client = app_factory()
    answers = iter([ndjson({"type": "start"}, {"type": "error", "error": {"message": "capacity", "statusCode": 503}})])

    def flaky(request: httpx.Request) -> httpx.Response:
        body = next(answers, None)
        return httpx.Response(200, content=body if body is not None else text_answer("ok"))

    upstream.routes["generate"].mock(side_effect=flaky)
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    assert "ok" in response.text
    assert upstream.routes["generate"].call_count == 2


def test_single_upstream_key_is_the_default_account(client: TestClient) -> None:
    detail = client.get("/health?detail=1").json()
    assert [a["name"] for a in detail["accounts"]] == ["default"]
    assert UPSTREAM_KEY not in str(detail)
    assert client.get("/health?detail=1", headers={"Authorization": ""}).status_code == 401


def test_burst_of_failures_in_flight_does_not_escalate_the_cooldown(app_factory: Any) -> None:
    from ccgw import errors

    client = app_factory()
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    account = gateway.pool.accounts[0]
    for _ in range(50):  # fifty requests that were in flight when the upstream stalled
        gateway.pool.failed(account, errors.UpstreamError("stall"), "m")
    assert account.failures == 1
    assert account.cooldown_until - gateway.clock() <= 0.011  # one backoff step (0.01 s in tests), not 60 s


def test_a_success_ends_a_transient_cooldown_but_not_a_rate_limit(app_factory: Any) -> None:
    from ccgw import errors

    client = app_factory()
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    account = gateway.pool.accounts[0]
    gateway.pool.failed(account, errors.UpstreamError("blip"), "m")
    gateway.pool.succeeded(account)
    assert account.cooldown_until == 0.0
    limited = errors.RateLimitError("slow down", retry_after=60)
    gateway.pool.failed(account, limited, "m")
    gateway.pool.succeeded(account)  # a request started before the 429 finished late
    assert account.cooldown_until > gateway.clock() + 50


def test_a_blocked_model_does_not_keep_the_backoff_growing(app_factory: Any) -> None:
    # Regression: a MODEL_NOT_IN_PLAN block used to stop successes from resetting the failure count,
    # so unrelated blips grew the backoff until a healthy account answered every request with a 502.
    from ccgw import errors

    clock = Clock()
    client = app_factory(clock=clock)
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    pool, account = gateway.pool, gateway.pool.accounts[0]
    for _ in range(3):  # a few blips in a row
        clock.now = max(clock.now, account.cooldown_until)
        pool.failed(account, errors.UpstreamError("blip"), "m")
    pool.failed(account, errors.PermissionDeniedError("not in plan", code="model_not_in_plan"), "qwen")
    clock.now = account.cooldown_until
    pool.succeeded(account)  # another model answers: the account is healthy again
    assert account.failures == 0 and account.available("m", clock())
    assert not account.available("qwen", clock())
    refusal = account.refusal("qwen", clock())
    assert refusal is not None and refusal.code == "model_not_in_plan"
