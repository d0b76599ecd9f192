"""Fuzzing the HTTP edge: nothing a client sends makes the gateway answer 5xx or leave its protocol.

Five kinds of requests, all bounded and derandomized, so CI sends the same ones every run:

* named attacks from issue 5 (bad data URLs, non-object tool schemas, n=0, huge max_tokens, ...);
* every field of each body, and of its first message, set to each of a list of wrong values;
* schema-driven: schemathesis generates bodies from the app's own OpenAPI document, both valid per
  schema (positive mode) and violating it (negative mode);
* protocol-aware: hand-written strategies that know each API's content parts, images, tools and
  limits build plausible bodies, then break them in up to three places (wrong types, nulls,
  deletions, huge strings, lone surrogates, deep nesting);
* raw bytes: invalid UTF-8, truncated or non-object JSON and garbage, with and without a content type.

Every answer must be below 500 and well-formed in the caller's protocol: an OpenAI or Anthropic error
document naming the problem (briefly) for a 4xx; a completion, response, message or token count (or
its SSE stream) for a 2xx. The mocked upstream validates what it receives as strictly as the fake
Command Code server does, so a bad value the gateway forwards instead of refusing is a failure too;
remote images come from a mock transport. `CCGW_FUZZ_SCALE=10` runs ten times the examples and
`CCGW_FUZZ_RANDOM=1` draws new ones each run.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet
from tests.conftest import (
    CATALOG,
    CREDITS,
    JSON,
    LOCAL_KEY,
    UPSTREAM,
    UPSTREAM_KEY,
    WHOAMI,
    make_settings,
    sse_payloads,
    text_answer,
)
from tests.fakecc.errors import HttpError
from tests.fakecc.validate import check_deepseek_reasoning, validate_generate

from ccgw.application import create_app

SCALE = float(os.environ.get("CCGW_FUZZ_SCALE", "1"))
RANDOM = bool(os.environ.get("CCGW_FUZZ_RANDOM"))  # fresh examples each run, to explore beyond CI's fixed ones
CHAT, RESPONSES, MESSAGES, COUNT = "/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/messages/count_tokens"
ROUTES = (CHAT, RESPONSES, MESSAGES, COUNT)
MODELS = ("deepseek/deepseek-v4-pro", "deepseek-v4-flash", "gpt-6-luna", "moonshotai/Kimi-K3", "claude-sonnet-4-6")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
PNG_URL = "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAAAAAAA="
IMAGE_HOSTS = {"img.test": ["93.184.216.34"], "private.test": ["127.0.0.1"]}
MAX_MESSAGE = 1000  # an error names the problem; it does not echo a 100 kB value back


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --- the app under test ------------------------------------------------------------------------


@dataclass
class Fuzzed:
    """The app, and what its upstream refused (a request the gateway forwards must be one the upstream takes)."""

    client: TestClient
    refused: list[str] = field(default_factory=list)

    def generate(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        invalid = validate_generate(body) or check_deepseek_reasoning(body["params"])
        sampling = {k: v for k, v in body["params"].items() if k in ("temperature", "top_p", "top_k")}
        if invalid is None and any(isinstance(v, bool) or not isinstance(v, int | float) for v in sampling.values()):
            invalid = HttpError(400, f"Invalid input: expected number, received {sampling}")
        if invalid is not None:
            self.refused.append(invalid.body)
            return httpx.Response(invalid.status, content=invalid.body.encode())
        answer = text_answer("Hello", ", world.")
        return httpx.Response(200, content=answer, headers={"content-type": "text/event-stream"})

    def post(self, path: str, body: Any, *, raw_utf8: bool = False) -> httpx.Response:
        """POST `body` as JSON; `raw_utf8` sends non-ASCII (and lone surrogates) as raw, maybe invalid, UTF-8."""
        content = json.dumps(body, ensure_ascii=not raw_utf8).encode("utf-8", "surrogatepass")
        response = self.client.post(path, content=content, headers={"content-type": "application/json"})
        self.check(path, response, body)
        return response

    def post_raw(self, path: str, content: Any, content_type: str | None) -> httpx.Response:
        headers = {} if content_type is None else {"content-type": content_type}
        response = self.client.post(path, content=content, headers=headers)
        self.check(path, response)
        return response

    def check(self, path: str, response: httpx.Response, sent: Any = None) -> None:
        refused, self.refused = self.refused, []
        assert not refused, f"forwarded a request the upstream refuses: {refused} (answered {response.text[:500]})"
        check(path, response, sent)


def _image_server(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith(".txt"):
        return httpx.Response(200, content=b"text", headers={"content-type": "text/plain"})
    if request.url.path.endswith("missing.png"):
        return httpx.Response(404)
    return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})


async def _resolve(host: str, port: int) -> list[str]:
    if host not in IMAGE_HOSTS:
        raise OSError("no such host")
    return IMAGE_HOSTS[host]


@contextmanager
def gateway() -> Iterator[Fuzzed]:
    """One app per test function, reused across its examples (a function-scoped fixture would not be)."""
    router = respx.MockRouter(base_url=UPSTREAM, assert_all_called=False)
    router.get("/provider/v1/models").mock(return_value=httpx.Response(200, json=CATALOG))
    router.get("/alpha/billing/credits").mock(return_value=httpx.Response(200, json=CREDITS))
    router.get("/alpha/whoami").mock(return_value=httpx.Response(200, json=WHOAMI))
    generate = router.post("/alpha/generate")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            make_settings(),
            upstream_key=UPSTREAM_KEY,
            transport=httpx.MockTransport(router.handler),
            image_transport=httpx.MockTransport(_image_server),
            image_resolver=_resolve,
            usage_path=Path(tmp) / "usage.json",
        )
        with TestClient(
            app, base_url="http://localhost", headers={"Authorization": f"Bearer {LOCAL_KEY}", **JSON}
        ) as client:
            fuzzed = Fuzzed(client)
            generate.mock(side_effect=fuzzed.generate)
            yield fuzzed


@functools.cache
def openapi_schema() -> Any:
    return schemathesis.openapi.from_dict(create_app(make_settings(), upstream_key=None).openapi())


# --- what every answer must look like ----------------------------------------------------------


def _openai_error(body: Any) -> None:
    error = body["error"]
    assert isinstance(error["message"], str) and 0 < len(error["message"]) <= MAX_MESSAGE, body
    assert isinstance(error["type"], str) and error["type"], body
    assert "param" in error and "code" in error, body


def _anthropic_error(body: Any) -> None:
    assert body["type"] == "error", body
    assert isinstance(body["error"]["type"], str) and body["error"]["type"], body
    assert isinstance(body["error"]["message"], str) and 0 < len(body["error"]["message"]) <= MAX_MESSAGE, body


def _ok_json(path: str, body: Any, sent: dict[str, Any]) -> None:
    if path == CHAT:
        assert body["object"] == "chat.completion", body
        assert [c["index"] for c in body["choices"]] == list(range(sent.get("n") or 1)), body
        assert all(c["message"]["role"] == "assistant" and c["finish_reason"] for c in body["choices"]), body
    elif path == RESPONSES:
        assert body["object"] == "response" and body["status"] == "completed", body
        assert isinstance(body["output"], list), body
    elif path == MESSAGES:
        assert body["type"] == "message" and body["role"] == "assistant", body
        assert isinstance(body["content"], list) and body["stop_reason"], body
    else:
        assert isinstance(body["input_tokens"], int) and body["input_tokens"] > 0, body


def _ok_stream(path: str, text: str) -> None:
    frames = sse_payloads(text)
    assert frames, text
    if path == CHAT:
        assert frames[-1] == "[DONE]", text
        assert all(f["object"] == "chat.completion.chunk" for f in frames[:-1]), text
    elif path == RESPONSES:
        assert frames[0]["type"] == "response.created" and frames[-1]["type"] == "response.completed", text
    else:
        assert frames[0]["type"] == "message_start" and frames[-1]["type"] == "message_stop", text


def check(path: str, response: httpx.Response, sent: Any = None) -> None:
    """The answer is below 500 and well-formed in the protocol `path` speaks."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    if response.status_code < 300 and response.headers["content-type"].startswith("text/event-stream"):
        _ok_stream(path, response.text)
        return
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and "detail" not in body, body
    if response.status_code < 300:
        _ok_json(path, body, sent if isinstance(sent, dict) else {})
    elif path.startswith(MESSAGES):
        _anthropic_error(body)
    else:
        _openai_error(body)


# --- values a hostile or careless client sends -------------------------------------------------


def _nested(depth: int, leaf: Any = "x", *, as_dict: bool = False) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_dict else [value]
    return value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
weird = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, 2**31, 2**63, 2**64 + 1, -(2**63) - 1, 10**30, 1e308, -0.0, 0.5]),
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff", "a\ud800b", "\u202egnp.exe", "%%%", "null", "🙂", "\ufeff"]),
    st.sampled_from(["A" * 100_000, "é" * 40_000, "\U0001f600" * 20_000, "\x00" * 1000]),
    st.sampled_from([[], {}, [None], {"": None}, [[]], {"type": None}]),
    st.sampled_from([_nested(195, as_dict=True), _nested(250), _nested(600), _nested(60, {"type": "text"})]),
    json_values,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the plausible value, one time in eight anything at all."""
    return st.sampled_from([strategy] * 7 + [weird]).flatmap(lambda chosen: chosen)


def pool(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """A value that works four times in five, else one the gateway must refuse (or clamp)."""
    return st.sampled_from([good] * 4 + [bad]).flatmap(st.sampled_from)


models = pool(list(MODELS[:4]), [MODELS[4], "", "no-such-model", "../../etc", "\ud800"])
texts = maybe(st.text(min_size=1, max_size=20))
max_tokens = pool([None, 1, 64, 200_000], [-1, 0, 200_001, 10**30, 2**63, 1.5, "100", True])
temperatures = pool([None, 0, 0.7, 1], [2, -1, 3, 1e308, "hot", True])
image_urls = pool(
    [
        PNG_URL,
        "data:image/png;base64,iVBO\nRw0K\nGgo=",
        "data:image/jpeg;name=a.jpg;base64,aGk=",
        "http://img.test/cat.png",
        "https://img.test/cat.png?size=1",
    ],
    [
        "data:image/png;base64,%%%",
        "data:image/png;base64,",
        "data:image/png;base64," + "A" * 100_001,
        "data:image/png,rawbytes",
        "data:,hello",
        "data:text/plain;base64,aGk=",
        "data:;base64,aGk=",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "https://img.test/readme.txt",
        "https://img.test/missing.png",
        "http://private.test/x.png",
        "http://127.0.0.1:8080/x.png",
        "https://unknown.test/x.png",
        "http://img.test:99999/x.png",
        "http://",
        "https://user:pass@img.test/x.png",
        "ftp://img.test/x.png",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
schemas = pool(
    [
        None,
        {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        {"properties": {}},
        {},
        _nested(90, as_dict=True),
    ],
    [
        {"type": "array", "items": {"type": "string"}},
        {"type": "string"},
        {"type": ["object", "null"]},
        {"type": {"nested": True}},
        {"type": None},
        {"$ref": "#/definitions/loop", "definitions": {"loop": {"$ref": "#/definitions/loop"}}},
        "object",
        [],
    ],
)
tool_names = pool(["get_weather", "search"], ["", "a" * 300, "bad name!", "\ud800", None, 5])


def part(kind: str, optional: dict[str, Any] | None = None, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A typed part or item: `fields` always present (mutation drops them), `optional` sometimes."""
    return st.fixed_dictionaries({"type": st.just(kind), **fields}, optional=optional or {})


def mostly(good: list[st.SearchStrategy[Any]], bad: list[st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of `good` four times in five, else one of `bad`."""
    return st.sampled_from([good] * 4 + [bad]).flatmap(lambda group: st.one_of(group))


unknown_part = st.fixed_dictionaries({}, optional={"type": weird, "text": texts})

# --- OpenAI chat completions -------------------------------------------------------------------

chat_parts = mostly(
    [
        part("text", text=texts),
        part("image_url", image_url=st.fixed_dictionaries({"url": image_urls}, optional={"detail": texts})),
        part("image_url", image_url=image_urls),
        part("input_text", text=texts),
    ],
    [part("refusal", refusal=texts), part("input_audio", input_audio=weird), part("file", file=weird), unknown_part],
)
chat_content = st.one_of(texts, st.lists(chat_parts, min_size=1, max_size=3))
call_ids = pool(["call_1", "call_2", "toolu_" + "x" * 80], ["", None, 5])
arguments = pool(['{"q": 1}', "", "{bad", "[1]", {"q": 1}, None], [5, _nested(195, as_dict=True)])
tool_calls = st.lists(
    part("function", id=call_ids, function=st.fixed_dictionaries({"name": tool_names, "arguments": arguments})),
    max_size=2,
)
chat_messages = mostly(
    [
        st.fixed_dictionaries({"role": st.just("user"), "content": chat_content}),
        st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": chat_content}),
        st.fixed_dictionaries(
            {"role": st.just("assistant")},
            optional={"content": chat_content, "tool_calls": tool_calls, "reasoning_content": texts},
        ),
        st.fixed_dictionaries(
            {"role": st.just("tool"), "tool_call_id": call_ids, "content": chat_content}, optional={"name": texts}
        ),
    ],
    [
        st.fixed_dictionaries({"role": st.just("function"), "name": texts, "content": chat_content}),
        st.fixed_dictionaries({"role": st.just("assistant"), "function_call": weird}),
        st.fixed_dictionaries({"role": weird}, optional={"content": chat_content}),
    ],
)
function_defs = st.fixed_dictionaries({"name": tool_names}, optional={"description": texts, "parameters": schemas})
chat_tools = st.lists(mostly([part("function", function=function_defs)], [part("retrieval"), weird]), max_size=2)
chat_bodies = st.fixed_dictionaries(
    {"model": models, "messages": st.lists(chat_messages, min_size=1, max_size=4)},
    optional={
        "stream": maybe(st.booleans()),
        "stream_options": maybe(st.fixed_dictionaries({"include_usage": maybe(st.booleans())})),
        "max_tokens": max_tokens,
        "max_completion_tokens": max_tokens,
        "n": pool([None, 1, 2, 8], [0, 9, 100, -1, True, 1.0, "2"]),
        "temperature": temperatures,
        "top_p": temperatures,
        "stop": maybe(st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=20))),
        "tools": maybe(chat_tools),
        "tool_choice": pool(
            ["auto", "none", "required", {"type": "function", "function": {"name": "get_weather"}}],
            ["bogus", {"type": "function"}, {}, 5, {"function": "x"}],
        ),
        "functions": maybe(st.lists(function_defs, max_size=1)),
        "reasoning_effort": pool(["none", "low", "high", "xhigh", "max"], ["bogus", "", 5]),
        "response_format": mostly(
            [st.just({"type": "json_object"}), part("json_schema", json_schema=st.just({"schema": {}}))],
            [part("json_schema", json_schema=weird), weird],
        ),
        "user": texts,
    },
)

# --- OpenAI Responses --------------------------------------------------------------------------

responses_parts = mostly(
    [
        part("input_text", text=texts),
        part("output_text", text=texts),
        part("input_image", image_url=image_urls, optional={"detail": texts}),
    ],
    [
        part("input_image", file_id=texts),
        part("input_image"),
        part("input_file", file_id=texts),
        part("input_audio", input_audio=weird),
        unknown_part,
    ],
)
responses_content = st.one_of(texts, st.lists(responses_parts, min_size=1, max_size=3))
responses_items = mostly(
    [
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "user", "assistant", "system", "developer"]),
                "content": responses_content,
            },
            optional={"type": st.just("message")},
        ),
        part("function_call", call_id=call_ids, name=tool_names, arguments=arguments),
        part("function_call_output", call_id=call_ids, output=responses_content),
        part(
            "reasoning",
            summary=st.lists(part("summary_text", text=texts), max_size=2),
            optional={"content": st.lists(part("reasoning_text", text=texts), max_size=2)},
        ),
    ],
    [
        part("item_reference", id=texts),
        part("reasoning", summary=weird, content=weird),
        st.fixed_dictionaries({"role": weird, "content": responses_content}),
        unknown_part,
        weird,
    ],
)
responses_tools = st.lists(
    mostly(
        [part("function", name=tool_names, optional={"description": texts, "parameters": schemas}), part("web_search")],
        [part("custom", name=tool_names), unknown_part, weird],
    ),
    max_size=2,
)
responses_bodies = st.fixed_dictionaries(
    {"model": models, "input": st.one_of(texts, st.lists(responses_items, min_size=1, max_size=4))},
    optional={
        "instructions": texts,
        "stream": maybe(st.booleans()),
        "max_output_tokens": max_tokens,
        "temperature": temperatures,
        "tools": maybe(responses_tools),
        "tool_choice": pool(["auto", "required", "none", {"type": "function", "name": "search"}], ["x", {}, 5]),
        "reasoning": maybe(st.fixed_dictionaries({}, optional={"effort": texts, "summary": texts})),
        "text": maybe(part("json_schema", schema=schemas).map(lambda fmt: {"format": fmt})),
        "store": maybe(st.booleans()),
        "previous_response_id": pool([None], ["resp_1", 5]),
        "background": pool([False, None], [True, "yes"]),
        "metadata": maybe(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)),
    },
)

# --- Anthropic Messages ------------------------------------------------------------------------

image_sources = mostly(
    [
        part("base64", media_type=st.sampled_from(["image/png", "image/jpeg"]), data=st.just("iVBORw0KGgo=")),
        part("url", url=image_urls),
    ],
    [
        part(
            "base64",
            media_type=pool(["image/png"], ["text/plain", "", None, "image/png;base64,x"]),
            data=pool(["iVBORw0KGgo="], ["%%%", "", "A" * 100_001, None]),
        ),
        part("file", file_id=texts),
        weird,
    ],
)
inner_blocks = mostly([part("text", text=texts), part("image", source=image_sources)], [part("document"), weird])
anthropic_blocks = mostly(
    [
        part("text", text=texts, optional={"cache_control": st.just({"type": "ephemeral"})}),
        part("image", source=image_sources),
        part("tool_use", id=call_ids, name=tool_names, input=arguments),
        part(
            "tool_result",
            tool_use_id=call_ids,
            optional={
                "content": st.one_of(texts, st.lists(inner_blocks, max_size=2)),
                "is_error": maybe(st.booleans()),
            },
        ),
        part("thinking", thinking=texts, signature=texts),
    ],
    [part("redacted_thinking", data=texts), part("document", source=weird), part("server_tool_use"), unknown_part],
)
anthropic_messages = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user"] * 4 + ["assistant"] * 2 + ["system"]),
        "content": st.one_of(texts, st.lists(anthropic_blocks, min_size=1, max_size=3)),
    }
)
anthropic_tools = st.lists(
    st.fixed_dictionaries(
        {"name": tool_names},
        optional={
            "description": texts,
            "input_schema": schemas,
            "type": pool(["custom", "web_search_20250305", None], [5, ""]),
        },
    ),
    max_size=2,
)
messages_bodies = st.fixed_dictionaries(
    {"model": models, "messages": st.lists(anthropic_messages, min_size=1, max_size=4)},
    optional={
        "max_tokens": max_tokens,
        "system": st.one_of(texts, st.lists(mostly([part("text", text=texts)], [unknown_part]), max_size=2)),
        "stream": maybe(st.booleans()),
        "temperature": temperatures,
        "top_k": pool([None, 0, 5], [-1, 2**63, 1.5]),
        "stop_sequences": maybe(st.lists(st.text(max_size=5), max_size=3)),
        "tools": maybe(anthropic_tools),
        "tool_choice": mostly(
            [part("auto"), part("any"), part("none"), part("tool", name=tool_names)], [st.just("auto"), part("x")]
        ),
        "thinking": mostly(
            [part("enabled", budget_tokens=pool([1024, 40_000], [0, -5, 10**30, 1.5, True, None])), part("disabled")],
            [part("adaptive"), weird],
        ),
        "output_config": maybe(st.fixed_dictionaries({"effort": pool(["low", "high"], ["bogus", 5])})),
        "metadata": maybe(st.fixed_dictionaries({"user_id": texts})),
    },
)

PROTOCOL_BODIES = {CHAT: chat_bodies, RESPONSES: responses_bodies, MESSAGES: messages_bodies, COUNT: messages_bodies}


# --- mutation: break a plausible body in up to three places ------------------------------------

_DROP = object()


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*at, key))
    elif isinstance(value, list) and len(at) < 12:  # not down a 600-deep nest
        for index, inner in enumerate(value):
            yield from _paths(inner, (*at, index))


def _replaced(value: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    """`value` with the node at `path` replaced by `new`, dropped, wrapped in a list or nested in an object."""
    if not path:
        return {"replace": new, "drop": _DROP, "wrap": [value], "nest": {"value": value}}[action]
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    changed = _replaced(copy[head], rest, action, new)
    if changed is _DROP:
        del copy[head]
    else:
        copy[head] = changed
    return copy


@st.composite
def mutated(draw: st.DrawFn, bodies: st.SearchStrategy[Any]) -> Any:
    body = draw(bodies)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        path = draw(st.sampled_from(list(_paths(body))))
        action = draw(st.sampled_from(["replace", "drop", "wrap", "nest"]))
        body = _replaced(body, path, action, draw(weird))
        body = {} if body is _DROP else body
    return body


# --- raw bytes ---------------------------------------------------------------------------------

valid_json = st.sampled_from(
    [
        json.dumps({"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}]}).encode(),
        json.dumps({"model": MODELS[0], "input": [{"role": "user", "content": "hi"}]}).encode(),
    ]
)
raw_bodies = st.one_of(
    st.binary(max_size=300),
    st.tuples(valid_json, st.integers(0, 80)).map(lambda t: t[0][: t[1]]),
    st.tuples(valid_json, st.integers(1, 60), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    ),
    st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]).map(
        lambda bad: b'{"model": "' + bad + b'", "messages": [{"role": "user", "content": "hi"}]}'
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b"",
            b"   \n",
            b"\x00",
            b"null",
            b"[]",
            b'"{}"',
            b"\xef\xbb\xbf{}",
            b"{}",
            b'{"model": NaN}',
            b'{"model": "x", "max_tokens": 1e400}',
            b'{"model": "x", "max_tokens": 18446744073709551616}',
            b'{"model": "\\ud800", "messages": []}',
            b'{"a": 1, "a": 2}',
            b"[" * 5000 + b"]" * 5000,
            b'{"messages": ' + b"[" * 1023 + b"]" * 1023 + b"}",
            "{}".encode("utf-16"),
            b"model=x&messages=y",
        ]
    ),
)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
        "",
    ]
)

# --- the tests ---------------------------------------------------------------------------------

# URLs httpx cannot parse (or idna refuses), and ones long enough to test that errors do not quote them whole.
UNPARSEABLE_IMAGE_URLS = [
    "http://[::1/x.png",
    "http://xn--a.com/x.png",
    "http://img.test/" + "a" * 70_000,
    "https://unknown.test/" + "a" * 5_000,
]

NAMED_ATTACKS = [
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}]}]}, id="bad-base64"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]}, id="array-tool-schema"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}, id="negative-max-tokens"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**30}, id="huge-max-tokens"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "n": 0}, id="n-0"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "n": 100}, id="n-100"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "temperature": "0.5"}, id="number-as-string"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": _nested(600)}]}, id="deep-nesting"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": [{"type": "A" * 100_000}]}]}, id="huge-part-type"),
    pytest.param(CHAT, {"model": "A" * 100_000, "messages": [{"role": "user", "content": "hi"}]}, id="huge-model"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": None}, id="null-messages"),
    pytest.param(CHAT, {"model": None, "messages": [{"role": "user", "content": "hi"}]}, id="null-model"),
    pytest.param(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "functions": True}, id="functions-not-a-list"),
    pytest.param(RESPONSES, {"model": MODELS[0], "input": "hi", "metadata": _nested(400, as_dict=True)}, id="deep-echoed-metadata"),
    pytest.param(RESPONSES, {"model": MODELS[0], "input": [{"type": "input_image"}]}, id="image-without-url"),
    pytest.param(MESSAGES, {"model": MODELS[0], "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%%"}}]}]}, id="anthropic-bad-base64"),
    pytest.param(MESSAGES, {"model": MODELS[0], "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": _nested(400, as_dict=True)}]}]}, id="deep-tool-input"),
    pytest.param(MESSAGES, {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}], "top_k": True}, id="bool-top-k"),
    pytest.param(COUNT, {"model": "anything", "messages": [{"role": "user", "content": "\ud800"}]}, id="lone-surrogate"),
    pytest.param(COUNT, {"model": "anything", "messages": [{"role": "user", "content": "hi"}], "stop_sequences": True}, id="count-stops-not-a-list"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body"), NAMED_ATTACKS)
def test_fuzz_named_attacks_answer_4xx_in_protocol(path: str, body: Any) -> None:
    with gateway() as app:
        for raw_utf8 in (False, True):
            assert app.post(path, body, raw_utf8=raw_utf8).status_code >= 400


BASE_BODIES = {
    CHAT: {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}]},
    RESPONSES: {"model": MODELS[0], "input": [{"role": "user", "content": "hi"}]},
    MESSAGES: {"model": MODELS[0], "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    COUNT: {"model": MODELS[0], "messages": [{"role": "user", "content": "hi"}]},
}
# Fields the translators read that a route's schema does not declare, so no schema-driven case types them.
UNDECLARED = {
    CHAT: ["response_format", "messages.0.function_call", "messages.0.reasoning"],
    RESPONSES: ["text", "conversation", "prompt", "background", "input.0.type", "input.0.call_id", "input.0.output"],
    MESSAGES: ["output_config"],
    COUNT: ["output_config"],  # and every Messages field, though count_tokens declares fewer
}
WRONG_VALUES = [None, True, 0, -1, 2**64, "", "x" * 10_000, ["x"], [None], {"type": None}, _nested(150)]


def _fields(path: str) -> list[str]:
    """Every field of the body and of its first message or item: declared in the OpenAPI schema, or read anyway."""
    components = openapi_schema().raw_schema["components"]["schemas"]
    request = {CHAT: "ChatCompletionRequest", RESPONSES: "ResponsesRequest"}.get(path, "MessagesRequest")
    message = {CHAT: "ChatMessage", RESPONSES: None}.get(path, "AnthropicMessage")
    inner = "input" if path == RESPONSES else "messages"
    names = list(components[request]["properties"])
    names += [f"{inner}.0.{name}" for name in (components[message]["properties"] if message else ("role", "content"))]
    return names + UNDECLARED[path]


def _with(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    if not rest:
        return {**body, head: value}
    index, _, name = rest.partition(".")
    items = list(body[head])
    items[int(index)] = {**items[int(index)], name: value}
    return {**body, head: items}


@pytest.mark.parametrize("path", ROUTES)
def test_fuzz_every_field_with_every_wrong_type(path: str) -> None:
    with gateway() as app:
        app.post(path, BASE_BODIES[path])
        for name in _fields(path):
            for value in WRONG_VALUES:
                app.post(path, _with(BASE_BODIES[path], name, value))


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_fuzz_schema_bodies_never_5xx(path: str, mode: schemathesis.GenerationMode) -> None:
    cases = openapi_schema()[path]["POST"].as_strategy(generation_mode=mode)
    with gateway() as app:

        @fuzz_settings(25)
        @given(case=cases, model=st.sampled_from((None, *MODELS)))
        def run(case: schemathesis.Case, model: str | None) -> None:
            body = case.body
            if isinstance(body, bytes | NotSet):  # negative mode also sends no body, or one that is not JSON
                app.post_raw(path, body if isinstance(body, bytes) else b"", case.media_type)
            elif isinstance(body, dict) and model is not None:
                app.post(path, {**body, "model": model})  # a known model, to reach the translators
            else:
                app.post(path, body)

        run()


@pytest.mark.parametrize("path", ROUTES)
def test_fuzz_protocol_bodies_mutated_never_5xx(path: str) -> None:
    answered: list[int] = []
    with gateway() as app:

        @fuzz_settings(120)
        @given(body=mutated(PROTOCOL_BODIES[path]), raw_utf8=st.booleans())
        def run(body: Any, raw_utf8: bool) -> None:
            answered.append(app.post(path, body, raw_utf8=raw_utf8).status_code)

        run()
    assert 200 in answered, "the bodies are too broken to reach the upstream; the fuzzer would miss its bugs"


def test_fuzz_raw_bytes_answer_4xx_in_protocol() -> None:
    with gateway() as app:

        @fuzz_settings(200)
        @given(path=st.sampled_from(ROUTES), raw=raw_bodies, content_type=content_types, chunked=st.booleans())
        def run(path: str, raw: bytes, content_type: str | None, chunked: bool) -> None:
            content = iter([raw[: len(raw) // 2], raw[len(raw) // 2 :]]) if chunked else raw
            response = app.post_raw(path, content, content_type)
            assert response.status_code >= 400 or raw.lstrip().startswith(b"{"), response.text

        run()


@pytest.mark.parametrize("url", UNPARSEABLE_IMAGE_URLS, ids=["bracket", "idna", "too-long", "quoted-whole"])
def test_fuzz_unparseable_remote_image_url_is_400(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    with gateway() as app:
        app.post(CHAT, {"model": MODELS[0], "messages": [{"role": "user", "content": [part]}]})
