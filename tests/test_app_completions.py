"""`/v1/completions` (legacy) and `/v1/embeddings` through the app, with respx-mocked services."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from tests.conftest import make_settings, ndjson, sse_payloads, text_answer

from ccgw.config import ConfigError
from ccgw.jsonutil import loads

EMBEDDINGS = "http://embed.test/v1"
EMBED_KEY = "sk-embed-secret-0123456789"


def sent(upstream: respx.MockRouter, call: int = -1) -> dict[str, Any]:
    envelope: dict[str, Any] = loads(upstream.routes["generate"].calls[call].request.content)
    return envelope["params"]


def test_completion_non_stream_text_and_usage(client: TestClient, upstream: respx.MockRouter) -> None:
    response = client.post("/v1/completions", json={"model": "deepseek-v4-flash", "prompt": "def add(a, b):"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert body["choices"] == [{"text": "Hello, world.", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    assert body["usage"]["prompt_tokens"] == 100 and body["usage"]["completion_tokens"] == 7
    params = sent(upstream)
    assert params["max_tokens"] == 16 and params["tools"] == []
    assert "reasoning_effort" not in params  # none asked for; the CLI has no "off" level
    assert params["messages"][0]["content"][0]["text"] == "def add(a, b):"


def test_completion_stream_ends_with_usage_and_done(client: TestClient) -> None:
    body = {"model": "deepseek-v4-flash", "prompt": "x", "stream": True, "stream_options": {"include_usage": True}}
    payloads = sse_payloads(client.post("/v1/completions", json=body).text)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"]["total_tokens"] == 107
    assert payloads[-3]["choices"][0]["finish_reason"] == "stop"
    assert "".join(p["choices"][0]["text"] for p in payloads[:-2]) == "Hello, world."


def test_completion_several_prompts_each_generated(client: TestClient, upstream: respx.MockRouter) -> None:
    upstream.routes["generate"].mock(
        side_effect=[
            httpx.Response(200, content=text_answer(text), headers={"content-type": "text/event-stream"})
            for text in ("one", "two")
        ]
    )
    response = client.post("/v1/completions", json={"model": "deepseek-v4-flash", "prompt": ["a", "b"]})
    choices = response.json()["choices"]
    assert sorted(c["text"] for c in choices) == ["one", "two"]
    assert [c["index"] for c in choices] == [0, 1]
    prompts = sorted(sent(upstream, i)["messages"][0]["content"][0]["text"] for i in (0, 1))
    assert prompts == ["a", "b"]


def test_completion_zed_edit_prediction_request(client: TestClient, upstream: respx.MockRouter) -> None:
    """What Zed's `open_ai_compatible_api` edit predictions send (prompt_format "qwen"), and what they read."""
    body = {
        "model": "deepseek/deepseek-v4-flash",
        "prompt": "<|fim_prefix|>fn add(a: i32, b: i32) -> i32 {\n    <|fim_suffix|>\n}<|fim_middle|>",
        "max_tokens": 64,
        "temperature": None,
        "stop": ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"],
        "environment": None,
    }
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["id"] and response.json()["choices"][0]["text"] == "Hello, world."
    text = sent(upstream)["messages"][0]["content"][0]["text"]
    assert text == "<prefix>fn add(a: i32, b: i32) -> i32 {\n    </prefix>\n<suffix>\n}</suffix>"


def test_completion_continue_autocomplete_request(client: TestClient, upstream: respx.MockRouter) -> None:
    """What Continue's autocomplete sends with `provider: openai` for a deepseek model (streamed, many stops)."""
    body = {
        "model": "deepseek/deepseek-v4-flash",
        "prompt": "<｜fim▁begin｜>def add(a, b):\n    <｜fim▁hole｜>\n<｜fim▁end｜>",
        "max_tokens": 1024,
        "temperature": 0.01,
        "stop": [
            "<｜fim▁begin｜>",
            "<｜fim▁hole｜>",
            "<｜fim▁end｜>",
            "//",
            "<｜end▁of▁sentence｜>",
            "\n\n",
            "\r\n\r\n",
        ]
        + [f"/src/{i}" for i in range(12)],
        "stream": True,
        "frequency_penalty": None,
        "presence_penalty": None,
    }
    payloads = sse_payloads(client.post("/v1/completions", json=body).text)
    assert payloads[-1] == "[DONE]"
    assert "".join(p["choices"][0]["text"] for p in payloads[:-1] if p["choices"]) == "Hello, world."
    params = sent(upstream)
    assert [b["text"][:48] for b in params["system"]] == ["You are a fill-in-the-middle completion engine. "]
    assert params["temperature"] == 0.01 and "frequency_penalty" not in params


def test_completion_paused_prompt_continued_with_its_own_params(client: TestClient, upstream: respx.MockRouter) -> None:
    """Each prompt is its own generation: a pause in the second is continued with the second's params."""
    paused = ndjson(
        {"type": "start"},
        {"type": "text-delta", "id": "txt-0", "text": "two, "},
        {"type": "finish", "finishReason": "other", "rawFinishReason": "pause_turn", "totalUsage": {}},
    )
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        prompt = loads(request.content)["params"]["messages"][0]["content"][0]["text"]
        seen.append(prompt)
        if prompt == "b" and seen.count("b") == 1:
            return httpx.Response(200, content=paused)
        return httpx.Response(200, content=text_answer("one" if prompt == "a" else "continued"))

    upstream.routes["generate"].side_effect = answer
    response = client.post("/v1/completions", json={"model": "deepseek-v4-flash", "prompt": ["a", "b"]})
    assert response.status_code == 200, response.text
    assert [c["text"] for c in response.json()["choices"]] == ["one", "two, continued"]
    assert sorted(seen) == ["a", "b", "b"]  # the continuation re-sent prompt b, not prompt a


def test_completion_echo_refused_in_openai_shape(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"model": "deepseek-v4-flash", "prompt": "x", "echo": True})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "echo"


def test_completion_usage_in_the_ledger(client: TestClient) -> None:
    response = client.post("/v1/completions", json={"model": "deepseek-v4-flash", "prompt": "x"})
    entry = client.get(f"/v1/usage/{response.headers['x-request-id']}").json()
    assert (entry["endpoint"], entry["status"], entry["output_tokens"]) == ("completions", "ok", 7)


# --- embeddings -------------------------------------------------------------------------------


def embeddings_service(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> respx.MockRouter:
    router = respx.MockRouter(base_url=EMBEDDINGS, assert_all_called=False)

    def answer(request: httpx.Request) -> httpx.Response:
        if status != 200:
            return httpx.Response(status, json=body, headers=headers)
        asked = json.loads(request.content)
        vectors = [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}]
        return httpx.Response(
            200,
            json={
                "object": "list",
                "data": vectors,
                "model": asked["model"],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            },
        )

    router.post("/embeddings", name="embed").mock(side_effect=answer)
    return router


def embedding_app(app_factory: Any, service: respx.MockRouter, **settings: Any) -> TestClient:
    config = {
        "base_url": EMBEDDINGS + "/",
        "api_key": EMBED_KEY,
        "models": {"text-embedding-3-small": "nomic-embed-text"},
    }
    client: TestClient = app_factory(
        make_settings(embeddings={**config, **settings}), embeddings_transport=httpx.MockTransport(service.handler)
    )
    return client


def test_embeddings_unconfigured_is_an_honest_400(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hi"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "embeddings_unavailable"
    assert "no embedding models" in error["message"] and "embeddings.base_url" in error["message"]


def test_embeddings_forwarded_with_model_mapped_and_key(app_factory: Any) -> None:
    service = embeddings_service()
    client = embedding_app(app_factory, service)
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 2, "encoding_format": "float"}
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["embedding"] == [0.25, -0.5]
    request = service.routes["embed"].calls.last.request
    assert request.headers["authorization"] == f"Bearer {EMBED_KEY}"
    assert json.loads(request.content) == {**body, "model": "nomic-embed-text"}
    entry = client.get(f"/v1/usage/{response.headers['x-request-id']}").json()
    assert (entry["endpoint"], entry["model"], entry["status"], entry["prompt_tokens"]) == (
        "embeddings",
        "nomic-embed-text",
        "ok",
        3,
    )


def test_embeddings_unmapped_model_passes_through_without_key(app_factory: Any) -> None:
    service = embeddings_service()
    client = embedding_app(app_factory, service, api_key=None)
    assert client.post("/v1/embeddings", json={"model": "bge-m3", "input": "x"}).json()["model"] == "bge-m3"
    assert "authorization" not in service.routes["embed"].calls.last.request.headers


def test_embeddings_service_failures_mapped_and_key_never_echoed(app_factory: Any) -> None:
    cases = [
        (embeddings_service(404, {"error": {"message": 'model "x" not found'}}), 404, "model_not_found"),
        (embeddings_service(400, {"error": "input too long"}), 400, "embeddings_rejected"),
        (embeddings_service(401, {"error": f"bad key {EMBED_KEY}"}), 502, "embeddings_key_rejected"),
        (embeddings_service(429, {"error": "slow"}, {"retry-after": "7"}), 429, "rate_limit_exceeded"),
        (embeddings_service(503, None), 502, "upstream_error"),
    ]
    for service, status, code in cases:
        client = embedding_app(app_factory, service)
        response = client.post("/v1/embeddings", json={"model": "x", "input": "hi"})
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert EMBED_KEY not in response.text
        entry = client.get(f"/v1/usage/{response.headers['x-request-id']}").json()
        assert entry["status"] == code


def test_embeddings_unreachable_service_is_502(app_factory: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client: TestClient = app_factory(
        make_settings(embeddings={"base_url": EMBEDDINGS}), embeddings_transport=httpx.MockTransport(refuse)
    )
    response = client.post("/v1/embeddings", json={"model": "x", "input": "hi"})
    assert response.status_code == 502 and "Cannot reach the embeddings service" in response.json()["error"]["message"]


def test_embeddings_key_limits_apply(app_factory: Any) -> None:
    service = embeddings_service()
    settings = make_settings(
        embeddings={"base_url": EMBEDDINGS},
        api_keys=[{"name": "ide", "key": "ccgw-ide-key-0123456789", "models": ["deepseek/*"]}],
    )
    client: TestClient = app_factory(settings, embeddings_transport=httpx.MockTransport(service.handler))
    response = client.post(
        "/v1/embeddings",
        json={"model": "nomic-embed-text", "input": "x"},
        headers={"Authorization": "Bearer ccgw-ide-key-0123456789"},
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "model_not_allowed"
    assert service.routes["embed"].call_count == 0


def test_embeddings_config_rejects_a_bad_url() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.base_url"):
        make_settings(embeddings={"base_url": "localhost:11434"})
