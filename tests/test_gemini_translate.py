"""Gemini `generateContent` → upstream params, and turn events → Gemini chunks → folded response.

Chunks are checked against the google-genai SDK's own response model (which forbids unknown fields),
so a field the SDK cannot read fails here rather than in a user's program.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest
from google.genai import types

from ccgw import sse
from ccgw.errors import InvalidRequestError, RateLimitError
from ccgw.jsonutil import dumps
from ccgw.translate import gemini_request
from ccgw.translate.common import Context
from ccgw.translate.gemini_schema import to_json_schema
from ccgw.translate.gemini_stream import GeminiStream, fold
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, TurnReader, Usage
from ccgw.upstream.ndjson import NDJSONDecoder

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\xfb\xff" * 12  # bytes whose base64 has '+' and '/'
PNG_URL = "https://img.test/cat.png"
FETCHED = {PNG_URL: "data:image/png;base64,iVBORw0KGgo="}
CTX = Context(model="deepseek/deepseek-v4-pro", images=FETCHED)  # efforts high/max, text only
OTHER = Context(model="moonshotai/Kimi-K3")  # efforts low/high/max
VISION = Context(model="moonshotai/Kimi-K3", images=FETCHED)


def translate(body: dict[str, Any], ctx: Context = CTX) -> dict[str, Any]:
    return gemini_request.to_upstream(body, ctx).params


def refused(body: dict[str, Any], ctx: Context = CTX) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        gemini_request.to_upstream(body, ctx)
    return caught.value


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def model(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def system_texts(params: dict[str, Any]) -> list[str]:
    return [block["text"] for block in params["system"]]


# --- requests ---------------------------------------------------------------------------------


def test_request_system_instruction_contents_and_generation_config() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "be kind"}]},
        "contents": [user({"text": "hi"})],
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END", ""],
            "candidateCount": 3,
            "seed": 7,
            "presencePenalty": 0.1,
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    up = gemini_request.to_upstream(body, CTX, stream=True)
    assert up.params == {  # as the CLI sends them: system blocks, tools always, never top_p or top_k
        "model": "deepseek/deepseek-v4-pro",
        "messages": [{"role": "user", "content": [text("hi")]}],
        "tools": [],
        "system": [text("be brief\n"), text("be kind")],
        "max_tokens": 100,
        "temperature": 0.5,
    }
    assert (up.stream, up.n, up.stop) == (True, 3, ("END",))


def test_request_snake_case_spelling_reads_like_camel_case() -> None:
    camel = {
        "systemInstruction": {"role": "system", "parts": [{"text": "sys"}]},
        "contents": [user({"text": "hi"}), model({"functionCall": {"name": "ls", "args": {"path": "."}}})],
        "tools": [{"functionDeclarations": [{"name": "ls", "parametersJsonSchema": {"type": "object"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["ls"]}},
        "generationConfig": {"maxOutputTokens": 9, "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": True}},
    }
    snake = {
        "system_instruction": {"role": "system", "parts": [{"text": "sys"}]},
        "contents": [user({"text": "hi"}), model({"function_call": {"name": "ls", "args": {"path": "."}}})],
        "tools": [{"function_declarations": [{"name": "ls", "parameters_json_schema": {"type": "object"}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["ls"]}},
        "generation_config": {
            "max_output_tokens": 9,
            "thinking_config": {"thinking_budget": 0, "include_thoughts": True},
        },
    }
    assert translate(snake) == translate(camel)
    params = translate(camel)
    assert "reasoning_effort" not in params  # budget 0: no reasoning asked for, and the CLI has no "off" level
    assert "tool_choice" not in params  # the CLI never sends it: ANY with one allowed tool becomes an instruction
    assert system_texts(params) == ["sys\n", "In this reply, call the tool `ls`."]
    assert [t["name"] for t in params["tools"]] == ["ls"]
    assert gemini_request.include_thoughts(snake) and gemini_request.include_thoughts(camel)


def test_request_system_instruction_as_plain_text() -> None:
    assert translate({"systemInstruction": "sys", "contents": [user({"text": "hi"})]})["system"] == [text("sys")]
    assert translate({"contents": [user({"text": "hi"})]})["system"] == []  # no instruction: no blocks


def test_request_calls_without_ids_paired_with_responses_in_order() -> None:
    body = {
        "contents": [
            user({"text": "read both"}),
            model(
                {"text": "I should read them.", "thought": True, "thoughtSignature": "c2ln"},
                {"text": "Reading."},
                {"functionCall": {"name": "read", "args": {"f": "a"}}},
                {"functionCall": {"name": "read", "args": {"f": "b"}}},
                {"functionCall": {"name": "ls", "args": {}}},
            ),
            user(
                {"functionResponse": {"name": "ls", "response": {"output": "a b"}}},
                {"functionResponse": {"name": "read", "response": {"output": "A"}}},
                {"functionResponse": {"name": "read", "response": {"output": "B"}}},
                {"text": "thanks"},
            ),
        ]
    }
    messages = translate(body)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "reasoning", "text": "I should read them."},
            text("Reading."),
            {"type": "tool-call", "toolCallId": "call_1_2", "toolName": "read", "input": {"f": "a"}},
            {"type": "tool-call", "toolCallId": "call_1_3", "toolName": "read", "input": {"f": "b"}},
            {"type": "tool-call", "toolCallId": "call_1_4", "toolName": "ls", "input": {}},
        ],
    }
    results = [(p["toolCallId"], p["output"]["value"]) for p in messages[2]["content"]]
    assert messages[2]["role"] == "tool"
    assert results == [("call_1_4", "a b"), ("call_1_2", "A"), ("call_1_3", "B")]
    assert messages[3] == {"role": "user", "content": [text("thanks")]}


def test_request_call_ids_from_the_client_used_and_long_ones_aliased() -> None:
    long_id = "read_file__" + "x" * 80
    body = {
        "contents": [
            user({"text": "go"}),
            model({"functionCall": {"id": long_id, "name": "read_file", "args": {}}}),
            user({"functionResponse": {"id": long_id, "name": "read_file", "response": {"output": "ok"}}}),
        ]
    }
    up = gemini_request.to_upstream(body, CTX)
    call_id = up.params["messages"][1]["content"][-1]["toolCallId"]
    assert len(call_id) <= 64 and up.tool_ids[call_id] == long_id
    assert up.params["messages"][2]["content"][0]["toolCallId"] == call_id


@pytest.mark.parametrize(
    ("response", "value", "is_error"),
    [
        ({"output": "plain"}, "plain", False),
        ({"result": "from the python sdk"}, "from the python sdk", False),
        ({"error": "boom"}, "boom", True),
        ({"error": {"code": 2}}, '{"code":2}', True),
        ({"files": ["a", "b"], "count": 2}, '{"files":["a","b"],"count":2}', False),
        (None, "{}", False),
    ],
)
def test_request_function_response_text(response: Any, value: str, is_error: bool) -> None:
    body = {
        "contents": [
            user({"text": "go"}),
            model({"functionCall": {"name": "t", "args": {}}}),
            user({"functionResponse": {"name": "t", "response": response}}),
        ]
    }
    part = translate(body)["messages"][2]["content"][0]
    assert part["output"] == {"type": "error-text" if is_error else "text", "value": value}


def test_request_images_inline_url_safe_base64_and_fetched_file_data() -> None:
    url_safe = base64.urlsafe_b64encode(PNG_BYTES).decode()
    assert "-" in url_safe or "_" in url_safe
    body = {
        "contents": [
            user(
                {"inlineData": {"mimeType": "image/png", "data": url_safe}},
                {"fileData": {"mimeType": "image/png", "fileUri": PNG_URL}},
                {"text": "what?"},
            )
        ]
    }
    assert gemini_request.remote_image_urls(body) == [PNG_URL]
    up = gemini_request.to_upstream(body, VISION)
    inline, fetched, _ = up.params["messages"][0]["content"]
    assert inline == {
        "type": "image",
        "image": "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode(),
        "mimeType": "image/png",
    }
    assert fetched["image"] == FETCHED[PNG_URL]
    assert up.omitted_images == 0


def test_request_images_to_a_text_only_model_become_notes() -> None:
    png = base64.b64encode(PNG_BYTES).decode()
    image = {"inlineData": {"mimeType": "image/png", "data": png}}
    body = {"contents": [user(image, {"fileData": {"mimeType": "image/png", "fileUri": PNG_URL}}, {"text": "what?"})]}
    up = gemini_request.to_upstream(body, CTX)
    note = text("[image omitted: deepseek/deepseek-v4-pro takes text only]")
    assert up.params["messages"][0]["content"] == [note, note, text("what?")]
    assert up.omitted_images == 2


def test_request_function_response_images_follow_the_results() -> None:
    png = base64.b64encode(PNG_BYTES).decode()
    shot = {"inlineData": {"mimeType": "image/png", "data": png}}
    body = {
        "contents": [
            user({"text": "screenshot"}),
            model({"functionCall": {"name": "shot", "args": {}}}),
            user({"functionResponse": {"name": "shot", "response": {"output": "done"}, "parts": [shot]}}),
        ]
    }
    messages = translate(body, VISION)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert messages[3]["content"][1]["type"] == "image"


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        ({"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}, "only images"),
        ({"fileData": {"mimeType": "video/mp4", "fileUri": "https://v.test/a.mp4"}}, "only images"),
        ({"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}}, "Files API"),
        ({"fileData": {"fileUri": "gs://bucket/cat.png"}}, "http(s) URL"),
        ({"inlineData": {"mimeType": "image/png", "data": "not base64!"}}, "base64"),
        ({"executableCode": {"language": "PYTHON", "code": "1"}}, "code execution"),
        ({"videoMetadata": {"fps": 1}}, "unsupported part"),
        ({"text": 3}, "must be a string"),
    ],
)
def test_request_unsupported_or_bad_part_is_400_naming_it(part: dict[str, Any], problem: str) -> None:
    error = refused({"contents": [user({"text": "a"}, part)]})
    assert problem in error.message
    assert error.param is not None and error.param.startswith("contents[0].parts[1]")


def test_request_files_api_uri_is_not_fetched() -> None:
    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc"
    assert gemini_request.remote_image_urls({"contents": [user({"fileData": {"fileUri": uri}})]}) == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [user({"thoughtSignature": "x"})]}, "contents"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0]"),
        ({"contents": [{"parts": "x"}]}, "contents[0].parts"),
        ({"contents": [user({"text": "a"})], "cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"contents": [user({"text": "a"})], "generationConfig": {"candidateCount": 9}}, "generationConfig.candidateCount"),
        ({"contents": [user({"text": "a"})], "generationConfig": {"stopSequences": ["x"] * 17}}, "generationConfig.stopSequences"),
        ({"contents": [user({"text": "a"})], "generationConfig": {"maxOutputTokens": "9"}}, "generationConfig.maxOutputTokens"),
        ({"contents": [user({"text": "a"})], "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}}, "generationConfig.thinkingConfig"),
        ({"contents": [user({"text": "a"})], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}, "tools": [{"functionDeclarations": [{"name": "t"}]}]}, "toolConfig.functionCallingConfig.mode"),
        ({"contents": [user({"text": "a"})], "systemInstruction": 3}, "systemInstruction"),
    ],
)  # fmt: skip
def test_request_refusals_name_the_field(body: dict[str, Any], param: str) -> None:
    assert refused(body).param == param


def test_request_gemini_schema_becomes_json_schema() -> None:
    parameters = {
        "type": "OBJECT",
        "properties": {
            "path": {"type": "STRING", "description": "where", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a", "b"]}, "minItems": "1"},
            "nullable": {"type": "BOOLEAN"},  # a property name, not the keyword
            "mode": {"any_of": [{"type": "INTEGER"}, {"type": "NULL"}]},
            "opts": {"type": "OBJECT", "nullable": True, "properties": {}, "max_properties": "3"},
        },
        "required": ["path"],
        "propertyOrdering": ["path", "tags"],
    }
    assert to_json_schema(parameters, "p") == {
        "type": "object",
        "properties": {
            "path": {"type": ["string", "null"], "description": "where"},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1},
            "nullable": {"type": "boolean"},
            "mode": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "opts": {"type": ["object", "null"], "properties": {}, "maxProperties": 3},
        },
        "required": ["path"],
    }
    tools = translate(
        {
            "contents": [user({"text": "a"})],
            "tools": [
                {"functionDeclarations": [{"name": "find", "description": "Find", "parameters": parameters}]},
                {"googleSearch": {}},
                {"codeExecution": {}},
            ],
        }
    )["tools"]
    assert tools == [{"name": "find", "description": "Find", "input_schema": to_json_schema(parameters, "p")}]


def test_request_bad_schema_type_is_400() -> None:
    tools = [
        {
            "functionDeclarations": [
                {"name": "t", "parameters": {"type": "OBJECT", "properties": {"x": {"type": "WORD"}}}}
            ]
        }
    ]
    error = refused({"contents": [user({"text": "a"})], "tools": tools})
    assert "WORD" in error.message and error.param == "tools[0].functionDeclarations[0].parameters.properties.x.type"


ANY_TOOL = "In this reply, call at least one of the available tools."


@pytest.mark.parametrize(
    ("config", "instruction", "names"),
    [
        (None, None, ["a", "b"]),
        ({"mode": "AUTO"}, None, ["a", "b"]),
        ({"mode": "VALIDATED"}, None, ["a", "b"]),
        ({"mode": "ANY"}, ANY_TOOL, ["a", "b"]),
        ({"mode": "ANY", "allowedFunctionNames": ["b"]}, "In this reply, call the tool `b`.", ["b"]),
        ({"mode": "NONE"}, "Do not call any tool in this reply; answer with text only.", ["a", "b"]),
    ],
)
def test_request_function_calling_config_becomes_an_instruction(
    config: Any, instruction: str | None, names: list[str]
) -> None:
    declarations = [{"name": "a"}, {"name": "b", "parameters": {"type": "OBJECT", "properties": {}}}]
    body: dict[str, Any] = {
        "systemInstruction": "sys",
        "contents": [user({"text": "x"})],
        "tools": [{"functionDeclarations": declarations}],
    }
    if config is not None:
        body["toolConfig"] = {"functionCallingConfig": config}
    params = translate(body)
    assert "tool_choice" not in params  # the CLI never sends it
    assert system_texts(params) == (["sys\n", instruction] if instruction else ["sys"])
    assert [t["name"] for t in params["tools"]] == names  # NONE keeps the tools: the history may use them


def test_request_function_calling_mode_without_tools_adds_no_instruction() -> None:
    body = {"contents": [user({"text": "x"})], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    params = translate(body)
    assert params["tools"] == [] and params["system"] == []


@pytest.mark.parametrize(
    ("thinking", "ctx", "effort"),
    [
        ({"thinkingBudget": 0}, CTX, None),  # thinking off: nothing to send, the CLI has no "off" level
        ({"thinkingBudget": 0}, OTHER, None),
        ({"thinkingBudget": 2048}, CTX, "high"),  # low, which DeepSeek V4 lifts to high
        ({"thinkingBudget": 50000}, CTX, "max"),
        ({"thinkingBudget": 8192}, OTHER, "high"),  # medium: Kimi-K3 has low/high/max, a tie goes up
        ({"thinkingBudget": 8192}, Context(model="google/gemini-3.5-flash"), "medium"),
        ({"thinkingBudget": -1}, OTHER, None),
        ({"thinkingLevel": "LOW"}, OTHER, "low"),
        ({"thinkingLevel": "HIGH", "thinkingBudget": 0}, OTHER, "high"),
        ({"thinkingLevel": "HIGH"}, Context(model="moonshotai/Kimi-K2.6"), None),  # a model without levels
        ({"includeThoughts": True}, OTHER, None),
    ],
)
def test_request_thinking_config_becomes_effort(thinking: dict[str, Any], ctx: Context, effort: str | None) -> None:
    params = translate({"contents": [user({"text": "x"})], "generationConfig": {"thinkingConfig": thinking}}, ctx)
    assert params.get("reasoning_effort") == effort


def test_request_json_output_modes_become_instructions() -> None:
    def system(config: dict[str, Any]) -> list[str]:
        body = {"systemInstruction": "sys", "contents": [user({"text": "x"})], "generationConfig": config}
        return system_texts(translate(body))

    schema = {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}}
    plain_json = system({"responseMimeType": "application/json"})
    assert plain_json[0] == "sys\n" and plain_json[1].startswith("Respond only with a single valid JSON")
    with_schema = system({"responseMimeType": "application/json", "responseSchema": schema})
    assert len(with_schema) == 2 and with_schema[1].endswith('{"type":"object","properties":{"n":{"type":"integer"}}}')
    json_schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert system({"responseMimeType": "application/json", "response_json_schema": json_schema}) == with_schema
    enum = system({"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING", "enum": ["yes", "no"]}})
    assert enum[-1].endswith("one of these values and nothing else: yes, no")
    assert system({"responseMimeType": "text/plain"}) == ["sys"]


# --- streams ----------------------------------------------------------------------------------

USAGE = Usage(input_tokens=100, cache_read_tokens=40, output_tokens=30, reasoning_tokens=10, cost_usd=0.001)


def chunks_of(events: list[tuple[int, Any]], **kw: Any) -> list[dict[str, Any]]:
    stream = GeminiStream(response_id="r1", model="deepseek/deepseek-v4-pro", **kw)
    out = stream.start()
    for index, event in events:
        out += stream.feed(index, event)
    return out + stream.finish()


def sdk_checked(chunks: list[dict[str, Any]]) -> list[types.GenerateContentResponse]:
    return [types.GenerateContentResponse.model_validate(c) for c in chunks]


def test_stream_thought_text_and_call_chunks_readable_by_the_sdk() -> None:
    chunks = chunks_of(
        [
            (0, ReasoningDelta("Hmm.")),
            (0, TextDelta("Let me look.")),
            (0, ToolCall("call_alias", "read_file", '{"file_path":"a.go"}')),
            (0, Finish("tool_calls", USAGE)),
        ],
        include_thoughts=True,
        tool_ids={"call_alias": "read_file__original"},
    )
    responses = sdk_checked(chunks)
    assert responses[0].candidates and responses[0].candidates[0].content
    assert responses[0].candidates[0].content.parts == [types.Part(text="Hmm.", thought=True)]
    assert responses[2].function_calls == [
        types.FunctionCall(id="read_file__original", name="read_file", args={"file_path": "a.go"})
    ]
    last = responses[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata == types.GenerateContentResponseUsageMetadata(
        prompt_token_count=100,
        cached_content_token_count=40,
        candidates_token_count=20,
        thoughts_token_count=10,
        total_token_count=130,
    )
    assert all(c["responseId"] == "r1" and c["modelVersion"] == "deepseek/deepseek-v4-pro" for c in chunks)
    assert fold(chunks) == {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Hmm.", "thought": True},
                        {"text": "Let me look."},
                        {
                            "functionCall": {
                                "id": "read_file__original",
                                "name": "read_file",
                                "args": {"file_path": "a.go"},
                            }
                        },
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "modelVersion": "deepseek/deepseek-v4-pro",
        "responseId": "r1",
        "usageMetadata": chunks[-1]["usageMetadata"],
    }


def test_stream_thoughts_left_out_unless_asked_for() -> None:
    chunks = chunks_of([(0, ReasoningDelta("Hmm.")), (0, TextDelta("Hi")), (0, Finish("stop", USAGE))])
    assert fold(chunks)["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    assert fold(chunks)["usageMetadata"]["thoughtsTokenCount"] == 10  # still counted


@pytest.mark.parametrize(
    ("reason", "gemini"), [("stop", "STOP"), ("length", "MAX_TOKENS"), ("content_filter", "SAFETY")]
)
def test_stream_finish_reasons_mapped(reason: Any, gemini: str) -> None:
    chunks = chunks_of([(0, TextDelta("x")), (0, Finish(reason, Usage()))])
    assert fold(chunks)["candidates"][0]["finishReason"] == gemini


def test_stream_candidates_finish_each_and_usage_rides_on_the_last() -> None:
    events = [
        (1, TextDelta("second")),
        (0, TextDelta("first")),
        (1, Finish("stop", Usage(input_tokens=10, output_tokens=2))),
        (0, TextDelta(" answer")),
        (0, Finish("length", Usage(input_tokens=10, output_tokens=5))),
    ]
    chunks = chunks_of(events, n=2)
    sdk_checked(chunks)
    finishing = [c for c in chunks if "finishReason" in c["candidates"][0]]
    assert len(finishing) == 2
    assert "usageMetadata" not in finishing[0]
    assert finishing[1]["usageMetadata"] == {"promptTokenCount": 20, "candidatesTokenCount": 7, "totalTokenCount": 27}
    folded = fold(chunks)
    assert [(c["index"], c["content"]["parts"], c["finishReason"]) for c in folded["candidates"]] == [
        (0, [{"text": "first answer"}], "MAX_TOKENS"),
        (1, [{"text": "second"}], "STOP"),
    ]


def test_stream_failure_is_one_google_error_then_nothing() -> None:
    error = RateLimitError("slow down", retry_after=3)
    chunks = chunks_of([(0, TextDelta("par")), (0, Failure(error)), (0, TextDelta("more")), (0, Finish("stop", USAGE))])
    assert chunks[1:] == [
        {
            "error": {
                "code": 429,
                "message": "slow down",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "ccgw",
                    },
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
                ],
            }
        }
    ]


# An upstream transcript with reasoning, text and a tool call, decoded and translated at every split.
TRANSCRIPT = b"".join(
    dumps(event) + b"\n"
    for event in [
        {"type": "start"},
        {"type": "reasoning-start", "id": "r"},
        {"type": "reasoning-delta", "id": "r", "text": "Think "},
        {"type": "reasoning-delta", "id": "r", "text": "é."},
        {"type": "text-delta", "id": "t", "text": "Über "},
        {"type": "text-delta", "id": "t", "text": "all."},
        {"type": "tool-input-start", "id": "c1", "toolName": "ls"},
        {"type": "tool-input-delta", "id": "c1", "delta": '{"wrong":'},
        {"type": "tool-call", "toolCallId": "c1", "toolName": "ls", "input": {"path": "."}},
        {"type": "finish", "finishReason": "tool-calls", "totalUsage": {"inputTokens": 9, "outputTokens": 4}},
    ]
)


def run_pipeline(data: bytes, cuts: list[int]) -> dict[str, Any]:
    decoder, reader = NDJSONDecoder(), TurnReader()
    stream = GeminiStream(response_id="r", model="m", include_thoughts=True)
    chunks = stream.start()
    for start, end in itertools.pairwise([0, *cuts, len(data)]):
        for raw in decoder.feed(data[start:end]):
            for event in reader.feed(raw):
                chunks += stream.feed(0, event)
    for event in [e for raw in decoder.finish() for e in reader.feed(raw)] + reader.end():
        chunks += stream.feed(0, event)
    sdk_checked(chunks)
    return fold(chunks + stream.finish())


def test_pipeline_every_split_folds_to_the_same_response() -> None:
    expected = run_pipeline(TRANSCRIPT, [])
    assert expected["candidates"][0]["content"]["parts"] == [
        {"text": "Think é.", "thought": True},
        {"text": "Über all."},
        {"functionCall": {"id": "c1", "name": "ls", "args": {"path": "."}}},
    ]
    assert expected["candidates"][0]["finishReason"] == "STOP"
    for cut in range(1, len(TRANSCRIPT)):
        assert run_pipeline(TRANSCRIPT, [cut]) == expected, f"split at {cut}"


# --- framing ----------------------------------------------------------------------------------


def test_json_array_frames_make_one_array_with_keepalives_between() -> None:
    encode = sse.JSONArrayFrames()
    body = encode([]) + encode([{"a": 1}, {"b": 2}]) + sse.GOOGLE_KEEPALIVE + encode([{"c": 3}]) + b"]"
    assert json.loads(body) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_json_array_frames_close_after_an_error_element() -> None:
    encode = sse.JSONArrayFrames()
    body = encode([]) + encode([{"a": 1}]) + encode([{"error": {"code": 502}}])
    assert json.loads(body) == [{"a": 1}, {"error": {"code": 502}}]


def test_google_sse_frames_send_errors_as_bare_json() -> None:
    framed = sse.google_frames([{"a": 1}, {"error": {"code": 429}}])
    assert framed == b'data: {"a":1}\n\n{"error":{"code":429}}\n\n'
