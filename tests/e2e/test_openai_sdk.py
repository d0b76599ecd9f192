"""The official `openai` SDK against `python app.py` and the fake Command Code server, through both upstream
paths (`path`: a Go account on the CLI endpoint, a Provider account on the Provider API)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tests.e2e.harness import PROBE_KEY, FakeControl, Process, serve_image, wait_for

pytestmark = pytest.mark.e2e

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {
                "type": "object",
                "properties": {"file_path": {"type": "string"}},
                "required": ["file_path"],
            },
        },
    },
    {"type": "function", "function": {"name": "grep", "parameters": {"type": "object", "properties": {}}}},
]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def client(sdk_gateway: Process, local_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sdk_gateway.url + "/v1", api_key=local_key, max_retries=0, timeout=30) as sdk:
        yield sdk


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_sdk_models_list_has_context_length(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert "deepseek/deepseek-v4-pro" in models
    assert models["deepseek/deepseek-v4-pro"].owned_by == "deepseek"
    assert (models["deepseek/deepseek-v4-pro"].model_extra or {})["context_length"] > 0
    assert not any(i.startswith("claude-") for i in models)


def test_sdk_text_answer_with_exact_usage(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    completion = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("hi"))
    assert completion.choices[0].message.content == "Hello from deepseek/deepseek-v4-pro."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "deepseek/deepseek-v4-pro"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    sent = control.sent(path)
    if path == "provider":  # the client's body nearly as it came: no system prompt needed there
        assert sent["messages"] == ask("hi") and sent["model"] == "deepseek/deepseek-v4-pro"
        assert sent["stream_options"] == {"include_usage": True}
        return
    system = sent["system"]
    assert system and all(block["text"].strip() for block in system)
    assert sum(len(block["text"]) for block in system) < 100  # no 7.4k-token default prompt


def test_sdk_stream_with_usage_chunk(client: openai.OpenAI, control: FakeControl) -> None:
    stream = client.chat.completions.create(
        model="deepseek-v4-flash",
        messages=ask("fake:text(deltas=20)"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(f"tok{i} " for i in range(20))
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 20


def test_sdk_tool_call_final_input_wins_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("fake:tool_call"), tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1
    assert calls[0].function.name == "read_file"
    assert json.loads(calls[0].function.arguments) == {"file_path": "src/main.go"}
    assert (choice.message.model_extra or {}).get("reasoning_content")


def test_sdk_streamed_parallel_tool_calls_accumulate_in_order(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="deepseek-v4-pro", messages=ask("fake:parallel_tools"), tools=TOOLS
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["read_file", "grep", "read_file"]
    assert [c.id[:8] for c in calls] == ["call_00_", "call_01_", "call_02_"]
    assert all(json.loads(c.function.arguments) is not None for c in calls)
    assert final.choices[0].finish_reason == "tool_calls"


def test_sdk_tool_history_round_trip_native_parts(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    first = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("fake:tool_call"), tools=TOOLS)
    message = first.choices[0].message
    call = (message.tool_calls or [])[0]
    history: list[Any] = [
        *ask("fake:tool_call"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call.model_dump()],
        },  # reasoning dropped, as many clients do
        {"role": "tool", "tool_call_id": call.id, "content": "package main"},
        *ask("fake:echo thanks"),
    ]
    second = client.chat.completions.create(model="deepseek-v4-pro", messages=history, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    sent = control.sent(path)["messages"]
    if path == "provider":  # OpenAI's own shapes, the remembered reasoning put back (DeepSeek needs it)
        assert sent[1]["reasoning_content"] and sent[1]["tool_calls"][0]["id"] == call.id
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"file_path": "src/main.go"}
        assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "package main"}
        return
    assistant = sent[1]["content"]
    assert assistant[0]["type"] == "reasoning"  # remembered by the gateway (DeepSeek thinking mode needs it)
    assert assistant[1] == {
        "type": "tool-call",
        "toolCallId": call.id,
        "toolName": "read_file",
        "input": {"file_path": "src/main.go"},
    }
    assert sent[2]["content"][0]["toolName"] == "read_file"
    assert sent[2]["content"][0]["output"] == {"type": "text", "value": "package main"}


def test_sdk_reasoning_content_streamed_and_folded(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("fake:reasoning"))
    extra = completion.choices[0].message.model_extra or {}
    assert extra["reasoning_content"] == "Let me think."
    assert completion.usage is not None
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens > 0
    stream = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("fake:reasoning"), stream=True)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in stream if c.choices
    )
    assert reasoning == "Let me think."


@pytest.fixture
def image_server() -> Iterator[str]:
    with serve_image(PNG) as url:
        yield url


def test_sdk_images_data_url_and_remote_url(
    client: openai.OpenAI, control: FakeControl, image_server: str, path: str
) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content: list[Any] = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": image_server}},
    ]
    client.chat.completions.create(
        model="deepseek/deepseek-v4-flash-vision-exp", messages=[{"role": "user", "content": content}]
    )
    parts = control.sent(path)["messages"][0]["content"]
    if path == "provider":  # the remote image fetched into a data URL, as on the CLI path
        assert [p["image_url"]["url"] for p in parts[1:]] == [data_url, data_url]
        return
    assert parts[1] == {"type": "image", "image": data_url, "mimeType": "image/png"}
    assert parts[2] == {"type": "image", "image": data_url, "mimeType": "image/png"}


def test_sdk_bad_image_is_400(client: openai.OpenAI) -> None:
    content: list[Any] = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="deepseek-v4-pro", messages=[{"role": "user", "content": content}])
    assert "base64" in caught.value.message


def raises_before_first_byte(
    sdk: openai.OpenAI, error: type[openai.APIStatusError], status: int, text: str, model: str = "deepseek-v4-pro"
) -> None:
    for stream in (False, True):
        with pytest.raises(error) as caught:
            result = sdk.chat.completions.create(model=model, messages=ask(text), stream=stream)
            if stream:
                list(result)  # type: ignore[arg-type]
        assert caught.value.status_code == status
        assert caught.value.body is not None


@pytest.mark.parametrize(
    ("scenario", "error", "status"),
    [
        ("http_400_overflow", openai.BadRequestError, 400),
        ("http_503", openai.InternalServerError, 502),
        ("inband_error_prefix", openai.BadRequestError, 400),
    ],
)
def test_sdk_errors_before_first_byte(
    client: openai.OpenAI, scenario: str, error: type[openai.APIStatusError], status: int
) -> None:
    raises_before_first_byte(client, error, status, f"fake:{scenario}")


def test_sdk_model_not_in_plan_blocks_only_that_model(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    raises_before_first_byte(
        client, openai.PermissionDeniedError, 403, "fake:http_403_not_in_plan", "Qwen/Qwen3.8-Flash"
    )
    calls = control.model_calls(path)
    raises_before_first_byte(client, openai.PermissionDeniedError, 403, "hi", "Qwen/Qwen3.8-Flash")  # answered locally
    assert control.model_calls(path) == calls
    assert client.chat.completions.create(model="deepseek-v4-flash", messages=ask("hi")).choices


@pytest.mark.parametrize(
    ("scenario", "error", "status"),
    [
        ("http_429(window=minute)", openai.RateLimitError, 429),
        ("http_402", openai.APIStatusError, 402),
        ("http_401", openai.InternalServerError, 502),
    ],
)
def test_sdk_account_errors_then_fail_fast_while_cooling(
    isolated: Process,
    local_key: str,
    control: FakeControl,
    scenario: str,
    error: type[openai.APIStatusError],
    status: int,
) -> None:
    with openai.OpenAI(base_url=isolated.url + "/v1", api_key=local_key, max_retries=0) as sdk:
        raises_before_first_byte(sdk, error, status, f"fake:{scenario}")
        calls = control.stats()["generate_calls"]
        raises_before_first_byte(sdk, error, status, "an ordinary question")
        assert control.stats()["generate_calls"] == calls  # the cooling account was not asked again


def test_sdk_rate_limit_has_retry_after(isolated: Process, local_key: str) -> None:
    response = httpx.post(
        isolated.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {local_key}"},
        json={"model": "deepseek-v4-pro", "messages": ask("fake:http_429(window=minute)")},
    )
    assert response.status_code == 429
    assert 100 <= int(response.headers["retry-after"]) <= 121


@pytest.mark.parametrize("scenario", ["inband_error", "truncated", "network_error_finish"])
def test_sdk_failure_after_first_byte_is_an_error_never_a_stop(client: openai.OpenAI, scenario: str) -> None:
    # The delay makes the first delta reach the client before the failure does.
    stream = client.chat.completions.create(
        model="deepseek-v4-pro", messages=ask(f"fake:{scenario}(delay=0.2)"), stream=True
    )
    seen: list[Any] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            seen.append(chunk)
    assert any(c.choices and c.choices[0].delta.content for c in seen)
    assert not any(c.choices and c.choices[0].finish_reason for c in seen)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="deepseek-v4-pro", messages=ask(f"fake:{scenario}"))
    assert caught.value.status_code >= 400


def test_sdk_n_two_choices(client: openai.OpenAI, control: FakeControl, path: str) -> None:
    completion = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("hi"), n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert len(control.model_requests(path)) == 2  # one completion per request: the Provider API refuses n > 1
    single = client.chat.completions.create(model="deepseek-v4-pro", messages=ask("hi"))
    assert completion.usage is not None and single.usage is not None
    assert completion.usage.prompt_tokens == 2 * single.usage.prompt_tokens


def test_sdk_auth_and_unknown_model(sdk_gateway: Process) -> None:
    with openai.OpenAI(base_url=sdk_gateway.url + "/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
    with openai.OpenAI(base_url=sdk_gateway.url + "/v1", api_key="ccgw-e2e-local-key-0123456789", max_retries=0) as ok:
        with pytest.raises(openai.NotFoundError):
            ok.chat.completions.create(model="no-such-model", messages=ask("hi"))
        with pytest.raises(openai.NotFoundError):
            ok.chat.completions.create(model="claude-sonnet-4-6", messages=ask("hi"))


def test_client_disconnect_closes_upstream_stream(client: openai.OpenAI, control: FakeControl) -> None:
    before = control.stats()["disconnects"]
    stream = client.chat.completions.create(
        model="deepseek-v4-pro", messages=ask("fake:slow(deltas=200,delay=0.05)"), stream=True
    )
    next(iter(stream))
    started = time.monotonic()
    stream.close()
    assert wait_for(lambda: control.stats()["disconnects"] > before, 2.0, interval=0.02)
    assert time.monotonic() - started < 1.5


def test_client_disconnect_non_streaming_closes_upstream(
    sdk_gateway: Process, local_key: str, control: FakeControl
) -> None:
    before = control.stats()["disconnects"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            sdk_gateway.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {local_key}"},
            json={"model": "deepseek-v4-pro", "messages": ask("fake:slow(deltas=200,delay=0.05)")},
            timeout=0.5,
        )
    assert wait_for(lambda: control.stats()["disconnects"] > before, 2.0, interval=0.02)


def test_usage_endpoint_counts_sdk_requests_exactly(sdk_gateway: Process, path: str) -> None:
    gateway = sdk_gateway
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=PROBE_KEY, max_retries=0) as probe:
        completions = [
            probe.chat.completions.create(model="deepseek-v4-pro", messages=ask(f"count {i}")) for i in range(3)
        ]
        stream = probe.chat.completions.create(
            model="deepseek-v4-pro", messages=ask("count s"), stream=True, stream_options={"include_usage": True}
        )
        streamed = [c.usage for c in stream if c.usage]
    usages = [c.usage for c in completions if c.usage] + streamed
    assert len(usages) == 4

    def counted() -> dict[str, Any]:
        by_key: dict[str, Any] = httpx.get(gateway.url + "/usage").json()["by_key"]
        return dict(by_key.get("probe", {}))

    assert wait_for(lambda: counted().get("total_requests") == 4, 3.0, interval=0.02)
    probe_usage = counted()
    assert probe_usage["prompt_tokens"] == sum(u.prompt_tokens for u in usages)
    assert probe_usage["completion_tokens"] == sum(u.completion_tokens for u in usages)
    assert probe_usage["failed_requests"] == 0
    usage = httpx.get(gateway.url + "/usage").json()
    assert usage["by_path"][path]["total_requests"] >= 4 and set(usage["by_path"]) == {path}
    assert usage["by_account"]["default"]["path"] == path and usage["accounts"][0]["path"] == path
