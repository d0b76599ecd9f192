"""The official `anthropic` SDK against `python app.py` and the fake Command Code server, through both upstream
paths (`path`: a Go account on the CLI endpoint, a Provider account on the Provider API, where these
DeepSeek and Kimi requests are translated to chat completions; Claude itself is in test_provider_paths)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from tests.e2e.harness import FakeControl, Process

pytestmark = pytest.mark.e2e

TOOLS: list[Any] = [
    {
        "name": "read_file",
        "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
        "cache_control": {"type": "ephemeral"},
    },
    {"name": "grep", "input_schema": {"type": "object", "properties": {}}},
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def client(sdk_gateway: Process, local_key: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sdk_gateway.url, api_key=local_key, max_retries=0, timeout=30) as sdk:
        yield sdk


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_messages_create_text_and_disjoint_usage(client: anthropic.Anthropic, control: FakeControl, path: str) -> None:
    control.state(cache_read_tokens=5)
    try:
        message = client.messages.create(
            model="deepseek-v4-pro",
            max_tokens=1024,
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            messages=ask("hi"),
            metadata={"user_id": "u1"},
        )
    finally:
        control.state(cache_read_tokens=None)
    assert message.type == "message"
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from deepseek/deepseek-v4-pro."  # type: ignore[union-attr]
    assert message.usage.cache_read_input_tokens == 5
    sent = control.sent(path)
    if path == "provider":  # translated for DeepSeek: the system prompt is chat's system message
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    else:  # the CLI's block array, the client's cache breakpoint kept on its block
        assert sent["system"] == [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    total_input = message.usage.input_tokens + 5 + (message.usage.cache_creation_input_tokens or 0)
    assert total_input > 5


def test_messages_stream_text_events_and_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="deepseek-v4-pro", max_tokens=100, messages=ask("fake:text(deltas=5)")) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds.count("message_start") == 1
    assert kinds[-1] == "message_stop"
    assert "message_delta" in kinds
    assert final.content[0].text == "tok0 tok1 tok2 tok3 tok4 "  # type: ignore[union-attr]
    assert final.usage.output_tokens == 5


def test_messages_tool_use_and_tool_result_round_trip(
    client: anthropic.Anthropic, control: FakeControl, path: str
) -> None:
    first = client.messages.create(
        model="deepseek-v4-pro", max_tokens=1024, tools=TOOLS, messages=ask("fake:tool_call")
    )
    assert first.stop_reason == "tool_use"
    kinds = [b.type for b in first.content]
    assert kinds == ["thinking", "text", "tool_use"]
    tool_use = first.content[-1]
    assert tool_use.type == "tool_use"
    assert tool_use.name == "read_file"
    assert tool_use.input == {"file_path": "src/main.go"}
    history: list[Any] = [
        *ask("fake:tool_call"),
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use.id,
                    "content": [{"type": "text", "text": "package main"}],
                },
                {"type": "text", "text": "fake:echo continue"},
            ],
        },
    ]
    second = client.messages.create(model="deepseek-v4-pro", max_tokens=1024, tools=TOOLS, messages=history)
    assert second.stop_reason == "end_turn"
    sent = control.sent(path)["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    if path == "provider":  # the thinking block replayed as the reasoning DeepSeek needs back
        assert sent[1]["reasoning_content"] == "I should read the file first."
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"file_path": "src/main.go"}
        assert sent[2]["content"] == "package main"
        return
    assert sent[1]["content"][0]["type"] == "reasoning"
    assert sent[1]["content"][-1]["input"] == {"file_path": "src/main.go"}
    assert sent[2]["content"][0]["toolName"] == "read_file"


def test_messages_stream_parallel_tools_input_json(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="deepseek-v4-pro", max_tokens=1024, tools=TOOLS, messages=ask("fake:parallel_tools")
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["read_file", "grep", "read_file"]
    assert all(isinstance(u.input, dict) for u in uses)
    assert final.stop_reason == "tool_use"


def test_messages_thinking_blocks(client: anthropic.Anthropic, control: FakeControl, path: str) -> None:
    message = client.messages.create(
        model="deepseek-v4-pro",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=ask("fake:reasoning"),
    )
    thinking = [b for b in message.content if b.type == "thinking"]
    assert thinking[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert thinking[0].signature  # type: ignore[union-attr]
    assert control.sent(path)["reasoning_effort"] == "high"


def test_messages_images_base64(client: anthropic.Anthropic, control: FakeControl, path: str) -> None:
    data = base64.b64encode(PNG).decode()
    content: list[Any] = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        {"type": "text", "text": "what is it"},
    ]
    client.messages.create(model="Kimi-K3", max_tokens=100, messages=[{"role": "user", "content": content}])
    part = control.sent(path)["messages"][0]["content"][0]  # a model that takes images
    if path == "provider":
        assert part == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    else:
        assert part == {"type": "image", "image": f"data:image/png;base64,{data}", "mimeType": "image/png"}


@pytest.mark.parametrize(
    ("scenario", "error", "status", "kind"),
    [
        ("http_403_not_in_plan", anthropic.PermissionDeniedError, 403, "permission_error"),
        ("http_400_overflow", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("http_503", anthropic.InternalServerError, 502, "api_error"),
    ],
)
def test_messages_errors_before_first_byte(
    client: anthropic.Anthropic, scenario: str, error: type[anthropic.APIStatusError], status: int, kind: str
) -> None:
    # MODEL_NOT_IN_PLAN blocks the model it names for an hour: that case gets a model of its own
    model = "Qwen/Qwen3.7-Flash" if scenario == "http_403_not_in_plan" else "deepseek-v4-pro"
    with pytest.raises(error) as caught:
        client.messages.create(model=model, max_tokens=10, messages=ask(f"fake:{scenario}"))
    assert caught.value.status_code == status
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == kind


@pytest.mark.parametrize("scenario", ["inband_error", "truncated", "network_error_finish"])
def test_messages_failure_after_first_byte_is_error_event_not_end_turn(
    client: anthropic.Anthropic, scenario: str
) -> None:
    seen: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError),
        client.messages.stream(
            model="deepseek-v4-pro", max_tokens=10, messages=ask(f"fake:{scenario}(delay=0.2)")
        ) as stream,
    ):
        for event in stream:
            seen.append(event.type)
    assert "content_block_delta" in seen
    assert "message_delta" not in seen
    assert "message_stop" not in seen


def test_messages_auth_by_bearer_and_bad_key(sdk_gateway: Process, local_key: str) -> None:
    with anthropic.Anthropic(base_url=sdk_gateway.url, auth_token=local_key, api_key=None, max_retries=0) as bearer:
        assert bearer.messages.create(model="deepseek-v4-pro", max_tokens=10, messages=ask("hi")).content
    with anthropic.Anthropic(base_url=sdk_gateway.url, api_key="wrong", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            bad.messages.create(model="deepseek-v4-pro", max_tokens=10, messages=ask("hi"))
    body: Any = caught.value.body
    assert body["error"]["type"] == "authentication_error"


def test_messages_validation_error_anthropic_shape(gateway: Process, local_key: str) -> None:
    response = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": local_key, "anthropic-version": "2023-06-01"},
        json={"model": "deepseek-v4-pro", "max_tokens": "lots", "messages": ask("hi")},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_count_tokens_without_generate(client: anthropic.Anthropic, control: FakeControl, path: str) -> None:
    before = control.model_calls(path)
    counted = client.messages.count_tokens(
        model="claude-sonnet-4-5-20250929", system="be brief", messages=ask("hello there"), tools=TOOLS
    )
    assert counted.input_tokens > 0
    assert control.model_calls(path) == before


def test_count_tokens_close_to_upstream_usage(gateway: Process, local_key: str) -> None:
    """Each estimate is within 30% of the input tokens the (fake) CLI endpoint reports for the same request
    (the estimate follows what it counts; the fake's Provider API counts the provider's own bodies)."""
    from tests.e2e.token_corpus import CORPUS

    with anthropic.Anthropic(base_url=gateway.url, api_key=local_key, max_retries=0, timeout=30) as client:
        for name, request in CORPUS.items():
            estimate = client.messages.count_tokens(model="deepseek-v4-pro", **request).input_tokens
            reported = client.messages.create(model="deepseek-v4-pro", max_tokens=16, **request).usage.input_tokens
            assert abs(estimate - reported) / reported < 0.30, (name, estimate, reported)


def test_messages_rate_limit_in_anthropic_shape(isolated: Process, local_key: str) -> None:
    with anthropic.Anthropic(base_url=isolated.url, api_key=local_key, max_retries=0) as sdk:
        with pytest.raises(anthropic.RateLimitError) as caught:
            sdk.messages.create(model="deepseek-v4-pro", max_tokens=10, messages=ask("fake:http_429(window=minute)"))
    body: Any = caught.value.body
    assert body["error"]["type"] == "rate_limit_error"
    assert int(caught.value.response.headers["retry-after"]) > 0
