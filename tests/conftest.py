"""Shared fixtures: settings, NDJSON transcripts, and the app with a respx-mocked upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from ccgw.application import create_app
from ccgw.config import Settings, parse_settings
from ccgw.jsonutil import dumps

UPSTREAM = "https://cc.test"
LOCAL_KEY = "ccgw-test-key-0123456789"
UPSTREAM_KEY = "user_testkey_abcdefghijklmnopqrstuvwxyz"
JSON = {"Content-Type": "application/json"}  # what every real client sends with a body

CATALOG = {
    "object": "list",
    "data": [
        {"id": "deepseek/deepseek-v4-pro", "name": "DeepSeek V4 Pro", "context_length": 1048576},
        {"id": "deepseek/deepseek-v4-flash", "name": "DeepSeek V4 Flash", "context_length": 1048576},
        {"id": "moonshotai/Kimi-K3", "name": "Kimi K3", "context_length": 262144},
        {"id": "gpt-6-luna", "name": "GPT-6 Luna", "context_length": 400000},
        {"id": "claude-sonnet-4-6", "name": "Claude Sonnet 4.6", "context_length": 200000},
    ],
}

CREDITS = {
    "credits": {
        "belowThreshold": False,
        "creditThreshold": 0,
        "monthlyCredits": 8.548,
        "purchasedCredits": 0,
        "freeCredits": 0,
    },
    "windowLimits": {
        "limited": True,
        "exceeded": None,
        "fiveHour": {"used": 0.025, "cap": 3, "exceeded": False, "resetAt": 4102444800000},
        "weekly": {"used": 1.45, "cap": 6, "exceeded": False, "resetAt": 4102444800000},
    },
}

WHOAMI = {"success": True, "user": {"id": "u1", "name": "n", "email": "e@x.test", "userName": "n"}, "org": None}

USAGE = {
    "inputTokens": 100,
    "inputTokenDetails": {"noCacheTokens": 60, "cacheReadTokens": 40},
    "outputTokens": 7,
    "outputTokenDetails": {"textTokens": 5, "reasoningTokens": 2},
    "totalTokens": 107,
}


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(dumps(e) + b"\n" for e in events)


def text_answer(*pieces: str, usage: dict[str, Any] | None = None, cost: str = "0.000123") -> bytes:
    return ndjson(
        {"type": "start"},
        {"type": "start-step", "request": {"body": {}}, "warnings": []},
        {"type": "text-start", "id": "txt-0"},
        *({"type": "text-delta", "id": "txt-0", "text": p} for p in pieces),
        {"type": "text-end", "id": "txt-0"},
        {
            "type": "finish-step",
            "finishReason": "stop",
            "usage": usage or USAGE,
            "providerMetadata": {"gateway": {"cost": cost}},
        },
        {"type": "finish", "finishReason": "stop", "rawFinishReason": "stop", "totalUsage": usage or USAGE},
        {"type": "provider-metadata", "providerMetadata": {"gateway": {"cost": cost}}},
    )


def chunked(*parts: bytes) -> Any:
    """A respx side effect answering 200 with `parts` as separate body chunks (fresh per call)."""

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    return respond


def make_settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "api_key": LOCAL_KEY,
        "commandcode": {"api_key": UPSTREAM_KEY, "base_url": UPSTREAM},
        "exclude_models": ["claude-"],
        "retries": {"backoff": 0.01},  # real retries, without real waiting
    }
    data.update(overrides)
    return parse_settings(data)


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    router = respx.MockRouter(base_url=UPSTREAM, assert_all_called=False)
    router.get("/provider/v1/models", name="models").mock(return_value=httpx.Response(200, json=CATALOG))
    router.get("/alpha/billing/credits", name="credits").mock(return_value=httpx.Response(200, json=CREDITS))
    router.get("/alpha/whoami", name="whoami").mock(return_value=httpx.Response(200, json=WHOAMI))
    upgrade = {"error": {"message": "The Go plan has no API access", "code": "upgrade_required"}}
    router.post("/provider/v1/chat/completions", name="provider").mock(return_value=httpx.Response(403, json=upgrade))
    router.post("/alpha/generate", name="generate").mock(
        return_value=httpx.Response(
            200, content=text_answer("Hello", ", world."), headers={"content-type": "text/event-stream"}
        )
    )
    return router


@pytest.fixture
def app_factory(upstream: respx.MockRouter, tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def build(settings: Settings | None = None, upstream_key: str | None = UPSTREAM_KEY, **kwargs: Any) -> TestClient:
        app = create_app(
            settings or make_settings(),
            upstream_key=upstream_key,
            transport=httpx.MockTransport(upstream.handler),
            usage_path=tmp_path / "usage.json",
            **kwargs,
        )
        client = TestClient(app, base_url="http://localhost", headers={"Authorization": f"Bearer {LOCAL_KEY}", **JSON})
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_factory: Any) -> TestClient:
    built: TestClient = app_factory()
    return built


def sse_payloads(text: str) -> list[Any]:
    """`data:` payloads of an SSE body, `[DONE]` kept as the string."""
    import json

    out: list[Any] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line[6:]
                out.append(data if data == "[DONE]" else json.loads(data))
    return out


@pytest.fixture(scope="session", autouse=True)
def _no_keys_in_gateway_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run (the session gateways have stopped by then): no key in any gateway log."""
    yield
    from tests.test_no_key_leaks import E2E_SECRETS, SECRETS, leaks_in_logs

    found = leaks_in_logs(tmp_path_factory.getbasetemp(), {**E2E_SECRETS, **SECRETS})
    assert not found, f"keys in gateway logs: {found}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One PostgreSQL server for the whole run (each test makes its own database)."""
    from tests.postgres import postgres_session

    yield from postgres_session()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The engine-independent tests run on both engines: "" (SQLite beside usage.json) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    server = request.getfixturevalue("postgres")
    url: str = server.new_database()
    return url
