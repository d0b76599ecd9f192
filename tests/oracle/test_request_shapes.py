"""ccgw's upstream request has the shape of the real CLI's (command-code 1.64.0) for the same work.

The CLI's requests are captured live (never committed: they carry its own prompt text), and ccgw's
are recorded by the same fake for the equivalent client request. Compared: envelope keys, `config`
keys, `params` keys, the shape of every message part (with tool-result outputs), system blocks,
tool definitions and header names. What ccgw deliberately does differently is listed here, and in
the README's "How it works", and nothing else may differ.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.conftest import LOCAL_KEY, make_settings
from tests.fakecc import FakeState, create_fake_app
from tests.oracle.harness import Oracle

from ccgw.application import create_app

UPSTREAM_KEY = "user_shapes_0123456789abcdefghijklmnopqrstuvwxyz"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()

# Headers the CLI's HTTP stack (Node's fetch) adds on its own, carrying no information; and the
# transport's own. ccgw's client does not send the first two; the others differ in value only.
FETCH_DEFAULTS = {"accept-language", "sec-fetch-mode"}
TRANSPORT = {"host", "connection", "content-length"}
# Deliberate value differences (README "How it works"): a neutral project slug instead of a slug of
# a working directory, taste learning off, no compression (it would hold deltas back), one
# content-type (the CLI repeats it).
VALUE_DIFFERENCES = {
    "x-project-slug": "ccgw",
    "x-taste-learning": "false",
    "accept-encoding": "identity",
    "content-type": "application/json",
}
READ_FILE = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Reads a file",
        "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
    },
}


@pytest.fixture(scope="module")
def captured(oracle: Oracle) -> dict[str, list[dict[str, Any]]]:
    """The CLI's `/alpha/generate` requests: a plain prompt, a tool loop with reasoning, an image."""
    tool = {"name": "tool_call", "params": {"tool": "read_file", "input": {"file_path": "{project}/shot.png"}}}
    plain = oracle.run("Say hello")
    loop = oracle.run("Look at shot.png", script=[tool, "text"], files={"shot.png": PNG})
    image = oracle.run(
        "Look at shot.png", script=[tool, "text"], files={"shot.png": PNG}, args=["--model", "moonshotai/Kimi-K3"]
    )
    for run in (plain, loop, image):
        assert run.exit_code == 0, run.describe()
    return {"plain": plain.generations, "loop": loop.generations, "image": image.generations}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[TestClient, FakeState]]:
    """ccgw in-process, its upstream the same fake (in-process too), recording what ccgw sends."""
    state = FakeState()
    app = create_app(
        make_settings(commandcode={"api_key": UPSTREAM_KEY, "base_url": "http://fake.test"}),
        upstream_key=UPSTREAM_KEY,
        transport=httpx.ASGITransport(app=create_fake_app(state)),
        usage_path=tmp_path / "usage.json",
    )
    with TestClient(app, base_url="http://localhost", headers={"Authorization": f"Bearer {LOCAL_KEY}"}) as client:
        yield client, state


def sent(state: FakeState) -> dict[str, Any]:
    requests = state.requests_to("/alpha/generate")
    assert requests, "ccgw sent nothing upstream"
    return {"headers": requests[-1].headers, "body": requests[-1].body}


def part_shapes(params: dict[str, Any]) -> set[tuple[Any, ...]]:
    shapes = set()
    for message in params["messages"]:
        for part in message["content"]:
            output = tuple(sorted(part["output"])) if isinstance(part.get("output"), dict) else ()
            shapes.add((message["role"], part["type"], tuple(sorted(part)), output))
    return shapes


def envelope_shape(body: dict[str, Any]) -> dict[str, Any]:
    params = body["params"]
    return {
        "envelope": sorted(body),
        "config": sorted(body["config"]),
        "params": sorted(params),
        "tools": {tuple(sorted(tool)) for tool in params["tools"]},
        "system_is_blocks": isinstance(params["system"], list),
        "newline_after_each_block_but_the_last": all(b["text"].endswith("\n") for b in params["system"][:-1]),
    }


def system_shapes(body: dict[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(sorted(block)) for block in body["params"]["system"]}


def assert_same_headers(cli: dict[str, str], ours: dict[str, str]) -> None:
    assert set(cli) - FETCH_DEFAULTS - TRANSPORT == set(ours) - TRANSPORT
    for name, value in VALUE_DIFFERENCES.items():
        assert ours[name] == value
    for name in ("user-agent", "x-cli-environment", "accept"):
        assert ours[name] == cli[name]
    for name in ("traceparent", "x-session-id", "authorization", "x-command-code-version"):
        assert ours[name] and len(ours[name].split("-")) == len(cli[name].split("-"))  # same form


def test_shapes_plain_prompt_match_the_cli(
    captured: dict[str, list[dict[str, Any]]], gateway: tuple[TestClient, FakeState]
) -> None:
    client, state = gateway
    # An Anthropic client with a cache breakpoint on its first system block, as the CLI sets them.
    body = {
        "model": "deepseek/deepseek-v4-flash",
        "max_tokens": 64000,
        "system": [
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be kind."},
        ],
        "messages": [{"role": "user", "content": "Say hello"}],
        "tools": [
            {"name": "read_file", "description": "Reads a file", "input_schema": READ_FILE["function"]["parameters"]}
        ],
    }
    assert client.post("/v1/messages", json=body).status_code == 200
    cli, ours = captured["plain"][0], sent(state)
    assert envelope_shape(ours["body"]) == envelope_shape(cli["body"])
    assert system_shapes(ours["body"]) == system_shapes(cli["body"])  # with and without cache_control
    assert part_shapes(ours["body"]["params"]) == part_shapes(cli["body"]["params"])
    assert_same_headers(cli["headers"], ours["headers"])
    # Values that must agree with the CLI's, not only their keys.
    for key in ("memory", "taste", "skills", "permissionMode"):
        assert ours["body"][key] == cli["body"][key]
    assert ours["body"]["params"]["stream"] is True and ours["body"]["params"]["max_tokens"] == 64000
    assert ours["body"]["threadId"] == ours["headers"]["x-session-id"]


def test_shapes_tool_loop_with_reasoning_match_the_cli(
    captured: dict[str, list[dict[str, Any]]], gateway: tuple[TestClient, FakeState]
) -> None:
    client, state = gateway
    cli = captured["loop"][-1]
    call = next(p for m in cli["body"]["params"]["messages"] for p in m["content"] if p["type"] == "tool-call")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Look at notes.txt"},
        {
            "role": "assistant",
            "content": "Let me look at it.",
            "reasoning_content": "I should read the file first.",
            "tool_calls": [
                {
                    "id": call["toolCallId"],
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"file_path": "/p/notes.txt"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["toolCallId"], "content": "the notes"},
    ]
    body = {"model": "deepseek/deepseek-v4-flash", "messages": messages, "tools": [READ_FILE]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    ours = sent(state)
    assert envelope_shape(ours["body"]) == envelope_shape(cli["body"])
    assert system_shapes(ours["body"]) <= system_shapes(cli["body"])
    cli_shapes = {s for s in part_shapes(cli["body"]["params"]) if s[1] != "image" and "attached_image" not in str(s)}
    assert part_shapes(ours["body"]["params"]) == cli_shapes
    order = [p["type"] for m in ours["body"]["params"]["messages"] if m["role"] == "assistant" for p in m["content"]]
    assert order == ["reasoning", "text", "tool-call"]  # the CLI's order
    assert_same_headers(cli["headers"], ours["headers"])


def test_shapes_image_from_a_tool_match_the_cli(
    captured: dict[str, list[dict[str, Any]]], gateway: tuple[TestClient, FakeState]
) -> None:
    client, state = gateway
    cli = captured["image"][-1]
    image_parts = [p for m in cli["body"]["params"]["messages"] for p in m["content"] if p["type"] == "image"]
    assert image_parts, "the CLI sent no image to a vision model"
    items = [
        {"role": "user", "content": "Look at shot.png"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "I should read the file first."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look at it."}]},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "read_file",
            "arguments": '{"file_path": "/p/shot.png"}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_1",
            "output": [{"type": "input_image", "image_url": PNG_URL}],
        },
    ]
    body = {"model": "moonshotai/Kimi-K3", "input": items, "tools": [{"type": "function", **READ_FILE["function"]}]}
    assert client.post("/v1/responses", json=body).status_code == 200
    ours = sent(state)
    assert part_shapes(ours["body"]["params"]) == part_shapes(cli["body"]["params"])
    ours_image = next(p for m in ours["body"]["params"]["messages"] for p in m["content"] if p["type"] == "image")
    assert ours_image["mimeType"] == image_parts[0]["mimeType"] == "image/png"  # (the CLI re-encodes the pixels)
    assert ours_image["image"].startswith("data:image/png;base64,") and image_parts[0]["image"].startswith(
        "data:image/png;base64,"
    )
    roles = [m["role"] for m in ours["body"]["params"]["messages"]]
    assert roles == [m["role"] for m in cli["body"]["params"]["messages"]]  # the image follows the tool result


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1beta/models/deepseek/deepseek-v4-flash:generateContent",
            {
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
                "tools": [{"functionDeclarations": [{"name": "read_file", **READ_FILE["function"]}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
                "generationConfig": {"topP": 0.9, "topK": 40, "thinkingConfig": {"thinkingBudget": 0}},
            },
        ),
        ("/v1/completions", {"model": "deepseek/deepseek-v4-flash", "prompt": "Say hello", "top_p": 0.9}),
    ],
    ids=["gemini", "completions"],
)
def test_shapes_gemini_and_legacy_completions_match_the_cli(
    captured: dict[str, list[dict[str, Any]]], gateway: tuple[TestClient, FakeState], path: str, body: dict[str, Any]
) -> None:
    """The dialects added after the oracle's captures send what the CLI sends too: no tool_choice,
    top_p, top_k or "off" effort, and system blocks."""
    client, state = gateway
    response = client.post(path, json=body, headers={"x-goog-api-key": LOCAL_KEY})
    assert response.status_code == 200, response.text
    cli, ours = captured["plain"][0], sent(state)
    shape, cli_shape = envelope_shape(ours["body"]), envelope_shape(cli["body"])
    assert shape.pop("tools") <= cli_shape.pop("tools")  # legacy completions have none (`tools: []`)
    assert shape == cli_shape
    assert system_shapes(ours["body"]) <= system_shapes(cli["body"])
    assert part_shapes(ours["body"]["params"]) <= part_shapes(cli["body"]["params"])
    assert_same_headers(cli["headers"], ours["headers"])
