"""/v1/chat/completions and /v1/models through the app, with the upstream mocked by respx."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from tests.conftest import UPSTREAM, UPSTREAM_KEY, USAGE, chunked, make_settings, ndjson, sse_payloads, text_answer

from ccgw.jsonutil import loads

CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}


def sent_envelope(upstream: respx.MockRouter) -> dict[str, Any]:
    request = upstream.routes["generate"].calls.last.request
    envelope: dict[str, Any] = loads(request.content)
    return envelope


def test_chat_non_stream_folds_answer_and_usage(client: TestClient, upstream: respx.MockRouter) -> None:
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "deepseek/deepseek-v4-pro"
    assert body["choices"][0]["message"]["content"] == "Hello, world."
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert response.headers["x-request-id"].startswith("req_")


def test_chat_envelope_headers_and_placeholder_system(client: TestClient, upstream: respx.MockRouter) -> None:
    client.post("/v1/chat/completions", json=CHAT)
    request = upstream.routes["generate"].calls.last.request
    envelope = sent_envelope(upstream)
    assert set(envelope["config"]) == {
        "workingDir", "date", "environment", "structure", "isGitRepo",
        "currentBranch", "mainBranch", "gitStatus", "recentCommits",
    }  # fmt: skip
    assert envelope["params"]["stream"] is True
    assert envelope["params"]["max_tokens"] == 64000
    assert envelope["params"]["system"] == [{"type": "text", "text": "You are a helpful assistant."}]
    assert envelope["params"]["tools"] == []
    assert envelope["threadId"] == request.headers["x-session-id"]
    assert request.headers["authorization"].startswith("Bearer user_")
    assert request.headers["x-command-code-version"]
    assert request.headers["user-agent"] == "cli"
    # The CLI's headers that carry no data about the machine; nothing that does.
    assert request.headers["x-project-slug"] == "ccgw"
    assert request.headers["x-taste-learning"] == "false"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", request.headers["traceparent"])
    assert "x-cmd-zdr" not in request.headers
    assert not any(h.startswith(("x-thumbmark", "x-machine")) for h in request.headers)


def test_chat_traceparent_fresh_per_request_and_zdr_header_when_configured(
    app_factory: Any, upstream: respx.MockRouter
) -> None:
    client = app_factory(make_settings(commandcode={"api_key": UPSTREAM_KEY, "base_url": UPSTREAM, "zdr": True}))
    client.post("/v1/chat/completions", json=CHAT)
    client.post("/v1/chat/completions", json=CHAT)
    first, second = (call.request for call in upstream.routes["generate"].calls)
    assert first.headers["traceparent"] != second.headers["traceparent"]
    assert first.headers["x-cmd-zdr"] == "1"


def test_chat_stream_sse_with_usage_chunk_before_done(client: TestClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["choices"] == [] and payloads[-2]["usage"]["total_tokens"] == 107
    assert payloads[-3]["choices"][0]["finish_reason"] == "stop"
    text = "".join(p["choices"][0]["delta"].get("content", "") for p in payloads[:-2])
    assert text == "Hello, world."


def test_chat_stream_failure_after_first_byte_is_error_frame_without_done(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["generate"].mock(
        side_effect=chunked(
            ndjson({"type": "text-delta", "text": "partial"}),
            ndjson({"type": "error", "error": {"message": "providers are at capacity", "statusCode": 503}}),
        )
    )
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    payloads = sse_payloads(response.text)
    assert "[DONE]" not in payloads
    assert payloads[-1]["error"]["type"] == "upstream_error"
    assert all(not p.get("choices") or p["choices"][0]["finish_reason"] is None for p in payloads[:-1])


def test_chat_truncated_stream_non_stream_is_502(client: TestClient, upstream: respx.MockRouter) -> None:
    upstream.routes["generate"].mock(
        return_value=httpx.Response(200, content=ndjson({"type": "text-delta", "text": "x"}))
    )
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_truncated"


def test_chat_failure_before_content_is_http_error_even_when_streaming(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["generate"].mock(
        return_value=httpx.Response(
            200,
            content=ndjson({"type": "start"}, {"type": "error", "error": {"message": "slow", "statusCode": 429}}),
        )
    )
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in response.headers


def test_chat_upstream_http_errors_mapped(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.test_spending import Clock

    clock = Clock()
    client = app_factory(clock=clock)
    cases = [
        (401, {"error": {"message": "bad key"}}, 502, "upstream_key_rejected"),
        (403, {"error": {"message": "MODEL_NOT_IN_PLAN: nope", "code": "MODEL_NOT_IN_PLAN"}}, 403, "model_not_in_plan"),
        (402, {"error": {"message": "pay"}}, 402, "insufficient_credits"),
        (413, {"error": {"message": "big"}}, 413, "request_too_large"),
        (400, {"error": {"message": "Too big: expected number to be <=200000"}}, 400, "upstream_rejected"),
        (503, {"error": {"message": "down"}}, 502, "upstream_error"),
        (400, {"error": {"message": "Insufficient credits for this request"}}, 402, "insufficient_credits"),
        (403, {"error": {"message": "spend limit", "code": "USAGE_EXCEEDED"}}, 402, "spend_cap_exceeded"),
        (403, {"error": {"message": "PREMIUM_CREDITS_EXHAUSTED: used"}}, 402, "premium_credits_exhausted"),
        (422, {"error": {"message": "no zdr", "code": "CMD_ZDR_NO_PROVIDERS"}}, 400, "zdr_no_providers"),
        # last: a 429 that names its window blocks what follows until the reset (see test_plan_*)
        (
            429,
            {"error": {"message": "limit", "rateLimit": {"reset": 4102444800, "window": "weekly"}}},
            429,
            "plan_window_exhausted",
        ),
    ]
    for status, body, expected, code in cases:
        clock.now += 7200  # past any cooldown the previous case left on the account
        upstream.routes["generate"].mock(return_value=httpx.Response(status, json=body))
        response = client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == expected, (status, response.text)
        assert response.json()["error"]["code"] == code
        if status == 429:
            assert int(response.headers["retry-after"]) > 0


def test_chat_connection_failure_502_and_timeout_504(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.conftest import make_settings

    client = app_factory()
    upstream.routes["generate"].mock(side_effect=httpx.ConnectError("refused"))
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 502
    upstream.routes["generate"].mock(side_effect=httpx.ReadTimeout("slow"))
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 504
    assert make_settings().timeouts.idle >= 120


def test_chat_tool_call_stream_and_fold(client: TestClient, upstream: respx.MockRouter) -> None:
    upstream.routes["generate"].mock(
        return_value=httpx.Response(
            200,
            content=ndjson(
                {"type": "reasoning-delta", "id": "r", "text": "need file"},
                {"type": "tool-input-start", "id": "call_a", "toolName": "read"},
                {"type": "tool-input-delta", "id": "call_a", "delta": '{"p":"wrong"}'},
                {"type": "tool-call", "toolCallId": "call_a", "toolName": "read", "input": {"p": "right"}},
                {"type": "finish", "finishReason": "tool-calls", "rawFinishReason": "tool_calls", "totalUsage": USAGE},
            ),
        )
    )
    tools = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object", "properties": {}}}}]
    body = client.post("/v1/chat/completions", json={**CHAT, "tools": tools}).json()
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"] == {"name": "read", "arguments": '{"p":"right"}'}
    assert message["reasoning_content"] == "need file"
    # the reasoning is remembered for the next turn, even if the client drops it
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": message["tool_calls"]},
        {"role": "tool", "tool_call_id": "call_a", "content": "data"},
    ]
    upstream.routes["generate"].mock(return_value=httpx.Response(200, content=text_answer("done")))
    client.post("/v1/chat/completions", json={**CHAT, "messages": history, "tools": tools})
    sent = sent_envelope(upstream)["params"]["messages"][1]["content"]
    assert sent[0] == {"type": "reasoning", "text": "need file"}


def test_chat_n_two_parallel_requests_usage_summed(client: TestClient, upstream: respx.MockRouter) -> None:
    body = client.post("/v1/chat/completions", json={**CHAT, "n": 2}).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert all(c["message"]["content"] == "Hello, world." for c in body["choices"])
    assert body["usage"]["prompt_tokens"] == 200
    assert upstream.routes["generate"].call_count == 2


def test_chat_stop_sequence_applied_by_gateway(client: TestClient) -> None:
    body = client.post("/v1/chat/completions", json={**CHAT, "stop": [","]}).json()
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_chat_validation_errors_are_openai_shaped_400(client: TestClient) -> None:
    for payload in (
        b"{not json",
        b"[]",
        json.dumps({"messages": []}).encode(),
        json.dumps({"model": "m", "messages": "hi"}).encode(),
        json.dumps({**CHAT, "temperature": "hot"}).encode(),
        json.dumps({**CHAT, "messages": [{"role": "wizard", "content": "x"}]}).encode(),
        b"\xff\xfe",
    ):
        response = client.post("/v1/chat/completions", content=payload)
        assert response.status_code == 400, (payload, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert "detail" not in response.json()


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None]
)
def test_chat_body_not_declared_json_is_415(
    client: TestClient, upstream: respx.MockRouter, content_type: str | None
) -> None:
    # A browser sends these three to any origin without a CORS preflight; JSON it cannot.
    headers = {"content-type": content_type} if content_type else {"content-type": ""}
    response = client.post("/v1/chat/completions", content=json.dumps(CHAT).encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in response.json()["error"]["message"]
    assert not upstream["generate"].called


def test_chat_json_content_types_accepted(client: TestClient) -> None:
    for kind in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        response = client.post(
            "/v1/chat/completions", content=json.dumps(CHAT).encode(), headers={"content-type": kind}
        )
        assert response.status_code == 200, kind


def test_auth_missing_wrong_and_x_api_key(client: TestClient) -> None:
    assert client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": ""}).status_code == 401
    wrong = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    from tests.conftest import LOCAL_KEY

    ok = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "", "x-api-key": LOCAL_KEY})
    assert ok.status_code == 200


def test_models_list_shape_exclusions_and_resolution(client: TestClient, upstream: respx.MockRouter) -> None:
    body = client.get("/v1/models").json()
    ids = [m["id"] for m in body["data"]]
    assert "claude-sonnet-4-6" not in ids and "gpt-6-luna" in ids
    first = body["data"][0]
    assert first == {
        "id": "deepseek/deepseek-v4-pro",
        "object": "model",
        "created": 0,
        "owned_by": "deepseek",
        "name": "DeepSeek V4 Pro",
        "context_length": 1048576,  # the live catalog's
        "min_plan": "individual-go",  # from the CLI's table
        "min_plan_name": "Go",
    }
    excluded = client.post("/v1/chat/completions", json={**CHAT, "model": "claude-sonnet-4-6"})
    assert excluded.status_code == 404 and excluded.json()["error"]["code"] == "model_not_found"
    unknown = client.post("/v1/chat/completions", json={**CHAT, "model": "nope-1"})
    assert unknown.status_code == 404
    assert upstream.routes["generate"].call_count == 0


def test_models_without_live_catalog_come_from_the_cli_table_with_context_length(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    upstream.routes["models"].mock(return_value=httpx.Response(403, json={"error": {"code": "upgrade_required"}}))
    data = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert len(data) > 40 and all(m["context_length"] > 0 for m in data.values())
    assert data["deepseek/deepseek-v4-pro"]["context_length"] == 1_000_000  # the CLI's own figure
    assert data["Qwen/Qwen3.8-27B"]["max_output_tokens"] == 32768
    assert data["gpt-6-luna"]["min_plan"] == "individual-go"
    assert not any(i.startswith("claude-") for i in data)  # exclude_models still applies
    assert "meituan/LongCat-2.0:free" not in data  # hidden in the CLI


def test_models_served_from_last_good_copy_when_upstream_down(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.conftest import make_settings

    client = app_factory(make_settings(models_cache_ttl=0))
    assert len(client.get("/v1/models").json()["data"]) == 4
    upstream.get("/provider/v1/models").mock(return_value=httpx.Response(503))
    assert len(client.get("/v1/models").json()["data"]) == 4


def test_model_aliases(app_factory: Any, upstream: respx.MockRouter) -> None:
    from tests.conftest import make_settings

    client = app_factory(make_settings(model_aliases={"gpt-4o": "moonshotai/Kimi-K3"}))
    body = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-4o"}).json()
    assert body["model"] == "moonshotai/Kimi-K3"
    assert sent_envelope(upstream)["params"]["model"] == "moonshotai/Kimi-K3"


def test_no_upstream_key_clear_error(app_factory: Any) -> None:
    client = app_factory(upstream_key=None)
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert "COMMANDCODE_API_KEY" in response.json()["error"]["message"]


def test_unknown_route_and_method_openai_shape(client: TestClient) -> None:
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    wrong = client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_health_and_usage_counts(client: TestClient) -> None:
    assert client.get("/health", headers={"Authorization": ""}).json() == {"status": "ok"}
    client.post("/v1/chat/completions", json=CHAT)
    client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    usage = client.get("/usage").json()
    assert usage["total_requests"] == 2
    assert usage["prompt_tokens"] == 200 and usage["completion_tokens"] == 14
    assert usage["cache_read_tokens"] == 80 and usage["cache_write_tokens"] == 0
    assert usage["cost_usd"] == 0.000246


def test_body_over_cap_is_413_declared_or_chunked(app_factory: Any) -> None:
    from tests.conftest import make_settings

    client = app_factory(make_settings(max_body_bytes=4096))
    big = json.dumps({**CHAT, "messages": [{"role": "user", "content": "x" * 10_000}]}).encode()
    declared = client.post("/v1/chat/completions", content=big)
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "request_too_large"

    def chunks() -> Any:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    streamed = client.post("/v1/chat/completions", content=chunks())
    assert streamed.status_code == 413
    anthropic = client.post("/v1/messages", content=big)
    assert anthropic.status_code == 413
    assert anthropic.json()["error"]["type"] == "request_too_large"


def test_chat_edge_refuses_deep_nesting_long_model_and_numbers_as_strings(client: TestClient) -> None:
    deep: Any = "x"
    for _ in range(300):  # orjson cannot write this back (limit 254): it was a 500 when echoed or forwarded
        deep = {"a": deep}
    for body, param in (
        ({**CHAT, "metadata": deep}, None),
        ({**CHAT, "model": "m" * 10_000}, "model"),
        ({**CHAT, "temperature": "0.5"}, "temperature"),
        ({**CHAT, "top_p": True}, "top_p"),
        ({**CHAT, "functions": True}, "functions"),
    ):
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        assert len(response.json()["error"]["message"]) < 200


def test_unexpected_error_reading_the_stream_is_a_failure_not_a_success(
    client: TestClient, upstream: respx.MockRouter, monkeypatch: Any
) -> None:
    from ccgw.upstream.ndjson import NDJSONDecoder

    def broken(self: Any, chunk: bytes) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(NDJSONDecoder, "feed", broken)
    response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 502
    assert "RuntimeError" in response.json()["error"]["message"]


PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_chat_image_to_text_only_model_is_a_note_a_header_and_a_log_line(
    client: TestClient, upstream: respx.MockRouter, caplog: Any
) -> None:
    content = [{"type": "text", "text": "what is it?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    with caplog.at_level("WARNING", logger="ccgw.requests"):
        response = client.post(
            "/v1/chat/completions",
            json={"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": content}]},
        )
    assert response.status_code == 200
    assert response.headers["x-ccgw-warning"] == "image omitted, deepseek/deepseek-v4-pro takes text only"
    parts = sent_envelope(upstream)["params"]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "text"]
    assert "takes text only" in parts[1]["text"]
    assert any("1 image(s) omitted" in r.getMessage() for r in caplog.records)


def test_chat_image_to_vision_model_is_sent_without_warning(client: TestClient, upstream: respx.MockRouter) -> None:
    content = [{"type": "image_url", "image_url": {"url": PNG}}]
    response = client.post(
        "/v1/chat/completions", json={"model": "Kimi-K3", "messages": [{"role": "user", "content": content}]}
    )
    assert "x-ccgw-warning" not in response.headers
    assert sent_envelope(upstream)["params"]["messages"][0]["content"][0]["type"] == "image"


def test_chat_pause_turn_is_continued_into_one_answer_with_usage_summed(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    paused = ndjson(
        {"type": "start"},
        {"type": "text-delta", "id": "txt-0", "text": "First half. "},
        {"type": "finish", "finishReason": "other", "rawFinishReason": "pause_turn", "totalUsage": USAGE},
    )
    upstream.routes["generate"].side_effect = [
        httpx.Response(200, content=paused),
        httpx.Response(200, content=text_answer("Second half.")),
    ]
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "First half. Second half."
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 2 * USAGE["inputTokens"]
    first, second = (loads(call.request.content) for call in upstream.routes["generate"].calls)
    assert first["params"] == second["params"]  # the same request again, as the CLI sends it
