"""Accounting through the app, on both engines: rejected requests, late cost, visible storage
failures, and no answer before its record is committed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import respx
from tests.conftest import LOCAL_KEY, UPSTREAM_KEY, chunked, make_settings, ndjson
from tests.test_storage import FailingDatabase

from ccgw.application import create_app
from ccgw.storage.database import Database

CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
SCRIPT_KEY = "ccgw-script-key-0123456789"
USAGE = {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}


def settings(storage_url: str, **keys: Any) -> Any:
    return make_settings(api_keys=[{"name": "script", "key": SCRIPT_KEY, **keys}], storage={"url": storage_url})


def test_accounting_refused_request_recorded_as_rejected(app_factory: Any, storage_url: str) -> None:
    client = app_factory(settings(storage_url, rpm=1))
    headers = {"Authorization": f"Bearer {SCRIPT_KEY}"}
    assert client.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
    refused = client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert refused.status_code == 429
    usage = client.get("/usage").json()
    assert (usage["total_requests"], usage["failed_requests"], usage["rejected_requests"]) == (1, 0, 1)
    assert usage["by_key"]["script"]["rejected_requests"] == 1
    assert usage["storage"]["status"] == "ok"
    entry = client.get(f"/v1/usage/{refused.headers['x-request-id']}").json()
    assert (entry["status"], entry["upstream"], entry["cost_micro"]) == ("key_rate_limited", False, 0)
    assert client.get("/usage/recent").json()["requests"][0]["request_id"] == refused.headers["x-request-id"]


def test_accounting_refused_long_model_name_does_not_break_the_ledger(app_factory: Any, storage_url: str) -> None:
    """A client's unknown model name of 256 characters (the most the edge takes; a Gemini path takes more):
    PostgreSQL refuses a longer value than the ledger's column, which failed every later commit too."""
    client = app_factory(settings(storage_url))
    for name in ("m" * 256, "g" * 1000):
        if name.startswith("m"):
            refused = client.post("/v1/chat/completions", json={**CHAT, "model": name})
        else:
            refused = client.post(
                f"/v1beta/models/{name}:generateContent", json={"contents": [{"parts": [{"text": "hi"}]}]}
            )
        assert refused.status_code == 404, refused.text
        entry = client.get(f"/v1/usage/{refused.headers['x-request-id']}").json()
        assert entry["model"] == name[:200] and entry["upstream"] is False
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    usage = client.get("/usage").json()
    assert usage["storage"]["status"] == "ok"
    assert (usage["total_requests"], usage["rejected_requests"]) == (1, 2)


def test_accounting_cost_after_finish_corrects_the_record(
    app_factory: Any, upstream: respx.MockRouter, storage_url: str
) -> None:
    answer = ndjson(
        {"type": "start"},
        {"type": "text-start", "id": "t"},
        {"type": "text-delta", "id": "t", "text": "Hi"},
        {"type": "text-end", "id": "t"},
        {"type": "finish-step", "finishReason": "stop", "usage": USAGE},
        {"type": "finish", "finishReason": "stop", "rawFinishReason": "stop", "totalUsage": USAGE},
    )
    metadata = ndjson({"type": "provider-metadata", "providerMetadata": {"gateway": {"cost": "0.000777"}}})
    upstream.routes["generate"].mock(side_effect=chunked(answer, metadata))
    client = app_factory(settings(storage_url))
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    for _ in range(100):  # the correction is written after the answer
        if client.get(f"/v1/usage/{rid}").json()["cost_micro"] == 777:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert client.get(f"/v1/usage/{rid}").json()["cost_micro"] == 777
    usage = client.get("/usage").json()
    assert (usage["cost_micro"], usage["total_requests"], usage["prompt_tokens"]) == (777, 1, 10)


def test_accounting_storage_failure_visible_in_health_and_usage(app_factory: Any, storage_url: str) -> None:
    client = app_factory(settings(storage_url))
    store = client.app.state.gateway.store
    store.db = failing = FailingDatabase(store.db)
    failing.failing = True
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200  # still answered
    health = client.get("/health", params={"detail": 1}).json()
    assert health["status"] == "degraded"
    assert health["storage"]["status"] == "failing"
    assert "database or disk is full" in health["storage"]["error"]
    usage = client.get("/usage").json()
    assert usage["storage"]["unsaved_requests"] == 1
    assert usage["total_requests"] == 0  # what is saved; the unsaved one is reported beside it
    limited = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {SCRIPT_KEY}"})
    assert limited.status_code == 200  # a key without limits needs no database to be admitted


class GatedDatabase(Database):
    """Writes wait for `gate`: a slow disk or a far database."""

    def __init__(self, real: Database) -> None:
        self.real, self.dialect, self.url = real, real.dialect, real.url
        self.gate = asyncio.Event()

    async def write(self, fn: Any) -> Any:
        await self.gate.wait()
        return await self.real.write(fn)

    async def read(self, fn: Any) -> Any:
        return await self.real.read(fn)

    async def close(self) -> None:
        await self.real.close()


def test_accounting_answer_waits_for_its_commit(upstream: respx.MockRouter, tmp_path: Path, storage_url: str) -> None:
    app = create_app(
        settings(storage_url),
        upstream_key=UPSTREAM_KEY,
        transport=httpx.MockTransport(upstream.handler),
        usage_path=tmp_path / "usage.json",
    )

    async def go() -> None:
        async with app.router.lifespan_context(app):
            store = app.state.gateway.store
            store.db = gated = GatedDatabase(store.db)
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {LOCAL_KEY}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost", headers=headers) as http:
                for body in (CHAT, {**CHAT, "stream": True}):
                    gated.gate.clear()
                    answer = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
                    await asyncio.sleep(0.3)
                    done_early = answer.done()
                    gated.gate.set()
                    assert not done_early, "answered before the record was committed"
                    response = await asyncio.wait_for(answer, 10)
                    assert response.status_code == 200
                    entry = await store.lookup(response.headers["x-request-id"])
                    assert entry is not None and entry["status"] == "ok"

    asyncio.run(go())
