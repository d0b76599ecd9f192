"""Tests of the fake Command Code API in ``tests/fakecc`` against upstream-protocol.md.

Most tests drive the app in-process through ``httpx.ASGITransport`` (which buffers whole bodies);
pacing and client disconnects need a raw ASGI exchange (``drive``), and one test runs the
``python -m tests.fakecc`` entry point as a real process.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.types import Message
from tests.fakecc import SCENARIO_NAMES, FakeState, create_fake_app, expected_usage
from tests.fakecc.catalog import GO_MODEL_IDS
from tests.fakecc.events import usage_json
from tests.fakecc.state import REQUEST_LOG_SIZE
from tests.fakecc.usage import build_usage, cost_string

pytestmark = pytest.mark.anyio

REPO_ROOT = Path(__file__).resolve().parent.parent
THREAD_ID = "df72321c-66e7-4f3b-8779-5b882e51727f"
KEY = "user_Abc-123_def"
AUTH = {"authorization": f"Bearer {KEY}"}
MODEL = "deepseek/deepseek-v4-flash"
TOOLS = [
    {"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}},
    {"name": "bash", "description": "Run a command", "input_schema": {"type": "object", "properties": {}}},
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_body(text: str = "hello", *, model: str = MODEL, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "config": {
            "workingDir": "/home/u/proj",
            "date": "2026-09-01",
            "environment": "linux",
            "structure": ["docs", "src"],
            "isGitRepo": True,
            "currentBranch": "main",
            "mainBranch": "main",
            "gitStatus": "Working tree clean",
            "recentCommits": ["10546e0 subject"],
        },
        "memory": None,
        "taste": None,
        "skills": None,
        "permissionMode": "standard",
        "threadId": THREAD_ID,
        "params": {
            "model": model,
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
            "system": "You are terse.",
            "max_tokens": 64000,
            "stream": True,
        },
    }
    body["params"].update(params)
    return body


def client(state: FakeState) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_fake_app(state)), base_url="http://fake")


async def generate(
    state: FakeState, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with client(state) as c:
        return await c.post("/alpha/generate", json=body or make_body(), headers=headers or AUTH)


async def run_scenario(
    spec: str | dict[str, Any], body: dict[str, Any] | None = None, state: FakeState | None = None
) -> Stream:
    state = state or FakeState()
    state.script.append(spec)
    response = await generate(state, body)
    assert response.status_code == 200, response.text
    return Stream(response.text)


@dataclass
class Stream:
    """An NDJSON body, parsed."""

    raw: str
    events: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.events = [json.loads(line) for line in self.raw.splitlines() if line]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def first(self, kind: str) -> dict[str, Any]:
        return self.of(kind)[0]

    @property
    def text(self) -> str:
        return "".join(e["text"] for e in self.of("text-delta"))

    @property
    def reasoning(self) -> str:
        return "".join(e["text"] for e in self.of("reasoning-delta"))


def bookends(*middle: str) -> list[str]:
    return ["start", "start-step", *middle, "finish-step", "finish", "provider-metadata"]


TEXT3 = ("text-start", "text-delta", "text-delta", "text-delta", "text-end")


# ---------------------------------------------------------------------------------------------------
# Raw ASGI exchange: incremental delivery and disconnects


@dataclass
class Exchange:
    messages: list[Message]
    times: list[float]

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def chunks(self) -> list[bytes]:
        return [m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"]

    @property
    def completed(self) -> bool:
        last = self.messages[-1]
        return last["type"] == "http.response.body" and not last.get("more_body", False)


async def drive(
    state: FakeState,
    body: dict[str, Any],
    *,
    disconnect_at_chunk: int | None = None,
    disconnect_after: float | None = None,
    limit: float = 3.0,
) -> Exchange:
    """Runs one ``/alpha/generate`` exchange; the client may go away after N chunks or T seconds."""
    app = create_fake_app(state)
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"authorization", AUTH["authorization"].encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/alpha/generate",
        "raw_path": b"/alpha/generate",
        "query_string": b"",
        "root_path": "",
        "headers": [*headers, (b"content-length", str(len(raw)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    gone = anyio.Event()
    request_sent = False
    exchange = Exchange([], [])

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        exchange.messages.append(message)
        exchange.times.append(time.monotonic())
        if disconnect_at_chunk is not None and len(exchange.chunks) >= disconnect_at_chunk:
            gone.set()

    async def leave_later(delay: float) -> None:
        await anyio.sleep(delay)
        gone.set()

    with anyio.fail_after(limit):
        async with anyio.create_task_group() as group:
            if disconnect_after is not None:
                group.start_soon(leave_later, disconnect_after)
            await app(scope, receive, send)
            group.cancel_scope.cancel()
    return exchange


# ---------------------------------------------------------------------------------------------------
# Auth and admission


async def test_missing_or_malformed_key_is_401() -> None:
    state = FakeState()
    for headers in ({}, {"authorization": "Bearer sk-abc"}, {"authorization": f"Token {KEY}"}):
        async with client(state) as c:
            response = await c.post("/alpha/generate", json=make_body(), headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": {"message": "Invalid API key", "code": "UNAUTHORIZED"}}


async def test_revoked_and_exhausted_keys() -> None:
    state = FakeState(revoked_keys={"user_revoked"}, exhausted_keys={"user_broke"})
    revoked = await generate(state, headers={"authorization": "Bearer user_revoked"})
    broke = await generate(state, headers={"authorization": "Bearer user_broke"})
    assert revoked.status_code == 401
    assert broke.status_code == 402
    assert broke.json()["error"]["code"] == "INSUFFICIENT_CREDITS"


async def test_content_type_quirk_is_accepted_and_others_refused() -> None:
    state = FakeState()
    raw = json.dumps(make_body())
    async with client(state) as c:
        doubled = await c.post(
            "/alpha/generate",
            content=raw,
            headers={**AUTH, "content-type": "application/json, application/json"},
        )
        plain = await c.post("/alpha/generate", content=raw, headers={**AUTH, "content-type": "text/plain"})
        broken = await c.post("/alpha/generate", content=raw[:-1], headers={**AUTH, "content-type": "application/json"})
    assert doubled.status_code == 200
    assert plain.status_code == 415
    assert broken.status_code == 400
    assert state.requests[0].headers["content-type"] == "application/json, application/json"


async def test_minimum_cli_version_is_optional() -> None:
    state = FakeState(min_cli_version="1.50.0")
    old = await generate(state, headers={**AUTH, "x-command-code-version": "1.38.2"})
    new = await generate(state, headers={**AUTH, "x-command-code-version": "1.79.1"})
    assert old.status_code == 403
    assert new.status_code == 200


Mutation = Callable[[dict[str, Any]], None]
DELETE = object()


def at(path: str, value: Any) -> Mutation:
    """Sets (or, with ``DELETE``, removes) the value at a dotted path of the body; digits index lists."""

    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        slot: Any = int(last) if last.isdigit() else last
        if value is DELETE:
            del target[slot]
        else:
            target[slot] = value

    return mutate


def tool_loop(*changes: tuple[str, Any]) -> Mutation:
    """Replaces the messages with a valid user → assistant tool-call → tool-result history, then
    applies ``(path under params.messages, value)`` changes to it."""

    def mutate(body: dict[str, Any]) -> None:
        body["params"]["messages"] = copy.deepcopy(TOOL_HISTORY)
        for path, value in changes:
            at(f"params.messages.{path}", value)(body)

    return mutate


LONG_ID = "call_" + "x" * 60
TOOL_HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "read it"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "reasoning", "text": "need the file"},
            {"type": "text", "text": "Reading."},
            {"type": "tool-call", "toolCallId": "call_1", "toolName": "read_file", "input": {"path": "a"}},
        ],
    },
    {
        "role": "tool",
        "content": [
            {
                "type": "tool-result",
                "toolCallId": "call_1",
                "toolName": "read_file",
                "output": {"type": "text", "value": "x"},
            }
        ],
    },
]


INVALID_BODIES = [
    (
        "config-missing-key",
        at("config.workingDir", DELETE),
        "expected string, received undefined at config.workingDir",
    ),
    ("config-extra-key", at("config.extra", 1), 'Unrecognized key: "extra" at config'),
    (
        "config-wrong-type",
        at("config.isGitRepo", "yes"),
        "expected boolean, received string at config.isGitRepo",
    ),
    ("config-absent", at("config", DELETE), "expected object, received undefined at config"),
    ("thread-not-uuid", at("threadId", "thread-1"), "Invalid UUID at threadId"),
    ("thread-uuid-v1", at("threadId", "df72321c-66e7-1f3b-8779-5b882e51727f"), "Invalid UUID"),
    ("thread-bad-variant", at("threadId", "df72321c-66e7-4f3b-c779-5b882e51727f"), "Invalid UUID"),
    ("params-absent", at("params", DELETE), "expected object, received undefined at params"),
    ("model-absent", at("params.model", DELETE), "expected string, received undefined at model"),
    ("messages-not-array", at("params.messages", "hi"), "expected array, received string at messages"),
    ("role-system", at("params.messages.0.role", "system"), 'Invalid option: expected one of "user"'),
    ("max-tokens-too-big", at("params.max_tokens", 200_001), "Too big: expected number to be <=200000"),
    (
        "max-tokens-missing",
        at("params.max_tokens", DELETE),
        "expected number, received undefined at max_tokens",
    ),
    ("max-tokens-fraction", at("params.max_tokens", 1.5), "expected int, received number at max_tokens"),
    (
        "tool-choice-string",
        at("params.tool_choice", "auto"),
        "expected object, received string at tool_choice",
    ),
    ("tool-choice-required", at("params.tool_choice", {"type": "required"}), "Invalid option"),
    (
        "image-remote-url",
        at("params.messages.0.content", [{"type": "image", "image": "https://x/cat.png"}]),
        "data: URL",
    ),
    ("part-unknown-type", at("params.messages.0.content", [{"type": "file", "data": "x"}]), "Invalid option"),
    ("result-empty-name", tool_loop(("2.content.0.toolName", "")), "Too small: expected string to have >=1"),
    ("result-bad-output", tool_loop(("2.content.0.output", {"type": "json", "value": 1})), "Invalid option"),
    ("call-input-string", tool_loop(("1.content.2.input", "{}")), "expected record, received string"),
    ("call-in-user-message", tool_loop(("0.content", TOOL_HISTORY[1]["content"])), "Invalid option"),
]


@pytest.mark.parametrize(
    ("mutate", "message"), [(m, s) for _, m, s in INVALID_BODIES], ids=[i for i, *_ in INVALID_BODIES]
)
async def test_invalid_bodies_are_400_with_zod_prose(mutate: Mutation, message: str) -> None:
    body = make_body()
    mutate(body)
    response = await generate(FakeState(), body)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_max_tokens_cap_is_inclusive() -> None:
    assert (await generate(FakeState(), make_body(max_tokens=200_000))).status_code == 200


async def test_tool_schema_root_must_be_object() -> None:
    bad = [{"name": "x", "description": "", "input_schema": {"type": "string"}}]
    missing = [{"name": "x", "description": ""}]
    first = (await generate(FakeState(), make_body(tools=bad))).json()["error"]["message"]
    second = (await generate(FakeState(), make_body(tools=missing))).json()["error"]["message"]
    prefix = "Invalid schema for function 'x': schema must be a JSON Schema of 'type: \"object\"', got "
    assert first == prefix + "'type: \"string\"'"
    assert second == prefix + "'type: null'"


async def test_call_ids_over_64_chars_name_the_flattened_input_item() -> None:
    call = tool_loop(("1.content.2.toolCallId", LONG_ID), ("2.content.0.toolCallId", "c"))
    result = tool_loop(("2.content.0.toolCallId", LONG_ID))
    for mutate, item in ((call, 2), (result, 3)):
        body = make_body()
        mutate(body)
        message = (await generate(FakeState(), body)).json()["error"]["message"]
        assert message.startswith(f"Invalid 'input[{item}].call_id': string too long.")
        assert f"length {len(LONG_ID)}" in message


async def test_valid_tool_history_and_images_are_accepted() -> None:
    body = make_body(tools=TOOLS, tool_choice={"type": "tool", "name": "bash"})
    body["params"]["messages"] = [
        {
            "role": "user",
            "content": [{"type": "image", "image": "data:image/png;base64,AAAA", "mimeType": "image/png"}],
        },
        *TOOL_HISTORY[1:],
        {"role": "user", "content": "plain string content is accepted"},
    ]
    assert (await generate(FakeState(), body)).status_code == 200


async def test_unknown_model_and_plan_tiers() -> None:
    unknown = await generate(FakeState(), make_body(model="anthropic/claude-sonnet-4-6"))
    assert unknown.status_code == 403
    assert "Model/provider not recognized" in unknown.json()["error"]["message"]
    above = await generate(FakeState(plan="go"), make_body(model="claude-sonnet-4-6"))
    assert above.status_code == 403
    assert above.json()["error"]["code"] == "MODEL_NOT_IN_PLAN"
    assert above.json()["error"]["message"].startswith("MODEL_NOT_IN_PLAN: ")
    assert (await generate(FakeState(plan="goat"), make_body(model="gpt-5.6-sol"))).status_code == 200
    assert (await generate(FakeState(plan="goat"), make_body(model="gpt-5.5"))).status_code == 403
    assert (await generate(FakeState(plan="pro"), make_body(model="claude-sonnet-4-6"))).status_code == 200
    assert (await generate(FakeState(plan="max"), make_body(model="claude-opus-4-7"))).status_code == 200


async def test_deepseek_strict_mode_demands_replayed_reasoning() -> None:
    body = make_body()
    tool_loop(("1.content", TOOL_HISTORY[1]["content"][1:]))(body)
    refused = await generate(FakeState(), body)
    assert refused.status_code == 400
    assert "reasoning_content in the thinking mode must be passed back" in refused.json()["error"]["message"]
    assert (await generate(FakeState(strict_deepseek=False), body)).status_code == 200
    body["params"]["reasoning_effort"] = "off"
    assert (await generate(FakeState(), body)).status_code == 200
    body["params"].update(model="moonshotai/Kimi-K2.6", reasoning_effort="high")
    assert (await generate(FakeState(), body)).status_code == 200


async def test_zdr_header_refuses_whatever_the_scenario() -> None:
    state = FakeState()
    state.script.append("text")
    response = await generate(state, headers={**AUTH, "x-cmd-zdr": "1"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CMD_ZDR_NO_PROVIDERS"
    assert response.json()["error"]["type"] == "cmd_zdr_no_providers"


async def test_oversized_body_is_413() -> None:
    state = FakeState(max_body_bytes=1000)
    response = await generate(state, make_body("x" * 2000))
    assert response.status_code == 413


# ---------------------------------------------------------------------------------------------------
# System prompt injection and usage


async def test_empty_system_injects_the_default_prompt() -> None:
    systems: list[Any] = [None, "", []]
    for system in systems:
        body = make_body()
        if system is None:
            del body["params"]["system"]
        else:
            body["params"]["system"] = system
        response = await generate(FakeState(), body)
        assert json.loads(response.headers["x-system-prompt-breakdown"])["systemPrompt"] == 11903
        usage = Stream(response.text).first("finish")["totalUsage"]
        assert usage == expected_usage(body)
        assert usage["inputTokens"] > 7396


async def test_nonempty_system_replaces_the_default_prompt() -> None:
    for system in ("ABC", " ", [{"type": "text", "text": "a" * 40}]):
        body = make_body(system=system)
        response = await generate(FakeState(), body)
        breakdown = json.loads(response.headers["x-system-prompt-breakdown"])
        assert breakdown["systemPrompt"] == math.ceil(len(system if isinstance(system, str) else "a" * 40) / 4)
        assert Stream(response.text).first("finish")["totalUsage"]["inputTokens"] < 100


def test_usage_formula_is_the_documented_one() -> None:
    body = make_body("a question", tools=TOOLS)
    params = body["params"]
    canonical = json.dumps([params["system"], params["messages"], params["tools"]], separators=(",", ":"))
    tokens = math.ceil(len(canonical) / 4)  # all ASCII here
    usage = expected_usage(body, text_deltas=2, reasoning_deltas=3, tool_calls=1, cache_read_tokens=10)
    assert usage == {
        "inputTokens": tokens,
        "inputTokenDetails": {"noCacheTokens": tokens - 10, "cacheReadTokens": 10},
        "outputTokens": 10,
        "outputTokenDetails": {"textTokens": 7, "reasoningTokens": 3},
        "totalTokens": tokens + 10,
        "reasoningTokens": 3,
        "cachedInputTokens": 10,
    }
    assert expected_usage(body, cache_read_tokens=10**9)["inputTokenDetails"]["noCacheTokens"] == 0
    assert cost_string(1_000_000, 1_000_000) == "1.370000000"


def test_usage_template_matches_the_dict() -> None:
    for usage in (
        build_usage(10, text_deltas=2),
        build_usage(100, text_deltas=1, cache_read=5, cache_write=7),
    ):
        assert json.loads(usage_json(usage)) == usage
        assert set(json.loads(usage_json(usage, with_raw=True))) == {*usage, "raw"}


async def test_cache_read_tokens_come_from_state() -> None:
    body = make_body()
    state = FakeState(cache_read_tokens=7)
    stream = Stream((await generate(state, body)).text)
    usage = stream.first("finish")["totalUsage"]
    assert usage == expected_usage(body, cache_read_tokens=7)
    step = stream.first("finish-step")
    assert step["usage"]["raw"]["prompt_cache_hit_tokens"] == 7
    assert {k: v for k, v in step["usage"].items() if k != "raw"} == usage


# ---------------------------------------------------------------------------------------------------
# Streaming scenarios


async def test_text_default_answer_and_headers() -> None:
    body = make_body()
    response = await generate(FakeState(), body)
    assert response.headers["content-type"] == "text/event-stream"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-trace-id"])
    assert response.text.endswith("\n") and "data:" not in response.text and "[DONE]" not in response.text
    stream = Stream(response.text)
    assert stream.types == bookends(*TEXT3)
    assert stream.text == f"Hello from {MODEL}."
    step, finish = stream.first("finish-step"), stream.first("finish")
    assert finish["finishReason"] == "stop" and finish["rawFinishReason"] == "stop"
    assert finish["totalUsage"] == expected_usage(body)
    gateway = step["providerMetadata"]["gateway"]
    usage = finish["totalUsage"]
    assert gateway["cost"] == cost_string(usage["inputTokens"], usage["outputTokens"])
    assert step["response"]["modelId"] == "deepseek-v4-flash"
    assert stream.of("provider-metadata")[0]["providerMetadata"] == step["providerMetadata"]
    assert stream.first("start-step")["request"]["body"]["maxOutputTokens"] == 64000


async def test_text_deltas_and_text_params() -> None:
    numbered = await run_scenario("text(deltas=5)")
    assert [e["text"] for e in numbered.of("text-delta")] == [f"tok{i} " for i in range(5)]
    split = await run_scenario({"name": "text", "params": {"text": "abcdef, ghi", "deltas": 2}})
    assert [e["text"] for e in split.of("text-delta")] == ["abcde", "f, ghi"]
    words = await run_scenario({"name": "text", "params": {"text": "one two  three "}})
    assert [e["text"] for e in words.of("text-delta")] == ["one", " two", "  three "]


async def test_text_with_many_deltas_is_fast() -> None:
    started = time.monotonic()
    stream = await run_scenario("text(deltas=100000)")
    assert len(stream.of("text-delta")) == 100_000
    assert stream.first("finish")["totalUsage"]["outputTokens"] == 100_000
    assert time.monotonic() - started < 2.0


async def test_echo_repeats_the_last_user_message() -> None:
    stream = await run_scenario("echo", make_body("Bonjour tout le monde"))
    assert stream.text == "Bonjour tout le monde"
    marked = make_body("Translate me fake:echo")
    assert Stream((await generate(FakeState(), marked)).text).text == "Translate me"


async def test_reasoning_interleaves_text_start_before_reasoning_end() -> None:
    body = make_body()
    stream = await run_scenario("reasoning", body)
    assert stream.types.index("text-start") < stream.types.index("reasoning-end")
    assert stream.reasoning == "Let me think."
    assert stream.first("reasoning-start")["providerMetadata"]["gateway"]["generationId"].startswith("gen_")
    assert stream.first("finish")["totalUsage"] == expected_usage(body, reasoning_deltas=3)


async def test_tool_call_provisional_input_is_superseded() -> None:
    body = make_body(tools=TOOLS)
    stream = await run_scenario("tool_call", body)
    assert stream.types == bookends(
        "reasoning-start", "reasoning-delta", "reasoning-end", "text-start", "text-delta", "text-end",
        "tool-input-start", "tool-input-delta", "tool-input-delta", "tool-input-end", "tool-call",
    )  # fmt: skip
    call = stream.first("tool-call")
    assert re.fullmatch(r"call_00_[A-Za-z0-9]{8}", call["toolCallId"])
    assert call["toolName"] == "read_file"
    provisional = "".join(e["delta"] for e in stream.of("tool-input-delta"))
    assert json.loads(provisional) == {"file_path": "src/wrong.go"}
    assert call["input"] == {"file_path": "src/main.go"}
    assert stream.first("tool-input-start")["id"] == call["toolCallId"]
    finish = stream.first("finish")
    assert (finish["finishReason"], finish["rawFinishReason"]) == ("tool-calls", "tool_calls")
    assert finish["totalUsage"] == expected_usage(body, text_deltas=1, reasoning_deltas=1, tool_calls=1)


async def test_tool_call_without_tools_defaults_to_read_file() -> None:
    assert (await run_scenario("tool_call_final_only")).first("tool-call")["toolName"] == "read_file"


async def test_tool_call_final_only_has_no_tool_input() -> None:
    stream = await run_scenario("tool_call_final_only", make_body(tools=TOOLS[1:]))
    assert stream.types == bookends("tool-call")
    assert stream.first("tool-call")["toolName"] == "bash"


async def test_parallel_tools_keep_order_and_cycle_tools() -> None:
    body = make_body(tools=TOOLS)
    stream = await run_scenario("parallel_tools", body)
    calls = stream.of("tool-call")
    assert [c["toolCallId"][:8] for c in calls] == ["call_00_", "call_01_", "call_02_"]
    assert [c["toolName"] for c in calls] == ["read_file", "bash", "read_file"]
    assert stream.types == bookends(
        *(["tool-input-start", "tool-input-delta", "tool-input-delta", "tool-input-end", "tool-call"] * 3)
    )
    assert stream.first("finish")["totalUsage"] == expected_usage(body, text_deltas=0, tool_calls=3)


async def test_tool_input_without_call_never_confirms() -> None:
    stream = await run_scenario("tool_input_without_call")
    assert "tool-call" not in stream.types
    assert "tool-input-end" in stream.types
    assert stream.first("finish")["finishReason"] == "tool-calls"


async def test_tool_input_string() -> None:
    call = (await run_scenario("tool_input_string")).first("tool-call")
    assert isinstance(call["input"], str)
    assert json.loads(call["input"]) == {"file_path": "src/main.go"}


async def test_length_and_network_error_finishes() -> None:
    length = (await run_scenario("length")).first("finish")
    assert (length["finishReason"], length["rawFinishReason"]) == ("length", "max_output_tokens")
    trap = await run_scenario("network_error_finish")
    assert trap.text
    assert (trap.first("finish")["finishReason"], trap.first("finish")["rawFinishReason"]) == (
        "stop",
        "network-error",
    )
    other = (await run_scenario("network_error_finish(finish_reason=other)")).first("finish")
    assert other["finishReason"] == "other"


async def test_truncated_stream_has_no_finish() -> None:
    stream = await run_scenario("truncated")
    assert stream.types[-1] == "text-delta"
    assert "finish" not in stream.types and "text-end" not in stream.types


async def test_truncated_abort_breaks_the_http_body() -> None:
    state = FakeState()
    state.script.append("truncated(abort=true)")
    exchange = await drive(state, make_body())
    assert not exchange.completed
    assert b'"text-delta"' in b"".join(exchange.chunks)


async def test_inband_errors() -> None:
    capacity = await run_scenario("inband_error")
    assert capacity.types[-2:] == ["text-delta", "error"]
    assert capacity.events[-1]["error"] == {
        "message": "providers are currently at capacity",
        "statusCode": 429,
        "isRetryable": True,
    }
    prefix = await run_scenario("inband_error_prefix")
    assert prefix.types == ["start", "start-step", "error"]
    document = {"error": {"type": "invalid_request_error", "message": "bad request"}}
    assert prefix.events[-1]["error"] == {
        "message": "400 " + json.dumps(document, separators=(",", ":")),
        "statusCode": 503,
        "isRetryable": False,
    }
    assert (await run_scenario("inband_error_string")).events[-1] == {"type": "error", "error": "some string"}


async def test_inband_error_pause_sends_more_text_and_the_error_in_one_later_chunk() -> None:
    state = FakeState()
    state.script.append("inband_error(pause=0.1)")
    exchange = await drive(state, make_body())
    sent = [(m["body"], t) for m, t in zip(exchange.messages, exchange.times, strict=True) if m.get("body")]
    assert len(sent) == 2
    (first, first_at), (second, second_at) = sent
    assert b'"partial"' in first and b'"error"' not in first
    assert second.count(b"\n") == 2 and b'" more"' in second and b'"type":"error"' in second
    assert second_at - first_at >= 0.1


async def test_zero_output() -> None:
    body = make_body()
    stream = await run_scenario("zero_output", body)
    assert stream.types == bookends()
    assert stream.first("finish")["totalUsage"]["outputTokens"] == 0
    assert stream.first("finish")["totalUsage"] == expected_usage(body, text_deltas=0)


async def test_cache_write_in_usage_and_as_standalone_event() -> None:
    body = make_body("x" * 8000)
    stream = await run_scenario("cache_write", body, FakeState(cache_read_tokens=100))
    written = stream.first("cache-write-tokens")["tokens"]
    assert written == 1024
    usage = stream.first("finish")["totalUsage"]
    assert usage == expected_usage(body, cache_read_tokens=100, cache_write_tokens=1024)
    assert usage["inputTokenDetails"]["noCacheTokens"] == usage["inputTokens"] - 100 - 1024
    hidden = await run_scenario("cache_write(in_usage=false)", body)
    assert "cacheWriteTokens" not in hidden.first("finish")["totalUsage"]["inputTokenDetails"]
    assert hidden.first("cache-write-tokens")["tokens"] == 1024


async def test_late_events_follow_the_finish() -> None:
    stream = await run_scenario("late_events")
    first_finish = stream.types.index("finish")
    assert stream.types[first_finish + 1 :] == ["provider-metadata", "text-delta", "finish"]
    assert stream.of("finish")[1]["finishReason"] == "length"


async def test_huge_start_step_line() -> None:
    stream = await run_scenario("huge_start_step")
    line = stream.raw.splitlines()[1]
    assert len(line.encode()) >= 300_000
    assert json.loads(line)["request"]["body"]["prompt"][0]["role"] == "system"
    assert stream.types[-3:] == ["finish-step", "finish", "provider-metadata"]


async def test_malformed_line_in_the_middle() -> None:
    state = FakeState()
    state.script.append("malformed_line")
    lines = (await generate(state)).text.splitlines()
    bad = []
    for index, line in enumerate(lines):
        try:
            json.loads(line)
        except ValueError:
            bad.append(index)
    assert len(bad) == 1
    assert 0 < bad[0] < len(lines) - 3
    assert json.loads(lines[-2])["type"] == "finish"


async def test_unknown_events_are_sprinkled() -> None:
    stream = await run_scenario("unknown_events")
    assert {"response-metadata", "future-thing", "tool-result", "tool-error"} <= set(stream.types)
    assert "abort" not in stream.types
    assert stream.text == f"Hello from {MODEL}."
    assert stream.first("finish")["finishReason"] == "stop"


async def test_sse_framing_scenario() -> None:
    state = FakeState()
    state.script.append("sse_framing")
    raw = (await generate(state)).text
    lines = raw.split("\n")
    assert lines[0].startswith(":")
    assert "" in lines
    assert raw.endswith("data: [DONE]")
    events = [json.loads(x.removeprefix("data: ")) for x in lines if x.startswith("data: {")]
    assert [e["type"] for e in events] == bookends(*TEXT3)


async def test_framing_option_and_state_default() -> None:
    marked = await generate(FakeState(), make_body("hi fake:text(framing=sse)"))
    assert marked.text.endswith("data: [DONE]\n\n")
    default = await generate(FakeState(default_framing="sse"))
    assert "\ndata: {" in default.text


async def test_no_trailing_newline() -> None:
    state = FakeState()
    state.script.append("no_trailing_newline")
    raw = (await generate(state)).text
    assert not raw.endswith("\n")
    assert Stream(raw).types == bookends(*TEXT3)


async def test_dsml_leak() -> None:
    stream = await run_scenario("dsml_leak")
    assert '<｜｜DSML｜｜tool_calls><invoke name="bash">' in stream.text
    assert stream.text.endswith("</invoke></｜｜DSML｜｜tool_calls>")
    assert len(stream.of("text-delta")) > 2


async def test_stall_and_hang_headers_with_short_delays() -> None:
    started = time.monotonic()
    stall = await run_scenario("stall(delay=0.05)")
    assert stall.types == ["start"]
    hang = await run_scenario("hang_headers(delay=0.05)")
    assert hang.types == bookends(*TEXT3)
    assert time.monotonic() - started >= 0.1


async def test_slow_stream_is_delivered_incrementally() -> None:
    state = FakeState()
    state.script.append("slow(deltas=3,delay=0.02)")
    exchange = await drive(state, make_body())
    body_messages = [t for m, t in zip(exchange.messages, exchange.times, strict=True) if m.get("body")]
    assert len(body_messages) == len(bookends(*TEXT3))
    assert body_messages[-1] - body_messages[0] >= 0.02 * (len(body_messages) - 1) * 0.9
    assert exchange.completed
    assert state.stats.streams_completed == 1 and state.stats.disconnects == 0


# ---------------------------------------------------------------------------------------------------
# Disconnects


async def test_stall_stops_promptly_when_the_client_leaves() -> None:
    state = FakeState()
    state.script.append("stall")
    started = time.monotonic()
    exchange = await drive(state, make_body(), disconnect_at_chunk=1)
    assert time.monotonic() - started < 1.0
    assert not exchange.completed
    assert (state.stats.disconnects, state.stats.active_streams, state.stats.streams_completed) == (1, 0, 0)


async def test_slow_stream_stops_when_the_client_leaves() -> None:
    state = FakeState()
    state.script.append("slow(deltas=50,delay=0.01)")
    exchange = await drive(state, make_body(), disconnect_at_chunk=3)
    assert len(exchange.chunks) < 10
    assert state.stats.disconnects == 1


async def test_hang_headers_is_cancellable() -> None:
    state = FakeState()
    state.script.append("hang_headers")
    exchange = await drive(state, make_body(), disconnect_after=0.05)
    assert exchange.messages == []
    assert state.stats.disconnects == 1 and state.stats.active_streams == 0


async def test_large_batched_stream_notices_the_client_leaving() -> None:
    state = FakeState()
    state.script.append("text(deltas=200000)")
    exchange = await drive(state, make_body(), disconnect_at_chunk=2)
    assert 2 <= len(exchange.chunks) < 10
    assert all(len(c) <= 70 * 1024 for c in exchange.chunks)
    assert state.stats.disconnects == 1


# ---------------------------------------------------------------------------------------------------
# Pre-stream errors


HTTP_ERRORS = {
    "http_401": (401, "UNAUTHORIZED"),
    "http_402": (402, "PAYMENT_REQUIRED"),
    "http_403_not_in_plan": (403, "MODEL_NOT_IN_PLAN"),
    "http_403_upgrade": (403, "upgrade_required"),
    "http_429": (429, "RATE_LIMITED"),
    "http_429_no_header": (429, "RATE_LIMITED"),
    "http_400_overflow": (400, "CONTEXT_LENGTH_EXCEEDED"),
    "http_413": (413, None),
    "http_422_zdr": (422, "CMD_ZDR_NO_PROVIDERS"),
    "http_500": (500, None),
    "http_502": (502, None),
    "http_503": (503, "SERVICE_UNAVAILABLE"),
    "http_529": (529, "OVERLOADED"),
    "http_400_double_encoded": (400, None),
    "http_credits_exhausted": (403, "INSUFFICIENT_CREDITS"),
}


@pytest.mark.parametrize("name", sorted(HTTP_ERRORS))
async def test_http_error_scenarios_use_the_error_envelope(name: str) -> None:
    status, code = HTTP_ERRORS[name]
    state = FakeState()
    state.script.append(name)
    response = await generate(state)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error.get("code") == code
    assert state.stats.streams_started == 0


async def test_http_429_carries_reset_and_retry_after() -> None:
    state = FakeState()
    state.script.extend(["http_429", "http_429_no_header", "http_429(retry_after=7,window=weekly)"])
    with_header = await generate(state)
    without = await generate(state)
    custom = await generate(state)
    error = with_header.json()["error"]
    assert error["message"] == "usage limit for your plan (fiveHour)"
    assert with_header.headers["retry-after"] == "120"
    assert abs(error["rateLimit"]["reset"] - (time.time() + 120)) < 5
    assert error["rateLimit"]["window"] == "fiveHour"
    assert "retry-after" not in without.headers
    assert without.json()["error"]["rateLimit"]["reset"] > time.time()
    assert custom.headers["retry-after"] == "7"
    assert custom.json()["error"]["rateLimit"]["window"] == "weekly"


async def test_http_error_body_variants() -> None:
    state = FakeState()
    state.script.extend(
        [
            "http_400_root_message",
            "http_400_success_false",
            "http_400_text",
            "http_400_double_encoded",
            "http_400_overflow",
        ]
    )
    root = (await generate(state)).json()
    success_false = (await generate(state)).json()
    text = await generate(state)
    double = (await generate(state)).json()
    overflow = (await generate(state)).json()
    assert set(root) == {"message", "code"}
    assert success_false["success"] is False and set(success_false["error"]) == {"code", "message"}
    assert text.status_code == 400 and text.headers["content-type"].startswith("text/plain")
    assert text.text == "Invalid input: expected number, received undefined at max_tokens"
    assert json.loads(double["error"]["message"])["error"]["type"] == "invalid_request_error"
    assert "exceeds the model's context window" in overflow["error"]["message"]


# ---------------------------------------------------------------------------------------------------
# Scenario selection


async def test_script_is_fifo_and_beats_markers() -> None:
    state = FakeState()
    state.script.extend(["reasoning", "zero_output"])
    marked = make_body("fake:length")
    first, second, third = [Stream((await generate(state, marked)).text) for _ in range(3)]
    assert "reasoning-start" in first.types
    assert second.first("finish")["totalUsage"]["outputTokens"] == 0
    assert third.first("finish")["finishReason"] == "length"
    assert not state.script


async def test_marker_is_read_from_the_last_user_message_only() -> None:
    body = make_body()
    body["params"]["messages"] = [
        {"role": "user", "content": [{"type": "text", "text": "fake:zero_output"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "now fake:text(deltas=2,text=ab)"}]},
    ]
    assert [e["text"] for e in Stream((await generate(FakeState(), body)).text).of("text-delta")] == [
        "a",
        "b",
    ]
    body["params"]["messages"].append(
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool-result",
                    "toolCallId": "c",
                    "toolName": "t",
                    "output": {"type": "text", "value": "v"},
                }
            ],
        }
    )
    assert "text-delta" in Stream((await generate(FakeState(), body)).text).types


async def test_default_scenario_is_configurable() -> None:
    stream = Stream((await generate(FakeState(default_scenario="text(deltas=4)"))).text)
    assert len(stream.of("text-delta")) == 4


async def test_unknown_scenario_is_a_loud_500() -> None:
    state = FakeState()
    state.script.append("no_such_thing")
    response = await generate(state)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "FAKECC_BAD_SCENARIO"


def test_every_named_scenario_is_registered() -> None:
    required = {
        "text", "echo", "reasoning", "tool_call", "tool_call_final_only", "parallel_tools",
        "tool_input_without_call", "tool_input_string", "length", "network_error_finish", "truncated",
        "inband_error", "inband_error_prefix", "inband_error_string", "stall", "slow", "zero_output",
        "cache_write", "late_events", "huge_start_step", "malformed_line", "unknown_events", "sse_framing",
        "no_trailing_newline", "dsml_leak", "hang_headers", "http_401", "http_402", "http_403_not_in_plan",
        "http_403_upgrade", "http_429", "http_429_no_header", "http_400_overflow", "http_413", "http_422_zdr",
        "http_500", "http_502", "http_503", "http_529", "http_400_root_message", "http_400_success_false",
        "http_400_text", "http_400_double_encoded", "http_credits_exhausted", "pause_turn", "http_429_model",
        "http_400_insufficient_credits", "http_spend_cap", "http_premium_exhausted",
        "agent", "after_tool",
    }  # fmt: skip
    assert set(SCENARIO_NAMES) == required


# ---------------------------------------------------------------------------------------------------
# Catalog, account and telemetry endpoints


async def test_models_listing_is_anonymous_and_complete() -> None:
    async with client(FakeState()) as c:
        anonymous = await c.get("/provider/v1/models")
        with_key = await c.get("/provider/v1/models", headers=AUTH)
    assert anonymous.status_code == with_key.status_code == 200
    listing = anonymous.json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert len(GO_MODEL_IDS) == 54
    assert set(GO_MODEL_IDS) <= set(ids)
    extras = {"claude-sonnet-4-6", "claude-haiku-4-5-20251001", "claude-opus-4-7", "gpt-5.5", "gpt-5.6-sol"}
    assert extras | {"google/gemini-3.7-flash", "xai/grok-4.6"} <= set(ids)
    by_id = {m["id"]: m for m in listing["data"]}
    assert by_id["claude-sonnet-4-6"]["supported_endpoints"] == ["/messages"]
    assert by_id["deepseek/deepseek-v4-pro"]["context_length"] == 1_048_576
    assert all(set(m) == {"id", "name", "context_length", "supported_endpoints"} for m in listing["data"])


async def test_models_down_is_503() -> None:
    async with client(FakeState(models_down=True)) as c:
        assert (await c.get("/provider/v1/models")).status_code == 503


async def test_billing_credits_shape() -> None:
    state = FakeState(five_hour_used=1.5, monthly_credits=3.25)
    async with client(state) as c:
        credits = (await c.get("/alpha/billing/credits", headers=AUTH, params={"orgId": "x"})).json()
        anonymous = await c.get("/alpha/billing/credits")
    assert anonymous.status_code == 401
    assert "success" not in credits
    assert set(credits["credits"]) == {
        "belowThreshold", "creditThreshold", "monthlyCredits", "purchasedCredits", "freeCredits",
    }  # fmt: skip
    assert credits["credits"]["monthlyCredits"] == 3.25
    limits = credits["windowLimits"]
    assert limits["limited"] is True and limits["exceeded"] is None
    assert limits["fiveHour"]["used"] == 1.5 and limits["fiveHour"]["cap"] == 3
    assert limits["fiveHour"]["resetAt"] > time.time() * 1000
    assert limits["weekly"]["cap"] == 6


async def test_exceeded_window_limits_generate() -> None:
    state = FakeState(five_hour_exceeded=True, five_hour_reset_at=int(time.time() * 1000) + 60_000)
    async with client(state) as c:
        credits = (await c.get("/alpha/billing/credits", headers=AUTH)).json()
    response = await generate(state)
    assert credits["windowLimits"]["exceeded"] == "fiveHour"
    assert response.status_code == 429
    assert response.json()["error"]["rateLimit"]["window"] == "fiveHour"
    assert 55 <= int(response.headers["retry-after"]) <= 60


async def test_billing_down_is_503() -> None:
    async with client(FakeState(billing_down=True)) as c:
        assert (await c.get("/alpha/billing/credits", headers=AUTH)).status_code == 503


async def test_subscription_whoami_and_usage_summary() -> None:
    state = FakeState(plan="pro")
    await generate(state)
    async with client(state) as c:
        subscription = (await c.get("/alpha/billing/subscriptions", headers=AUTH)).json()
        whoami = (await c.get("/alpha/whoami", headers=AUTH)).json()
        summary = (await c.get("/alpha/usage/summary", headers=AUTH, params={"since": "x"})).json()
        state.usage_summary_wrapped = True
        wrapped = (await c.get("/alpha/usage/summary", headers=AUTH)).json()
        refused = await c.get("/alpha/whoami")
    assert subscription["success"] is True and subscription["data"]["planId"] == "individual-pro"
    assert subscription["data"]["status"] == "active"
    assert whoami == {
        "success": True,
        "user": {
            "id": state.user_id,
            "name": "fake-user",
            "email": "fake-user@example.com",
            "userName": "fake-user",
        },
        "org": None,
    }
    assert summary["totalCount"] == 1 and summary["completedCount"] == 1
    assert summary["totalTokensIn"] == expected_usage(make_body())["inputTokens"]
    assert summary["periodBasis"] == "billing-period"
    assert wrapped["data"]["totalCount"] == 1
    assert refused.status_code == 401


async def test_telemetry_endpoints_answer_and_are_counted() -> None:
    state = FakeState()
    async with client(state) as c:
        fingerprint = await c.post("/alpha/fingerprint/record", json={"thumbmark": "x"}, headers=AUTH)
        lifecycle = await c.post("/alpha/lifecycle-events", json={"eventType": "cli_session_exists"}, headers=AUTH)
        stats = (await c.get("/_fake/stats")).json()
    assert fingerprint.json() == {"success": True}
    assert lifecycle.json() == {"tracked": True}
    assert stats["paths"] == {"/alpha/fingerprint/record": 1, "/alpha/lifecycle-events": 1}
    assert state.requests_to("/alpha/fingerprint/record")[0].body == {"thumbmark": "x"}


async def test_provider_api_needs_a_plan_above_go() -> None:
    body = {"model": MODEL, "messages": []}
    async with client(FakeState()) as c:
        go = await c.post("/provider/v1/chat/completions", json=body, headers=AUTH)
    async with client(FakeState(plan="goat")) as c:
        goat = await c.post("/provider/v1/chat/completions", json=body, headers=AUTH)
    assert go.status_code == 403
    assert go.json()["error"]["code"] == "upgrade_required"
    assert "Go plan" in go.json()["error"]["message"]
    assert goat.status_code == 400  # past the plan check, the schema refuses an empty conversation
    assert "messages" in goat.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------------
# Recording and control endpoints


async def test_requests_are_recorded_and_bounded() -> None:
    state = FakeState()
    body = make_body("record me")
    await generate(state, body, headers={**AUTH, "x-session-id": THREAD_ID})
    recorded = state.requests[-1]
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/alpha/generate", body)
    assert recorded.headers["x-session-id"] == THREAD_ID
    assert state.requests.maxlen == REQUEST_LOG_SIZE
    async with client(state) as c:
        await c.get("/provider/v1/models")
        everything = (await c.get("/_fake/requests")).json()["requests"]
        only_generate = (await c.get("/_fake/requests", params={"path": "/alpha/generate"})).json()["requests"]
        cleared = (await c.delete("/_fake/requests")).json()
    assert [r["path"] for r in everything] == ["/alpha/generate", "/provider/v1/models"]
    assert only_generate[0]["body"] == body
    assert cleared == {"cleared": 2}
    assert not state.requests


async def test_control_script_state_stats_and_reset() -> None:
    state = FakeState()
    async with client(state) as c:
        queued = await c.post(
            "/_fake/script", json={"scenarios": ["zero_output", {"name": "text", "params": {"deltas": 1}}]}
        )
        rejected = await c.post("/_fake/script", json={"scenarios": ["nope"]})
        patched = await c.post("/_fake/state", json={"plan": "max", "revoked_keys": ["user_gone"]})
        bad_patch = await c.post("/_fake/state", json={"plan": "platinum"})
        unknown_field = await c.post("/_fake/state", json={"requests": []})
        first = await c.post("/alpha/generate", json=make_body(model="claude-opus-4-7"), headers=AUTH)
        second = await c.post("/alpha/generate", json=make_body(), headers=AUTH)
        gone = await c.post("/alpha/generate", json=make_body(), headers={"authorization": "Bearer user_gone"})
        stats = (await c.get("/_fake/stats")).json()
        reset = (await c.post("/_fake/reset")).json()
    assert queued.json() == {"queued": 2}
    assert rejected.status_code == 400
    assert patched.json()["plan"] == "max" and patched.json()["revoked_keys"] == ["user_gone"]
    assert bad_patch.status_code == 400 and unknown_field.status_code == 400
    assert Stream(first.text).first("finish")["totalUsage"]["outputTokens"] == 0
    assert len(Stream(second.text).of("text-delta")) == 1
    assert gone.status_code == 401
    assert stats["generate_calls"] == 3 and stats["streams_completed"] == 2
    assert stats["paths"] == {"/alpha/generate": 3} and stats["queued_scenarios"] == 0
    assert reset["plan"] == "go" and reset["revoked_keys"] == []
    assert state.stats.generate_calls == 0 and not state.requests


# ---------------------------------------------------------------------------------------------------
# The ``python -m tests.fakecc`` entry point


@contextmanager
def fake_process(*args: str) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakecc", "--host", "127.0.0.1", "--port", "0", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        with ThreadPoolExecutor(1) as pool:
            ready = pool.submit(process.stdout.readline).result(timeout=10)
        match = re.fullmatch(r"fakecc listening on (http://127\.0\.0\.1:\d+)\n", ready)
        assert match, ready
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_main_entry_point_serves_and_notices_disconnects() -> None:
    with fake_process("--plan", "pro") as base, httpx.Client(base_url=base, timeout=5) as c:
        assert len(c.get("/provider/v1/models").json()["data"]) > 54
        answer = c.post("/alpha/generate", json=make_body(model="claude-sonnet-4-6"), headers=AUTH)
        assert answer.status_code == 200 and Stream(answer.text).first("finish")["finishReason"] == "stop"
        with c.stream("POST", "/alpha/generate", json=make_body("fake:stall"), headers=AUTH) as stream:
            assert next(stream.iter_lines()) == '{"type":"start"}'
        deadline = time.monotonic() + 3
        while (stats := c.get("/_fake/stats").json())["disconnects"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stats["disconnects"] == 1 and stats["active_streams"] == 0


def test_usage_counts_wide_characters_as_one_token_each() -> None:
    from tests.fakecc.usage import text_tokens

    assert text_tokens("abcd" * 10) == 10
    assert text_tokens("天气很好") == 4
    assert text_tokens("ab天气") == 1 + 2


# ---------------------------------------------------------------------------------------------------
# Agent loops


SHELL_TOOL = {
    "name": "Bash",
    "description": "Runs a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
}
ARGV_TOOL = {
    "name": "local_shell",
    "input_schema": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}},
}


async def test_agent_calls_the_named_tool_with_its_required_arguments_filled() -> None:
    stream = await run_scenario("agent(tool=Bash)", make_body(tools=[*TOOLS, SHELL_TOOL]))
    call = stream.first("tool-call")
    assert (call["toolName"], call["input"]) == ("Bash", {"command": "echo ccgw-$((6*7))"})
    assert stream.first("finish")["finishReason"] == "tool-calls"


async def test_agent_fills_argv_arrays_for_the_first_tool_by_default() -> None:
    stream = await run_scenario("agent(text=ls)", make_body(tools=[ARGV_TOOL]))
    assert stream.first("tool-call")["input"] == {"command": ["bash", "-lc", "ls"]}


async def test_conversation_ending_in_a_tool_result_is_answered_in_text_quoting_it() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "fake:agent(tool=Bash)"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "reasoning", "text": "run it"},
                {"type": "tool-call", "toolCallId": "c1", "toolName": "Bash", "input": {}},
            ],
        },
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool-result",
                    "toolCallId": "c1",
                    "toolName": "Bash",
                    "output": {"type": "text", "value": "ccgw-42\n"},
                }
            ],
        },
    ]
    response = await generate(FakeState(), make_body(tools=[SHELL_TOOL], messages=messages))
    assert response.status_code == 200, response.text
    stream = Stream(response.text)
    assert "tool-call" not in stream.types
    assert stream.text == "Tool result: ccgw-42"


async def test_http_429_without_a_window_names_none() -> None:
    state = FakeState()
    state.script.append("http_429(window=none,retry_after=0)")
    response = await generate(state)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "0"
    assert "rateLimit" not in response.json()["error"]
