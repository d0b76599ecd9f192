"""Fuzzing the Gemini routes and legacy completions: no 5xx, and every answer well-formed in its protocol.

The same machinery as `test_fuzz.py` (its app, value pools and mutator): plausible bodies built by
protocol-aware strategies, broken in up to three places; every field set to each wrong value; raw bytes.
A Gemini error must be Google's `{"error": {"code", "message", "status"}}` with `code` equal to the HTTP
status; a completions error OpenAI's. A request the gateway forwards must be one the upstream takes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import sse_payloads
from tests.test_fuzz import (
    MAX_MESSAGE,
    MODELS,
    WRONG_VALUES,
    Fuzzed,
    _openai_error,
    _with,
    arguments,
    call_ids,
    content_types,
    fuzz_settings,
    gateway,
    image_urls,
    json_values,
    max_tokens,
    maybe,
    models,
    mostly,
    mutated,
    pool,
    raw_bodies,
    schemas,
    temperatures,
    texts,
    tool_names,
    unknown_part,
    weird,
)

GENERATE = "/v1beta/models/deepseek-v4-pro:generateContent"
STREAM = "/v1/models/deepseek/deepseek-v4-flash:streamGenerateContent?alt=sse"
ARRAY = "/v1beta/models/moonshotai/Kimi-K3:streamGenerateContent"
COUNT = "/v1beta/models/gemini-3-pro-preview:countTokens"
COMPLETIONS = "/v1/completions"
GEMINI_ROUTES = (GENERATE, STREAM, ARRAY, COUNT)


def post(app: Fuzzed, path: str, body: Any, *, raw_utf8: bool = False) -> httpx.Response:
    content = json.dumps(body, ensure_ascii=not raw_utf8).encode("utf-8", "surrogatepass")
    return post_raw(app, path, content, "application/json", body)


def post_raw(app: Fuzzed, path: str, content: Any, content_type: str | None, sent: Any = None) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    response = app.client.post(path, content=content, headers=headers)
    refused, app.refused = app.refused, []
    assert not refused, f"forwarded a request the upstream refuses: {refused} (answered {response.text[:500]})"
    check(path, response, sent if isinstance(sent, dict) else {})
    return response


def _google_error(body: Any, status: int) -> None:
    error = body["error"]
    assert error["code"] == status, body
    assert isinstance(error["message"], str) and 0 < len(error["message"]) <= MAX_MESSAGE, body
    assert isinstance(error["status"], str) and error["status"].isupper(), body
    assert isinstance(error["details"], list), body


def _gemini_response(body: Any) -> None:
    assert isinstance(body["candidates"], list) and body["candidates"], body
    assert all(c["content"]["role"] == "model" and c["finishReason"] for c in body["candidates"]), body
    assert isinstance(body["usageMetadata"]["totalTokenCount"], int), body


def _ok(path: str, response: httpx.Response, sent: dict[str, Any]) -> None:
    if path == STREAM:
        frames = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
        assert frames and "finishReason" in frames[-1]["candidates"][0], response.text
    elif path == ARRAY:
        chunks = json.loads(response.text)
        assert chunks and "finishReason" in chunks[-1]["candidates"][0], response.text
    elif path == COUNT:
        assert isinstance(response.json()["totalTokens"], int) and response.json()["totalTokens"] > 0
    elif path == GENERATE:
        _gemini_response(response.json())
    elif response.headers["content-type"].startswith("text/event-stream"):
        frames = sse_payloads(response.text)
        assert frames[-1] == "[DONE]" and all(f["object"] == "text_completion" for f in frames[:-1]), response.text
    else:
        body = response.json()
        assert body["object"] == "text_completion", body
        assert all(c["finish_reason"] for c in body["choices"]), body


def check(path: str, response: httpx.Response, sent: dict[str, Any]) -> None:
    """Below 500, and well-formed in the protocol `path` speaks."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    if response.status_code < 300:
        _ok(path, response, sent)
        return
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and "detail" not in body, body
    if path == COMPLETIONS:
        _openai_error(body)
    else:
        _google_error(body, response.status_code)


# --- Gemini bodies -----------------------------------------------------------------------------

gemini_schemas = pool(
    [None, {"type": "OBJECT", "properties": {"q": {"type": "STRING", "nullable": True}}}, {"type": "object"}],
    [{"type": "WORD"}, {"type": 5}, "x", {"type": "ARRAY", "items": 5}, {"properties": {"a": {"type": "NOPE"}}}],
)
inline_data = st.fixed_dictionaries(
    {
        "mimeType": pool(["image/png", "image/jpeg"], ["application/pdf", "", None, 5]),
        "data": pool(["iVBORw0KGgo=", "iVBORw0KGgo_-A="], ["%%%", "", None, 5, "A" * 100_001]),
    }
)
file_data = st.fixed_dictionaries(
    {"fileUri": image_urls},
    optional={"mimeType": pool(["image/png"], ["video/mp4", None])},
)
gemini_parts = mostly(
    [
        st.fixed_dictionaries({"text": texts}, optional={"thought": maybe(st.booleans()), "thoughtSignature": texts}),
        st.fixed_dictionaries({"inlineData": inline_data}),
        st.fixed_dictionaries({"file_data": file_data}),
        st.fixed_dictionaries(
            {"functionCall": st.fixed_dictionaries({"name": tool_names}, optional={"args": arguments, "id": call_ids})}
        ),
        st.fixed_dictionaries(
            {
                "functionResponse": st.fixed_dictionaries(
                    {"name": tool_names}, optional={"response": json_values, "id": call_ids}
                )
            }
        ),
    ],
    [
        st.just({"executableCode": {"code": "1"}}),
        st.fixed_dictionaries({"functionResponse": weird}),
        st.fixed_dictionaries({"inlineData": weird}),
        unknown_part,
        weird,
    ],
)
gemini_contents = st.fixed_dictionaries(
    {"parts": st.lists(gemini_parts, min_size=1, max_size=3)},
    optional={"role": pool(["user", "user", "model"], ["system", "", 5, None, "function"])},
)
declarations = st.fixed_dictionaries(
    {"name": tool_names},
    optional={"description": texts, "parameters": gemini_schemas, "parametersJsonSchema": schemas},
)
gemini_tools = st.lists(
    mostly(
        [
            st.fixed_dictionaries({"functionDeclarations": st.lists(declarations, max_size=2)}),
            st.fixed_dictionaries({"function_declarations": st.lists(declarations, max_size=1)}),
            st.just({"googleSearch": {}}),
        ],
        [st.fixed_dictionaries({"functionDeclarations": weird}), weird],
    ),
    max_size=2,
)
thinking = st.fixed_dictionaries(
    {},
    optional={
        "thinkingBudget": pool([0, -1, 1024, 40_000], [-5, "x", 1.5, True]),
        "include_thoughts": maybe(st.booleans()),
        "thinkingLevel": pool(["LOW", "HIGH", "THINKING_LEVEL_UNSPECIFIED"], ["x", 5]),
    },
)
generation_configs = st.fixed_dictionaries(
    {},
    optional={
        "maxOutputTokens": max_tokens,
        "max_output_tokens": max_tokens,
        "temperature": temperatures,
        "topP": temperatures,
        "topK": pool([None, 1, 40], [0, -1, "5", 1.5]),
        "candidateCount": pool([1, 2], [0, 9, "2", True]),
        "stopSequences": maybe(st.lists(st.text(max_size=5), max_size=20)),
        "thinkingConfig": maybe(thinking),
        "responseMimeType": pool(["application/json", "text/plain", "text/x.enum"], [5, ""]),
        "responseSchema": gemini_schemas,
        "responseJsonSchema": schemas,
    },
)
gemini_bodies = st.fixed_dictionaries(
    {"contents": st.lists(gemini_contents, min_size=1, max_size=4)},
    optional={
        "systemInstruction": st.one_of(
            texts, st.fixed_dictionaries({"parts": st.lists(st.fixed_dictionaries({"text": texts}), max_size=2)})
        ),
        "tools": maybe(gemini_tools),
        "toolConfig": maybe(
            st.fixed_dictionaries(
                {
                    "functionCallingConfig": st.fixed_dictionaries(
                        {},
                        optional={
                            "mode": pool(["AUTO", "ANY", "NONE", "VALIDATED"], ["sometimes", 5]),
                            "allowedFunctionNames": maybe(st.lists(tool_names, max_size=2)),
                        },
                    )
                }
            )
        ),
        "generationConfig": maybe(generation_configs),
        "safetySettings": maybe(st.lists(st.fixed_dictionaries({"category": texts}), max_size=1)),
        "cachedContent": pool([None], ["cachedContents/1", 5]),
    },
)

# --- completions bodies ------------------------------------------------------------------------

fim_prompts = st.sampled_from(
    [
        "<|fim_prefix|>int x = <|fim_suffix|>;<|fim_middle|>",
        "<｜fim▁begin｜>def f():<｜fim▁hole｜>\n<｜fim▁end｜>",
        "[SUFFIX]}[PREFIX]fn main() {",
    ]
)
completion_bodies = st.fixed_dictionaries(
    {
        "model": models,
        "prompt": mostly(
            [texts, fim_prompts, st.lists(texts, min_size=1, max_size=3)],
            [st.lists(st.integers(0, 50_000), max_size=3), st.just([]), weird],
        ),
    },
    optional={
        "suffix": maybe(texts),
        "max_tokens": max_tokens,
        "n": pool([None, 1, 2], [0, 9, -1, "2"]),
        "stop": maybe(st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=70))),
        "stream": maybe(st.booleans()),
        "stream_options": maybe(st.fixed_dictionaries({"include_usage": maybe(st.booleans())})),
        "temperature": temperatures,
        "top_p": temperatures,
        "echo": pool([False, None], [True, "yes"]),
        "best_of": pool([None, 1], [3, 0, "2"]),
        "logprobs": maybe(st.integers(0, 5)),
    },
)

BODIES = {**dict.fromkeys(GEMINI_ROUTES, gemini_bodies), COMPLETIONS: completion_bodies}
ASK = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
BASE = {
    **{route: ASK for route in GEMINI_ROUTES},
    COMPLETIONS: {"model": MODELS[0], "prompt": "hi"},
}
GEMINI_FIELDS = [
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "tool_config",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "contents.0.role",
    "contents.0.parts",
]
FIELDS = {
    **{route: GEMINI_FIELDS for route in GEMINI_ROUTES},
    COMPLETIONS: ["model", "prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stop", "stream",
                  "stream_options", "echo", "best_of", "logprobs", "reasoning_effort"],
}  # fmt: skip


@pytest.mark.parametrize("path", [*GEMINI_ROUTES, COMPLETIONS])
def test_fuzz_dialect_bodies_mutated_never_5xx(path: str) -> None:
    answered: list[int] = []
    with gateway() as app:

        @fuzz_settings(60 if path in (GENERATE, COMPLETIONS) else 25)
        @given(body=mutated(BODIES[path]), raw_utf8=st.booleans())
        def run(body: Any, raw_utf8: bool) -> None:
            answered.append(post(app, path, body, raw_utf8=raw_utf8).status_code)

        run()
    assert 200 in answered, "the bodies are too broken to reach the upstream; the fuzzer would miss its bugs"


@pytest.mark.parametrize("path", [GENERATE, COMPLETIONS])
def test_fuzz_dialect_every_field_with_every_wrong_type(path: str) -> None:
    with gateway() as app:
        assert post(app, path, BASE[path]).status_code == 200
        for name in FIELDS[path]:
            for value in WRONG_VALUES:
                post(app, path, _with(BASE[path], name, value))


def test_fuzz_dialect_raw_bytes_answer_4xx_in_protocol() -> None:
    with gateway() as app:

        @fuzz_settings(100)
        @given(path=st.sampled_from([GENERATE, COUNT, COMPLETIONS]), raw=raw_bodies, content_type=content_types)
        def run(path: str, raw: bytes, content_type: str | None) -> None:
            response = post_raw(app, path, raw, content_type)
            assert response.status_code >= 400 or raw.lstrip().startswith(b"{"), response.text

        run()


@pytest.mark.parametrize(
    "model",
    ["no-such-model", "claude-sonnet-4-6", "%00", "a" * 300, "deepseek%2F..%2F..", "models/", ":", "x:y", "\u202e"],
)
def test_fuzz_gemini_odd_model_names_in_the_path_are_google_4xx(model: str) -> None:
    with gateway() as app:
        for method in ("generateContent", "streamGenerateContent", "countTokens", "nope"):
            path = f"/v1beta/models/{model}:{method}"
            response = app.client.post(path, json=BASE[GENERATE])
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                _google_error(response.json(), response.status_code)
