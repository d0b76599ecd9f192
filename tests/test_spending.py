"""Ledger, per-key limits and budgets (with an injected clock), plan windows, request-id look-up, metrics."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from tests.conftest import CREDITS, LOCAL_KEY, UPSTREAM, make_settings, text_answer

from ccgw.config import Settings

CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
SCRIPT_KEY = "ccgw-script-key-0123456789"
START = float(calendar.timegm((2026, 11, 21, 21, 30, 10)))


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited_settings(**limits: Any) -> Settings:
    return make_settings(api_keys=[{"name": "script", "key": SCRIPT_KEY, **limits}])


def as_script(client: TestClient, body: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/v1/chat/completions", json=body or CHAT, headers={"Authorization": f"Bearer {SCRIPT_KEY}"})


def test_rpm_limit_429_until_the_next_minute(app_factory: Any) -> None:
    clock = Clock()
    client = app_factory(limited_settings(rpm=2), clock=clock)
    assert as_script(client).status_code == 200
    assert as_script(client).status_code == 200
    refused = as_script(client)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "key_rate_limited"
    assert "2 requests per minute" in refused.json()["error"]["message"]
    assert "2026-11-21T21:31:00Z" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "50"
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200  # other keys are not limited
    clock.now += 50
    assert as_script(client).status_code == 200


def test_day_and_month_caps(app_factory: Any) -> None:
    clock = Clock()
    client = app_factory(limited_settings(requests_per_day=1, requests_per_month=1), clock=clock)
    assert as_script(client).status_code == 200
    day = as_script(client)
    assert day.status_code == 429
    assert "per day" in day.json()["error"]["message"]
    clock.now += 86400
    month = as_script(client)
    assert month.status_code == 429
    assert "per month" in month.json()["error"]["message"]
    assert "2026-12-01T00:00:00Z" in month.json()["error"]["message"]


def test_daily_budget_402_in_anthropic_shape_too(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    upstream.routes["generate"].mock(return_value=httpx.Response(200, content=text_answer("x", cost="0.6")))
    client = app_factory(limited_settings(budget_usd_per_day=1.0), clock=clock)
    assert as_script(client).status_code == 200
    assert as_script(client).status_code == 200
    refused = as_script(client)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert "$1.2000 of its $1 budget per day" in refused.json()["error"]["message"]
    anthropic = client.post(
        "/v1/messages",
        json={"model": "deepseek-v4-pro", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "", "x-api-key": SCRIPT_KEY},
    )
    assert anthropic.status_code == 402
    assert anthropic.json() == {
        "type": "error",
        "error": {"type": "billing_error", "message": anthropic.json()["error"]["message"]},
    }
    assert int(anthropic.headers["retry-after"]) > 0
    clock.now += 86400
    assert as_script(client).status_code == 200


def test_allowed_models_patterns(app_factory: Any) -> None:
    client = app_factory(limited_settings(models=["moonshotai/*"]))
    refused = as_script(client)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert as_script(client, {**CHAT, "model": "moonshotai/Kimi-K3"}).status_code == 200


def test_request_id_lookup_survives_restart(app_factory: Any, tmp_path: Path) -> None:
    client = app_factory()
    response = client.post("/v1/chat/completions", json=CHAT)
    rid = response.headers["x-request-id"]
    assert response.json()["id"] == "chatcmpl-" + rid.removeprefix("req_")
    entry = client.get(f"/v1/usage/{rid}").json()
    assert entry["model"] == "deepseek/deepseek-v4-pro"
    assert entry["cost_micro"] == 123
    assert (entry["prompt_tokens"], entry["input_tokens"], entry["cache_read_input_tokens"]) == (100, 60, 40)
    assert entry["latency_ms"] >= 0
    assert client.get("/v1/usage/req_nope").status_code == 404
    client.__exit__(None, None, None)  # shutdown flushes
    again = app_factory()
    assert again.get(f"/v1/usage/{rid}").json()["output_tokens"] == 7
    recent = again.get("/usage/recent").json()["requests"]
    assert recent[0]["request_id"] == rid


def test_usage_breakdowns_cost_and_plan(client: TestClient) -> None:
    client.post("/v1/chat/completions", json=CHAT)
    usage = client.get("/usage").json()
    assert usage["by_key"]["default"]["total_requests"] == 1
    assert usage["by_model"]["deepseek/deepseek-v4-pro"]["cost_micro"] == 123
    assert len(usage["by_day"]) == 1
    assert len(usage["by_hour"]) == 1
    assert usage["cost_usd"] == 0.000123
    plan = usage["plan"]
    assert plan["status"] == "ok"
    assert plan["monthly_credits"] == 8.548
    assert plan["windows"]["five_hour"] == {
        "used": 0.025,
        "cap": 3.0,
        "exceeded": False,
        "resets_at": "2100-01-01T00:00:00Z",
    }
    assert "limits" not in usage


def test_plan_stale_when_billing_unreachable(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    client = app_factory(clock=clock)
    assert client.get("/usage").json()["plan"]["status"] == "ok"
    upstream.routes["credits"].mock(return_value=httpx.Response(503))
    clock.now += 120
    plan = client.get("/usage").json()["plan"]
    assert plan["status"] == "stale"
    assert plan["monthly_credits"] == 8.548


def test_exhausted_window_fails_fast_until_reset(app_factory: Any, upstream: respx.MockRouter) -> None:
    clock = Clock()
    reset_ms = int((START + 3600) * 1000)
    exhausted = {**CREDITS, "windowLimits": {"fiveHour": {"used": 3, "cap": 3, "exceeded": True, "resetAt": reset_ms}}}
    upstream.routes["credits"].mock(return_value=httpx.Response(200, json=exhausted))
    client = app_factory(clock=clock)
    client.get("/usage")  # the plan is fetched
    before = upstream.routes["generate"].call_count
    refused = client.post("/v1/chat/completions", json=CHAT)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "plan_window_exhausted"
    assert "five-hour window" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "3600"
    assert upstream.routes["generate"].call_count == before
    clock.now += 3600
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_metrics_exposition(client: TestClient, upstream: respx.MockRouter) -> None:
    client.post("/v1/chat/completions", json=CHAT)
    upstream.routes["generate"].mock(return_value=httpx.Response(500))
    client.post("/v1/chat/completions", json=CHAT)
    text = client.get("/metrics").text
    assert 'ccgw_requests_total{endpoint="chat.completions",model="deepseek/deepseek-v4-pro",status="ok"} 1.0' in text
    assert 'ccgw_upstream_errors_total{kind="upstream_error"} 3.0' in text  # the first try and two retries
    assert 'ccgw_tokens_total{kind="prompt",model="deepseek/deepseek-v4-pro"} 100.0' in text
    assert "ccgw_time_to_first_token_seconds_bucket" in text
    assert "ccgw_streams_in_flight 0.0" in text
    assert 'ccgw_cost_usd_total{model="deepseek/deepseek-v4-pro"} 0.000123' in text


def test_usage_requires_key_when_configured(app_factory: Any) -> None:
    client = app_factory(make_settings(usage_requires_key=True))
    assert client.get("/usage", headers={"Authorization": ""}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    assert client.get("/usage", headers={"Authorization": f"Bearer {LOCAL_KEY}"}).status_code == 200
    assert client.get("/health", headers={"Authorization": ""}).status_code == 200


@pytest.mark.parametrize("upstream_url", [UPSTREAM])
def test_keys_reloaded_from_config_without_restart(
    upstream_url: str, tmp_path: Path, upstream: respx.MockRouter
) -> None:
    import time

    from ccgw.application import create_app
    from ccgw.keys_cli import add, revoke

    config = tmp_path / "config.yaml"
    config.write_text(f'api_key: "{LOCAL_KEY}"\ncommandcode:\n  api_key: "user_x"\n  base_url: "{upstream_url}"\n')
    from ccgw.config import load_settings

    settings, _ = load_settings(config)
    app = create_app(
        settings,
        upstream_key="user_x",
        transport=httpx.MockTransport(upstream.handler),
        usage_path=tmp_path / "usage.json",
        config_path=config,
    )
    import argparse

    with TestClient(app, base_url="http://localhost") as client:
        key = add(config, argparse.Namespace(name="fresh", models=None, **dict.fromkeys(
            ["rpm", "requests_per_hour", "requests_per_day", "requests_per_month", "budget_usd_per_day", "budget_usd_per_month"]
        )))  # fmt: skip
        assert "fresh" in config.read_text()
        assert key not in config.read_text()
        time.sleep(1.1)
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/models", headers=headers).status_code == 200
        revoke(config, "fresh")
        time.sleep(1.1)
        assert client.get("/v1/models", headers=headers).status_code == 401


def test_dashboard_page_served_self_contained(client: TestClient) -> None:
    page = client.get("/dashboard", headers={"Authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert "<script" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # no CDN, nothing remote
