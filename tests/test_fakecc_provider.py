"""The fake's Provider API (upstream-protocol.md §8): plans per key, §8's refusals, and the scenario
library served in the OpenAI chat and Anthropic messages wire formats."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.fakecc import FakeState, create_fake_app
from tests.fakecc.provider_wire import signature

pytestmark = pytest.mark.anyio

GO_KEY = "user_go_0123456789"
PROVIDER_KEY = "user_provider_0123456789"
CHAT = "/provider/v1/chat/completions"
MESSAGES = "/provider/v1/messages"
TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def bearer(key: str = PROVIDER_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def post(path: str, body: Any, *, key: str = PROVIDER_KEY, state: FakeState | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_fake_app(state or FakeState()))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as c:
        return await c.post(path, json=body, headers=bearer(key))


def chat(text: str, model: str = "deepseek/deepseek-v4-flash", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": True, **extra}


def claude(text: Any, **extra: Any) -> dict[str, Any]:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": text}]}
    return {**body, "stream": True, **extra}


def sse(response: httpx.Response) -> list[Any]:
    """`data:` payloads in order, `[DONE]` as the string."""
    out: list[Any] = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            out.append(line[6:] if line[6:] == "[DONE]" else json.loads(line[6:]))
    return out


def deltas(payloads: list[Any]) -> list[dict[str, Any]]:
    return [p["choices"][0]["delta"] for p in payloads if isinstance(p, dict) and p.get("choices")]


async def test_provider_plan_go_key_is_refused_upgrade_required_provider_key_served() -> None:
    go = await post(CHAT, chat("hi"), key=GO_KEY)
    served = await post(CHAT, chat("hi"))
    assert go.status_code == 403
    assert go.json()["error"]["code"] == "upgrade_required"
    assert served.status_code == 200


async def test_provider_plan_switches_at_run_time_through_the_state() -> None:
    state = FakeState()
    state.patch({"key_plans": {PROVIDER_KEY: "go", GO_KEY: "goat"}})
    assert (await post(CHAT, chat("hi"), state=state)).status_code == 403
    assert (await post(CHAT, chat("hi"), key=GO_KEY, state=state)).status_code == 200
    with pytest.raises(ValueError, match="key_plans"):
        state.patch({"key_plans": {GO_KEY: "platinum"}})


async def test_provider_chat_stream_text_then_usage_only_when_asked_then_done() -> None:
    plain = sse(await post(CHAT, chat("hi")))
    with_usage = sse(await post(CHAT, chat("hi", stream_options={"include_usage": True})))
    assert "".join(d.get("content") or "" for d in deltas(plain)) == "Hello from deepseek/deepseek-v4-flash."
    assert plain[-1] == "[DONE]"
    assert not any(isinstance(p, dict) and p.get("usage") for p in plain)
    usage = with_usage[-2]["usage"]
    assert with_usage[-2]["choices"] == []
    assert usage["completion_tokens"] == 3 and usage["prompt_tokens"] > 0 and usage["cost"] > 0


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("deepseek/deepseek-v4-pro", "reasoning"),
        ("moonshotai/Kimi-K3", "reasoning_content"),
        ("gpt-6-luna", "reasoning"),
    ],
)
async def test_provider_chat_reasoning_in_the_family_field(model: str, field: str) -> None:
    payloads = sse(await post(CHAT, chat("fake:reasoning", model)))
    thought = [d for d in deltas(payloads) if field in d]
    assert "".join(d[field] for d in thought) == "Let me think."
    if field == "reasoning":  # with the OpenRouter-style details beside the scalar
        details = thought[0]["reasoning_details"][0]
        assert details.get("text", details.get("summary")) == thought[0]["reasoning"]


async def test_provider_chat_tool_call_index_id_name_then_arguments() -> None:
    payloads = sse(await post(CHAT, chat("fake:tool_call", tools=TOOLS)))
    calls = [c for d in deltas(payloads) for c in d.get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_00_") and calls[0]["function"]["name"] == "bash"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"file_path": "src/main.go"}
    finishes = [p["choices"][0]["finish_reason"] for p in payloads if isinstance(p, dict) and p.get("choices")]
    assert finishes[-1] == "tool_calls"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (chat("hi", n=2), 400, "<=1 at n"),
        (chat("hi", "claude-sonnet-4-6"), 400, "/provider/v1/messages"),
        (chat("hi", "claude-opus-4-7"), 400, "/provider/v1/messages"),
        (chat("hi", "no/such-model"), 404, "not recognized"),
        ({**chat("hi"), "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, 400, "image_url"),
    ],
)
async def test_provider_chat_refusals(body: dict[str, Any], status: int, needle: str) -> None:
    response = await post(CHAT, body)
    assert response.status_code == status
    assert needle in response.json()["error"]["message"]


async def test_provider_chat_deepseek_tool_turn_needs_its_reasoning_content() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]
    refused = await post(CHAT, {**chat("x"), "messages": history, "tools": TOOLS})
    history[1]["reasoning_content"] = "I will run it."
    answered = await post(CHAT, {**chat("x"), "messages": history, "tools": TOOLS})
    assert refused.status_code == 400 and "reasoning_content" in refused.json()["error"]["message"]
    assert "Tool result: done" in "".join(d.get("content") or "" for d in deltas(sse(answered)))


async def test_provider_chat_inband_error_is_an_error_chunk_without_done() -> None:
    payloads = sse(await post(CHAT, chat("fake:inband_error(status=500,message=provider dropped)")))
    assert payloads[-1] == {"error": {"message": "provider dropped", "type": "api_error", "code": 500}}
    assert "[DONE]" not in payloads


async def test_provider_chat_non_stream_is_the_folded_stream() -> None:
    response = await post(CHAT, chat("fake:reasoning", "moonshotai/Kimi-K3", stream=False))
    message = response.json()["choices"][0]["message"]
    assert message["reasoning_content"] == "Let me think."
    assert message["content"] == "Hello from moonshotai/Kimi-K3."


def events(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


async def test_provider_messages_stream_signed_thinking_text_and_disjoint_usage() -> None:
    state = FakeState(cache_read_tokens=4)
    found = events(await post(MESSAGES, claude("fake:reasoning"), state=state))
    kinds = [e["type"] for e in found]
    assert kinds[:2] == ["message_start", "ping"] and kinds[-2:] == ["message_delta", "message_stop"]
    thinking = "".join(e["delta"].get("thinking", "") for e in found if e["type"] == "content_block_delta")
    signed = [e["delta"]["signature"] for e in found if e.get("delta", {}).get("type") == "signature_delta"]
    assert thinking == "Let me think." and signed == [signature("Let me think.")]
    usage = found[-2]["usage"]
    assert usage["cache_read_input_tokens"] == 4 and usage["output_tokens_details"]["thinking_tokens"] == 3


async def test_provider_messages_replayed_thinking_needs_the_fakes_own_signature() -> None:
    def history(sig: str) -> list[Any]:
        thinking = {"type": "thinking", "thinking": "Let me think.", "signature": sig}
        return [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [thinking, {"type": "text", "text": "Hi"}]},
            {"role": "user", "content": "again"},
        ]

    good = await post(MESSAGES, {**claude("x"), "messages": history(signature("Let me think."))})
    forged = await post(MESSAGES, {**claude("x"), "messages": history("ccgw.abc")})
    assert good.status_code == 200
    assert forged.status_code == 400 and "signature" in forged.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({**claude("hi"), "model": "deepseek/deepseek-v4-pro"}, "/provider/v1/chat/completions"),
        (claude("hi", thinking={"type": "enabled", "budget_tokens": 1024}), "thinking.type.adaptive"),
        (claude("hi", thinking={"type": "adaptive"}, temperature=0.2), "temperature"),
        (claude("hi", max_tokens=200_000), "128000"),
        (claude("hi", context_management={}), "Extra inputs"),
        ({**claude("hi"), "messages": [{"role": "system", "content": "x"}]}, "'user' or 'assistant'"),
        (claude([{"type": "text", "text": ""}]), "non-empty"),
        (claude([{"type": "document", "source": {}}]), "document"),
    ],
)
async def test_provider_messages_refusals(body: dict[str, Any], needle: str) -> None:
    response = await post(MESSAGES, body)
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert needle in response.json()["error"]["message"]


async def test_provider_messages_tool_loop_ends_with_the_result() -> None:
    tools = [{"name": "bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]
    first = events(await post(MESSAGES, claude("fake:agent(tool=bash)", tools=tools)))
    use = next(e["content_block"] for e in first if e["type"] == "content_block_start")
    assert use["type"] == "tool_use" and use["name"] == "bash"
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": [{"type": "text", "text": "ccgw-42"}]}
    history = [
        {"role": "user", "content": "fake:agent(tool=bash)"},
        {"role": "assistant", "content": [{**use, "input": {"command": "x"}}]},
        {"role": "user", "content": [result]},
    ]
    second = events(await post(MESSAGES, {**claude("x"), "tools": tools, "messages": history}))
    text = "".join(e["delta"].get("text", "") for e in second if e["type"] == "content_block_delta")
    assert text == "Tool result: ccgw-42"


async def test_provider_messages_truncated_has_no_message_stop_and_failure_an_error_event() -> None:
    truncated = events(await post(MESSAGES, claude("fake:truncated")))
    failed = events(await post(MESSAGES, claude("fake:inband_error")))
    assert "message_stop" not in [e["type"] for e in truncated]
    assert failed[-1]["type"] == "error" and failed[-1]["error"]["type"] == "rate_limit_error"


async def test_provider_messages_accepts_x_api_key() -> None:
    transport = httpx.ASGITransport(app=create_fake_app(FakeState()))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as c:
        response = await c.post(MESSAGES, json=claude("hi", stream=False), headers={"x-api-key": PROVIDER_KEY})
    assert response.json()["content"] == [{"type": "text", "text": "Hello from claude-sonnet-4-6."}]
