"""The official `openai` SDK's Responses API against `python app.py` and the fake Command Code server, through
both upstream paths (`path`; on the Provider API, Responses requests are translated to chat completions)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from tests.e2e.harness import FakeControl, Process

pytestmark = pytest.mark.e2e

TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "read_file",
        "description": "Read a file",
        "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
    },
    {"type": "function", "name": "grep", "parameters": {"type": "object", "properties": {}}},
]


@pytest.fixture
def client(sdk_gateway: Process, local_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sdk_gateway.url + "/v1", api_key=local_key, max_retries=0, timeout=30) as sdk:
        yield sdk


def test_responses_create_text_usage_and_instructions(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    response = client.responses.create(model="deepseek-v4-pro", instructions="be brief", input="hi", store=False)
    assert response.status == "completed"
    assert response.output_text == "Hello from deepseek/deepseek-v4-pro."
    assert response.usage is not None
    assert response.usage.input_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    sent = control.sent(path)
    if path == "provider":
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    else:
        assert sent["system"] == [{"type": "text", "text": "be brief"}]


def test_responses_stream_events_in_order(client: openai.OpenAI) -> None:
    with client.responses.stream(model="deepseek-v4-pro", input="fake:reasoning") as stream:
        events = [event.type for event in stream]
        final = stream.get_final_response()
    assert events[:2] == ["response.created", "response.in_progress"]
    assert events[-1] == "response.completed"
    assert "response.output_text.delta" in events
    assert "response.output_text.done" in events
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text
    raw = client.responses.create(model="deepseek-v4-pro", input="fake:text(deltas=4)", stream=True)
    numbers = [event.sequence_number for event in raw]
    assert numbers == list(range(len(numbers)))


def test_responses_function_calling_round_trip(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    first = client.responses.create(model="deepseek-v4-pro", input="fake:parallel_tools", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["read_file", "grep", "read_file"]
    assert all(isinstance(json.loads(c.arguments), dict) for c in calls)
    follow_up: list[Any] = [
        {"role": "user", "content": "fake:parallel_tools"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        *[{"type": "function_call_output", "call_id": c.call_id, "output": f"result {i}"} for i, c in enumerate(calls)],
        {"role": "user", "content": "fake:echo go on"},
    ]
    second = client.responses.create(model="deepseek-v4-pro", input=follow_up, tools=TOOLS)
    assert second.status == "completed"
    sent = control.sent(path)["messages"]
    if path == "provider":  # chat's shapes: one tool message per result
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "tool", "user"]
        assert [c["function"]["name"] for c in sent[1]["tool_calls"]] == ["read_file", "grep", "read_file"]
        assert [m["content"] for m in sent[2:5]] == ["result 0", "result 1", "result 2"]
        return
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    assert [p["type"] for p in sent[1]["content"]][-3:] == ["tool-call"] * 3
    assert [p["output"]["value"] for p in sent[2]["content"]] == ["result 0", "result 1", "result 2"]


def test_responses_stream_function_call_arguments(client: openai.OpenAI) -> None:
    with client.responses.stream(model="deepseek-v4-pro", input="fake:tool_call", tools=TOOLS) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    call = next(item for item in final.output if item.type == "function_call")
    assert json.loads(call.arguments) == {"file_path": "src/main.go"}


def test_responses_length_is_incomplete_and_failure_is_failed(client: openai.OpenAI) -> None:
    cut = client.responses.create(model="deepseek-v4-pro", input="fake:length")
    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    stream = client.responses.create(model="deepseek-v4-pro", input="fake:truncated(delay=0.2)", stream=True)
    kinds = [event.type for event in stream]
    assert kinds[-1] == "response.failed"
    assert "response.completed" not in kinds
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="deepseek-v4-pro", input="fake:truncated")


def test_responses_previous_response_id_is_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="deepseek-v4-pro", input="hi", previous_response_id="resp_123")
    assert "stateless" in caught.value.message or "stores nothing" in caught.value.message


def test_responses_errors_before_first_byte(client: openai.OpenAI, isolated: Process, local_key: str) -> None:
    with openai.OpenAI(base_url=isolated.url + "/v1", api_key=local_key, max_retries=0) as sdk:
        with pytest.raises(openai.RateLimitError):
            sdk.responses.create(model="deepseek-v4-pro", input="fake:http_429(window=minute)")
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="hi")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="deepseek-v4-pro", input="fake:http_400_overflow")
