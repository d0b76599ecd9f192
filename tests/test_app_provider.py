"""The app on the Provider API path, with the upstream mocked (respx): which endpoint and body each dialect
sends, the stream back in the client's protocol, a plan that lost its API access, failover between
accounts of either kind, errors in the caller's protocol, the ledger by account and path."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx
from fastapi.testclient import TestClient
from tests.conftest import chunked, make_settings, sse_payloads
from tests.test_spending import Clock

KEYS = {"prov": "user_prov_0123456789", "go": "user_go_0123456789"}
UPGRADE = {"error": {"message": "The Go plan is the only plan without API access", "code": "upgrade_required"}}


def chat_sse(*deltas: dict[str, Any], finish: str = "stop") -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    usage = {"prompt_tokens": 20, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 8}, "cost": 0.0042}
    chunks.append({"choices": [], "usage": usage})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def messages_sse(text: str) -> bytes:
    usage = {"input_tokens": 12, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 1}
    events = [
        {
            "type": "message_start",
            "message": {"id": "msg_u", "type": "message", "role": "assistant", "content": [], "usage": usage},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-real"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def serve_provider(upstream: respx.MockRouter, answer: Any = None, access: bool = True) -> list[dict[str, Any]]:
    """The probe answers as a plan with (or without) the API; generations get `answer`; returns the bodies."""
    sent: list[dict[str, Any]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("n") == 2:  # the access probe
            return (
                httpx.Response(400, json={"error": {"message": "n"}}) if access else httpx.Response(403, json=UPGRADE)
            )
        sent.append(body)
        if callable(answer):
            return answer(request, body)
        return answer or httpx.Response(200, content=chat_sse({"reasoning": "Plan."}, {"content": "Hi!"}))

    upstream.routes["provider"].mock(side_effect=respond)
    upstream.post("/provider/v1/messages", name="messages").mock(side_effect=respond)
    return sent


def provider_client(app_factory: Any, **settings: Any) -> TestClient:
    client: TestClient = app_factory(make_settings(**settings))
    return client


def test_provider_chat_native_body_and_usage_forced(app_factory: Any, upstream: respx.MockRouter) -> None:
    sent = serve_provider(upstream)
    client = provider_client(app_factory)
    body = {
        "model": "deepseek-v4-pro",
        "messages": [{"role": "user", "content": "hi"}],
        "n": 1,
        "stream": True,
        "tool_choice": "auto",
    }
    response = client.post("/v1/chat/completions", json=body)
    payloads = sse_payloads(response.text)
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in payloads[:-1] if p["choices"]) == "Hi!"
    assert any(p["choices"] and p["choices"][0]["delta"].get("reasoning_content") == "Plan." for p in payloads[:-1])
    assert payloads[-1] == "[DONE]"
    assert sent == [
        {
            "model": "deepseek/deepseek-v4-pro",
            "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": "auto",
            "max_tokens": 64000,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]
    assert upstream.routes["generate"].call_count == 0
    entry = client.get("/usage/recent").json()["requests"][0]
    assert (entry["account"], entry["path"], entry["cost_micro"], entry["cache_read_tokens"]) == (
        "default",
        "provider",
        4200,
        8,
    )


def test_provider_claude_for_an_anthropic_client_goes_to_messages_natively(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    sent = serve_provider(upstream, httpx.Response(200, content=messages_sse("Hello")))
    client = provider_client(app_factory, exclude_models=[])
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "thinking": {"type": "enabled", "budget_tokens": 8000},
        "temperature": 0.3,
        "messages": [{"role": "user", "content": "hi"}],
    }
    message = client.post("/v1/messages", json=body).json()
    assert message["content"] == [
        {"type": "thinking", "thinking": "Hmm.", "signature": "sig-real"},  # Claude's own, for the client to replay
        {"type": "text", "text": "Hello"},
    ]
    assert upstream.routes["messages"].calls.last.request.headers["anthropic-version"] == "2023-06-01"
    assert sent[-1] == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
        "stream": True,
    }


def test_provider_openai_client_asking_claude_is_translated_to_messages(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    sent = serve_provider(upstream, httpx.Response(200, content=messages_sse("Hello")))
    client = provider_client(app_factory, exclude_models=[])
    completion = client.post(
        "/v1/chat/completions", json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}
    ).json()
    assert completion["choices"][0]["message"]["content"] == "Hello"
    assert completion["choices"][0]["message"]["reasoning_content"] == "Hmm."
    assert sent[-1]["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_provider_upgrade_required_on_a_request_moves_the_account_to_cli(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    serve_provider(upstream, httpx.Response(403, json=UPGRADE))  # the probe said yes; the plan changed since
    client = provider_client(app_factory)
    response = client.post(
        "/v1/chat/completions", json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello, world."  # the CLI endpoint's answer
    account = client.get("/health?detail=1").json()["accounts"][0]
    assert account["state"] == "healthy" and account["cooldown_seconds"] == 0  # moved, not cooled down
    assert account["upstream"]["path"] == "cli" and "upgrade_required" in account["upstream"]["reason"]
    assert client.get("/usage/recent").json()["requests"][0]["path"] == "cli"


def test_provider_go_plan_auto_takes_cli_and_forced_provider_refuses_clearly(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    serve_provider(upstream, httpx.Response(403, json=UPGRADE), access=False)
    auto = provider_client(app_factory)
    assert (
        auto.post(
            "/v1/chat/completions", json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
        ).status_code
        == 200
    )
    assert auto.get("/health?detail=1").json()["accounts"][0]["upstream"]["path"] == "cli"
    forced = provider_client(
        app_factory, commandcode={"api_key": "user_forced_0123", "base_url": "https://cc.test", "upstream": "provider"}
    )
    refused = forced.post(
        "/v1/messages",
        json={"model": "deepseek-v4-pro", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"
    assert "no Provider API access" in refused.json()["error"]["message"]


def test_provider_failover_between_accounts_of_either_kind(app_factory: Any, upstream: respx.MockRouter) -> None:
    accounts = [{"name": n, "api_key": k, "upstream": "provider" if n == "prov" else "cli"} for n, k in KEYS.items()]
    limited = httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "60"})
    sent = serve_provider(upstream, limited)
    client: TestClient = app_factory(
        make_settings(commandcode={"base_url": "https://cc.test", "accounts": accounts}),
        upstream_key=None,
        accounts=list(KEYS.items()),
        clock=Clock(),
    )
    for i in range(6):
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": f"q{i}"}]},
        )
        assert answer.status_code == 200, answer.text
    assert len(sent) == 1  # the Provider account was tried once, cooled down, then left alone
    states = {a["name"]: a for a in client.get("/health?detail=1").json()["accounts"]}
    assert states["prov"]["state"] == "cooling_down" and states["prov"]["upstream"]["path"] == "provider"
    by_account = client.get("/usage").json()["by_account"]
    assert by_account["go"]["total_requests"] == 6 and by_account["go"]["path"] == "cli"


def test_provider_errors_in_the_callers_protocol(app_factory: Any, upstream: respx.MockRouter) -> None:
    overflow = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 300000 tokens"},
    }
    serve_provider(upstream, httpx.Response(400, json=overflow))
    client = provider_client(app_factory)
    anthropic = client.post(
        "/v1/messages",
        json={"model": "deepseek-v4-pro", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    openai = client.post(
        "/v1/chat/completions", json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert anthropic.status_code == 400 and anthropic.json()["type"] == "error"
    assert openai.status_code == 400 and openai.json()["error"]["code"] == "context_length_exceeded"


def test_provider_failure_mid_stream_is_an_error_frame_never_a_stop(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    first = b'data: {"choices":[{"index":0,"delta":{"content":"par"}}]}\n\n'
    failure = b'data: {"error":{"message":"provider dropped","code":500}}\n\n'
    serve_provider(upstream, lambda request, body: chunked(first, failure)(request))
    client = provider_client(app_factory)
    body = {"model": "deepseek-v4-pro", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    payloads = sse_payloads(client.post("/v1/chat/completions", json=body).text)
    assert payloads[-1]["error"]["message"] == "Command Code failed (upstream 500: provider dropped)"
    assert "[DONE]" not in payloads
    assert not any(p.get("choices") and p["choices"][0]["finish_reason"] for p in payloads if isinstance(p, dict))
    whole = client.post("/v1/chat/completions", json={**body, "stream": False})
    assert whole.status_code == 502  # nothing sent yet: a plain HTTP error


def test_provider_max_tokens_ceiling_sent_again_once_then_remembered(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    def answer(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        if body["max_tokens"] > 128000:
            refusal = (
                f"max_tokens: {body['max_tokens']} > 128000, which is the maximum allowed number of output tokens for x"
            )
            return httpx.Response(
                400, json={"type": "error", "error": {"type": "invalid_request_error", "message": refusal}}
            )
        return httpx.Response(200, content=messages_sse("ok"))

    sent = serve_provider(upstream, answer)
    client = provider_client(app_factory, exclude_models=[])
    body = {"model": "claude-sonnet-4-6", "max_tokens": 200000, "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/messages", json=body).status_code == 200
    assert [b["max_tokens"] for b in sent] == [200000, 128000]
    assert client.post("/v1/messages", json=body).status_code == 200
    assert [b["max_tokens"] for b in sent] == [200000, 128000, 128000]


def test_provider_n_two_fans_out_one_completion_per_request(app_factory: Any, upstream: respx.MockRouter) -> None:
    sent = serve_provider(upstream)
    client = provider_client(app_factory)
    completion = client.post(
        "/v1/chat/completions",
        json={"model": "deepseek-v4-pro", "n": 2, "messages": [{"role": "user", "content": "hi"}]},
    ).json()
    assert [c["index"] for c in completion["choices"]] == [0, 1]
    assert len(sent) == 2 and all("n" not in b for b in sent)
    assert completion["usage"]["prompt_tokens"] == 40


def test_provider_cli_account_never_probes(app_factory: Any, upstream: respx.MockRouter) -> None:
    sent = serve_provider(upstream)
    client = provider_client(
        app_factory, commandcode={"api_key": "user_cli_0123", "base_url": "https://cc.test", "upstream": "cli"}
    )
    client.post(
        "/v1/chat/completions", json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert upstream.routes["provider"].call_count == 0 and not sent
    assert upstream.routes["generate"].call_count == 1
