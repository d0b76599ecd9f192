"""Requests ccgw refuses itself: one log line each, listed in the ledger with `upstream: false`, counted
as `rejected_requests` and never as an upstream request, a failure or a cost."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from tests.conftest import LOCAL_KEY, make_settings

SCRIPT_KEY = "ccgw-script-key-0123456789"
MESSAGES = {"model": "deepseek-v4-pro", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def recent(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/usage/recent")
    assert response.status_code == 200
    entries: list[dict[str, Any]] = response.json()["requests"]
    return entries


def totals(client: TestClient) -> dict[str, Any]:
    usage: dict[str, Any] = client.get("/usage").json()
    return usage


def test_rejected_bad_body_listed_and_counted_apart(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ccgw")
    response = client.post("/v1/messages", json={**MESSAGES, "messages": [{"role": "robot", "content": "x"}]})
    assert response.status_code == 400
    rid = response.headers["x-request-id"]
    (entry,) = recent(client)
    assert entry["request_id"] == rid
    assert (entry["endpoint"], entry["model"], entry["upstream"]) == ("messages", "", False)
    assert entry["status"] == "InvalidRequestError"
    usage = totals(client)
    assert (usage["rejected_requests"], usage["total_requests"], usage["failed_requests"]) == (1, 0, 0)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rejected")]
    assert len(lines) == 1
    assert rid in lines[0] and "/v1/messages" in lines[0] and "400" in lines[0] and "messages[0].role" in lines[0]
    assert LOCAL_KEY not in lines[0]


def test_rejected_without_key_recorded_under_no_key(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={}, headers={"Authorization": "Bearer wrong-key-123"})
    assert response.status_code == 401
    (entry,) = recent(client)
    assert (entry["key"], entry["status"], entry["upstream"]) == ("(no key)", "invalid_api_key", False)


def test_rejected_unknown_model_keeps_the_model_asked_for(client: TestClient) -> None:
    response = client.post("/v1/responses", json={"model": "no-such-model", "input": "hi"})
    assert response.status_code == 404
    (entry,) = recent(client)
    assert (entry["endpoint"], entry["model"], entry["upstream"]) == ("responses", "no-such-model", False)
    assert client.get(f"/v1/usage/{response.headers['x-request-id']}").json()["upstream"] is False


def test_rejected_body_over_the_limit_recorded(app_factory: Any) -> None:
    client = app_factory(make_settings(max_body_bytes=1024))
    response = client.post("/v1/chat/completions", content=b"{" + b" " * 4000 + b"}")
    assert response.status_code == 413
    (entry,) = recent(client)
    assert (entry["status"], entry["upstream"]) == ("request_too_large", False)


def test_rejected_at_the_edge_in_the_ledger_before_the_answer(app_factory: Any) -> None:
    """A 413 and a WebSocket's 426 are refused by the edge middleware, before any route: like every
    refusal, their record is committed before the answer goes out, however slow the commit."""
    client = app_factory(make_settings(max_body_bytes=1024))
    client.get("/health")  # the app has started: its store exists
    db = client.app.state.gateway.store.db  # type: ignore[attr-defined]

    def slowed(commit: Any) -> Any:
        async def slow(fn: Any) -> Any:
            await asyncio.sleep(0.3)
            return await commit(fn)

        return slow

    db.commit, db.write = slowed(db.commit), slowed(db.write)
    assert client.post("/v1/chat/completions", content=b"{" + b" " * 4000 + b"}").status_code == 413
    assert [e["status"] for e in recent(client)] == ["request_too_large"]
    with pytest.raises(WebSocketDenialResponse):
        with client.websocket_connect("/v1/responses"):
            pass
    assert [e["status"] for e in recent(client)] == ["websocket_not_supported", "request_too_large"]


def test_rejected_count_tokens_recorded(client: TestClient) -> None:
    response = client.post("/v1/messages/count_tokens", json={"model": "m", "messages": "nope"})
    assert response.status_code == 400
    (entry,) = recent(client)
    assert (entry["endpoint"], entry["upstream"]) == ("messages.count_tokens", False)


def test_rejected_by_a_key_limit_is_not_a_request_of_the_window(app_factory: Any) -> None:
    client = app_factory(make_settings(api_keys=[{"name": "script", "key": SCRIPT_KEY, "rpm": 1}]))
    headers = {"Authorization": f"Bearer {SCRIPT_KEY}"}
    chat = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=chat, headers=headers).status_code == 200
    assert client.post("/v1/chat/completions", json=chat, headers=headers).status_code == 429
    newest, first = recent(client)
    assert (newest["status"], newest["upstream"], first["upstream"]) == ("key_rate_limited", False, True)
    usage = totals(client)
    assert (usage["total_requests"], usage["rejected_requests"], usage["failed_requests"]) == (1, 1, 0)


def test_upstream_failure_is_an_upstream_request_not_a_rejection(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["generate"].mock(return_value=httpx.Response(400, json={"error": {"message": "nope"}}))
    response = client.post(
        "/v1/chat/completions", json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 400
    (entry,) = recent(client)
    assert entry["upstream"] is True
    usage = totals(client)
    assert (usage["total_requests"], usage["failed_requests"], usage["rejected_requests"]) == (1, 1, 0)


def test_rejections_counted_in_metrics_apart(client: TestClient) -> None:
    client.post("/v1/chat/completions", json={"model": "deepseek-v4-pro"})
    text = client.get("/metrics").text
    assert 'ccgw_rejected_requests_total{code="InvalidRequestError",endpoint="chat.completions"} 1.0' in text
    assert "ccgw_requests_total{" not in text


def test_websocket_upgrade_on_responses_answered_426_at_once(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as caught:
        with client.websocket_connect("/v1/responses", headers={"OpenAI-Beta": "responses_websockets=2026-02-06"}):
            pass
    assert caught.value.status_code == 426
    assert caught.value.json()["error"]["code"] == "websocket_not_supported"
    (entry,) = recent(client)
    assert (entry["endpoint"], entry["status"], entry["upstream"]) == ("responses", "websocket_not_supported", False)


def test_upgrade_header_over_plain_http_answered_426(client: TestClient) -> None:
    response = client.get("/v1/responses", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert response.status_code == 426
