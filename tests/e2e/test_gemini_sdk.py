"""The official google-genai SDK against `python app.py` and the fake Command Code server."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from tests.e2e.harness import FakeControl, Process, serve_image

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + b"\xfb\xff\xfe" * 20  # base64 with '+' and '/' (URL-safe: '-' and '_')


def make_client(url: str, key: str, api_version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=url, api_version=api_version, timeout=30_000)
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def client(gateway: Process, local_key: str) -> Iterator[genai.Client]:
    with make_client(gateway.url, local_key) as sdk:  # SDK 3.x default: /v1/...
        yield sdk


def upstream_params(control: FakeControl) -> dict[str, Any]:
    params: dict[str, Any] = control.requests()[-1]["body"]["params"]
    return params


def test_genai_generate_text_with_usage(client: genai.Client, control: FakeControl) -> None:
    response = client.models.generate_content(
        model="deepseek/deepseek-v4-pro",
        contents="hi",
        config=types.GenerateContentConfig(
            system_instruction="be brief", max_output_tokens=500, temperature=0.3, top_p=0.9, top_k=40
        ),
    )
    assert response.text == "Hello from deepseek/deepseek-v4-pro."
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    params = upstream_params(control)
    assert (params["system"], params["max_tokens"], params["temperature"]) == (
        [{"type": "text", "text": "be brief"}],
        500,
        0.3,
    )
    assert params["tools"] == [] and not {"top_p", "top_k", "tool_choice"} & set(params)  # as the CLI sends them


def test_genai_v1beta_and_bare_model_name(gateway: Process, local_key: str) -> None:
    with make_client(gateway.url, local_key, api_version="v1beta") as beta:
        assert beta.models.generate_content(model="deepseek-v4-flash", contents="hi").text == (
            "Hello from deepseek/deepseek-v4-flash."
        )


def test_genai_stream_deltas_and_final_usage(client: genai.Client) -> None:
    chunks = list(client.models.generate_content_stream(model="deepseek-v4-flash", contents="fake:slow(deltas=12)"))
    assert "".join(c.text or "" for c in chunks) == "".join(f"tok{i} " for i in range(12))
    assert len(chunks) > 2  # paced deltas arrive as chunks of their own
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.candidates_token_count == 12


def test_genai_thinking_parts_and_thought_tokens(client: genai.Client, control: FakeControl) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=40_000)
    )
    response = client.models.generate_content(model="deepseek-v4-pro", contents="fake:reasoning", config=config)
    assert response.candidates and response.candidates[0].content and response.candidates[0].content.parts
    parts = response.candidates[0].content.parts
    assert [(p.thought, p.text) for p in parts] == [(True, "Let me think."), (None, response.text)]
    assert response.usage_metadata and response.usage_metadata.thoughts_token_count
    assert upstream_params(control)["reasoning_effort"] == "max"
    hidden = client.models.generate_content(model="deepseek-v4-pro", contents="fake:reasoning")
    assert hidden.candidates and hidden.candidates[0].content and hidden.candidates[0].content.parts
    assert not any(p.thought for p in hidden.candidates[0].content.parts)


def test_genai_function_call_then_response_round_trip(client: genai.Client, control: FakeControl) -> None:
    declaration = types.FunctionDeclaration(
        name="read_file",
        description="Read a file",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"file_path": types.Schema(type=types.Type.STRING)},
            required=["file_path"],
        ),
    )
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])])
    history: list[Any] = [types.Content(role="user", parts=[types.Part(text="fake:tool_call")])]
    first = client.models.generate_content(model="deepseek-v4-pro", contents=history, config=config)
    assert first.function_calls and len(first.function_calls) == 1
    call = first.function_calls[0]
    assert (call.name, call.args) == ("read_file", {"file_path": "src/main.go"})
    assert call.id
    sent_tools = upstream_params(control)["tools"]
    assert sent_tools[0]["input_schema"]["properties"] == {"file_path": {"type": "string"}}
    assert first.candidates and first.candidates[0].content
    history += [
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="read_file", response={"output": "package main"})],
        ),
    ]
    control.script("text(text=It is a Go main package.)")
    second = client.models.generate_content(model="deepseek-v4-pro", contents=history, config=config)
    assert second.text == "It is a Go main package."
    messages = upstream_params(control)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    result = messages[2]["content"][0]
    assert (result["toolCallId"], result["output"]["value"]) == (call.id, "package main")
    assert messages[1]["content"][0]["type"] == "reasoning"  # replayed from the thought-less history by memory


def test_genai_automatic_function_calling_runs_the_python_tool(client: genai.Client, control: FakeControl) -> None:
    seen: list[str] = []

    def read_file(file_path: str) -> str:
        """Read a file and return its text."""
        seen.append(file_path)
        return "package main"

    control.script("tool_call_final_only", "text(text=Done reading.)")
    response = client.models.generate_content(
        model="deepseek-v4-flash", contents="read it", config=types.GenerateContentConfig(tools=[read_file])
    )
    assert seen == ["src/main.go"]
    assert response.text == "Done reading."
    tool_message = upstream_params(control)["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["content"][0]["output"] == {"type": "text", "value": "package main"}  # the SDK's {"result": …}


@pytest.fixture
def image_server() -> Iterator[str]:
    with serve_image(PNG) as url:
        yield url


def test_genai_images_inline_bytes_and_remote_uri(
    client: genai.Client, control: FakeControl, image_server: str
) -> None:
    contents: list[Any] = [
        types.Part.from_bytes(data=PNG, mime_type="image/png"),
        types.Part.from_uri(file_uri=image_server, mime_type="image/png"),
        "fake:echo what are these?",
    ]
    response = client.models.generate_content(model="deepseek/deepseek-v4-flash-vision-exp", contents=contents)
    assert response.text == "what are these?"
    parts = upstream_params(control)["messages"][0]["content"]
    expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert [p.get("image") for p in parts[:2]] == [expected, expected]


def test_genai_count_tokens_and_models(client: genai.Client) -> None:
    counted = client.models.count_tokens(model="deepseek-v4-flash", contents="hello world " * 50)
    assert counted.total_tokens and 100 < counted.total_tokens < 400
    names = [m.name for m in client.models.list()]
    assert "models/deepseek/deepseek-v4-pro" in names and not any("claude" in (n or "") for n in names)
    model = client.models.get(model="deepseek/deepseek-v4-flash")
    assert model.name == "models/deepseek/deepseek-v4-flash" and model.input_token_limit


def test_genai_unknown_model_and_wrong_key_raise_client_errors(gateway: Process, client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="no-such-model", contents="hi")
    assert (missing.value.code, missing.value.status) == (404, "NOT_FOUND")
    with make_client(gateway.url, "wrong-key-0123456789") as wrong, pytest.raises(errors.ClientError) as refused:
        wrong.models.generate_content(model="deepseek-v4-flash", contents="hi")
    assert (refused.value.code, refused.value.status) == (401, "UNAUTHENTICATED")


def test_genai_mid_stream_error_raises(client: genai.Client) -> None:
    stream = client.models.generate_content_stream(model="deepseek-v4-flash", contents="fake:inband_error(delay=0.3)")
    received: list[str] = []
    with pytest.raises(errors.APIError) as failed:
        for chunk in stream:
            received.append(chunk.text or "")
    assert received == ["partial"]
    assert failed.value.code == 429 and "capacity" in str(failed.value.message)


def test_genai_plan_limit_429_raises_with_retry_delay(isolated: Process, local_key: str, control: FakeControl) -> None:
    control.script("http_429(retry_after=3600)")
    with make_client(isolated.url, local_key) as sdk, pytest.raises(errors.ClientError) as limited:
        sdk.models.generate_content(model="deepseek-v4-flash", contents="hi")
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = (limited.value.details or {}).get("error", {}).get("details", [])
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3600s"} in details


def test_key_in_the_query_string_answers_and_never_reaches_the_log(gateway: Process, local_key: str) -> None:
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    response = httpx.post(f"{gateway.url}/v1beta/models/deepseek-v4-flash:generateContent?key={local_key}", json=body)
    assert response.status_code == 200
    wrong = httpx.post(f"{gateway.url}/v1beta/models/deepseek-v4-flash:generateContent?key=wrong-key-42", json=body)
    assert wrong.status_code == 401
    assert local_key not in gateway.output() and "wrong-key-42" not in gateway.output()
