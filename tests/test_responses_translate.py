"""OpenAI Responses request → upstream params, and turn events → Responses events → folded response."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import pytest
from openai import OpenAI
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from ccgw import sse
from ccgw.errors import GatewayError, InvalidRequestError, RateLimitError, UpstreamError
from ccgw.jsonutil import dumps
from ccgw.translate import responses_request
from ccgw.translate.common import MISSING_RESULT, Context
from ccgw.translate.responses_stream import ResponsesStream, fold
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
CTX = Context(model="deepseek/deepseek-v4-pro")
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def translate(body: dict[str, Any], ctx: Context = CTX) -> dict[str, Any]:
    return responses_request.to_upstream({"model": "m", **body}, ctx).params


def refused(body: dict[str, Any]) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        translate(body)
    return caught.value


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def output(call_id: str, value: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": value}


# --- requests ---------------------------------------------------------------------------------


def test_request_string_input_and_instructions_become_user_and_system() -> None:
    up = responses_request.to_upstream(
        {"model": "m", "input": "hi", "instructions": "be brief", "stream": True, "temperature": 0.2, "top_p": 0.9},
        CTX,
    )
    assert up.params == {  # top_p is left out: the CLI never sends it
        "model": "deepseek/deepseek-v4-pro",
        "messages": [user("hi")],
        "tools": [],
        "system": [{"type": "text", "text": "be brief"}],
        "max_tokens": 64000,
        "temperature": 0.2,
    }
    assert (up.stream, up.n, up.tool_ids) == (True, 1, {})


def test_request_system_and_developer_items_join_after_instructions() -> None:
    params = translate(
        {
            "instructions": "first",
            "input": [
                {"type": "message", "role": "system", "content": "second"},
                {"role": "developer", "content": [{"type": "input_text", "text": "third"}]},
                {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
            ],
        }
    )
    assert [b["text"] for b in params["system"]] == ["first\n", "second\n", "third"]
    assert params["messages"] == [user("q")]


def test_request_text_format_json_schema_appends_chat_instruction() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
    blocks = translate({"input": "x", "instructions": "sys", "text": {"format": fmt}})["system"]
    assert blocks[0]["text"] == "sys\n"
    system = blocks[1]["text"]
    assert system.startswith("Respond only with JSON")
    assert '"a":{"type":"integer"}' in system.replace(" ", "")
    assert (
        "single valid JSON object"
        in translate({"input": "x", "text": {"format": {"type": "json_object"}}})["system"][0]["text"]
    )
    assert translate({"input": "x", "text": {"format": {"type": "text"}}})["system"] == []


def test_request_max_output_tokens_clamped_and_default() -> None:
    assert translate({"input": "x", "max_output_tokens": 10**7})["max_tokens"] == 200000
    assert translate({"input": "x", "max_output_tokens": 5})["max_tokens"] == 5
    assert translate({"input": "x"}, Context(model="m", max_tokens_default=123))["max_tokens"] == 123


def test_request_tool_history_is_one_assistant_turn_in_upstream_order() -> None:
    params = translate(
        {
            "input": [
                {"role": "user", "content": "read both"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
                call("c1", "read", '{"p":"a"}'),
                {**call("c2", "grep", '{"q":1}'), "id": "fc_2", "status": "completed"},
                output("c1", "A"),
                output("c2", [{"type": "input_text", "text": "B"}]),
                {"role": "assistant", "content": "done"},
            ],
            "tools": [{"type": "function", "name": "read", "parameters": {"properties": {}}, "strict": True}],
            "tool_choice": "required",
        }
    )
    assistant, tool, final = params["messages"][1:]
    assert assistant["content"] == [
        {"type": "reasoning", "text": "plan"},
        {"type": "text", "text": "ok"},
        {"type": "tool-call", "toolCallId": "c1", "toolName": "read", "input": {"p": "a"}},
        {"type": "tool-call", "toolCallId": "c2", "toolName": "grep", "input": {"q": 1}},
    ]
    assert [(p["toolCallId"], p["toolName"], p["output"]["value"]) for p in tool["content"]] == [
        ("c1", "read", "A"),
        ("c2", "grep", "B"),
    ]
    assert final == {"role": "assistant", "content": [{"type": "text", "text": "done"}]}
    assert params["tools"] == [
        {"name": "read", "description": "", "input_schema": {"properties": {}, "type": "object"}}
    ]
    assert "tool_choice" not in params
    assert params["system"][-1]["text"] == "In this reply, call at least one of the available tools."


def test_request_reasoning_prefers_content_and_lone_reasoning_is_dropped() -> None:
    both = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "short"}],
        "content": [{"type": "reasoning_text", "text": "long"}],
        "encrypted_content": "opaque",
    }
    two = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
    }
    params = translate({"input": [user("hi"), both, call("c", "t")]})
    assert params["messages"][1]["content"][0] == {"type": "reasoning", "text": "long"}
    assert translate({"input": [user("hi"), two, call("c", "t")]})["messages"][1]["content"][0]["text"] == "a\n\nb"
    opaque = {"type": "reasoning", "summary": [], "encrypted_content": "opaque"}
    kimi = Context(model="moonshotai/Kimi-K3")  # DeepSeek would get a placeholder reasoning part
    assert translate({"input": [user("hi"), opaque, call("c", "t")]}, kimi)["messages"][1]["content"][0]["type"] == (
        "tool-call"
    )
    assert translate({"input": [user("hi"), both, user("again")]})["messages"] == [user("hi"), user("again")]


def test_request_reasoning_after_calls_starts_a_new_turn() -> None:
    reasoning = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "next"}]}
    messages = translate({"input": [user("go"), call("c1", "a"), reasoning, call("c2", "b")]})["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert messages[3]["content"][0] == {"type": "reasoning", "text": "next"}
    assert messages[2]["content"][0]["output"]["value"] == MISSING_RESULT


def test_request_tool_output_images_follow_the_whole_run_of_results() -> None:
    shot = {"type": "input_image", "image_url": PNG, "detail": "auto"}
    messages = translate(
        {
            "input": [
                user("look"),
                call("c1", "screenshot"),
                call("c2", "ls"),
                output("c1", [{"type": "input_text", "text": "here"}, shot]),
                output("c2", "a b"),
            ]
        },
        Context(model="moonshotai/Kimi-K3"),  # takes images
    )["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert [p["toolName"] for p in messages[2]["content"]] == ["screenshot", "ls"]
    assert messages[2]["content"][0]["output"]["value"] == "here"
    assert messages[3]["content"][0] == {"type": "text", "text": "(images returned by the tool calls above)"}
    assert messages[3]["content"][1]["type"] == "image"


def test_request_output_for_unknown_call_is_named_unknown_tool() -> None:
    messages = translate({"input": [user("x"), output("ghost", "r")]})["messages"]
    assert messages[1]["content"][0]["toolName"] == "unknown_tool"


def test_request_long_call_ids_are_aliased_and_mapped_back() -> None:
    long_id = "call_" + "x" * 80
    up = responses_request.to_upstream(
        {"model": "m", "input": [user("x"), call(long_id, "t"), output(long_id, "r")]}, CTX
    )
    alias = up.params["messages"][1]["content"][-1]["toolCallId"]
    assert len(alias) <= 64
    assert up.params["messages"][2]["content"][0]["toolCallId"] == alias
    assert up.tool_ids == {alias: long_id}


def test_request_user_images_data_and_fetched_remote() -> None:
    ctx = Context(model="m", images={"https://x.test/a.png": PNG})
    content = [
        {"type": "input_text", "text": "compare"},
        {"type": "input_image", "image_url": PNG},
        {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "high"},
    ]
    parts = translate({"input": [{"role": "user", "content": content}]}, ctx)["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image", "image"]
    assert parts[2]["mimeType"] == "image/png"


def test_remote_image_urls_from_messages_and_tool_outputs() -> None:
    body = {
        "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": "https://a.test/1.png"}]},
            {"role": "user", "content": [{"type": "input_image", "image_url": PNG}]},
            output("c", [{"type": "input_image", "image_url": "http://b.test/2.jpg"}]),
            {"role": "user", "content": "plain"},
        ]
    }
    assert responses_request.remote_image_urls(body) == ["https://a.test/1.png", "http://b.test/2.jpg"]
    assert responses_request.remote_image_urls({"input": "just text"}) == []


@pytest.mark.parametrize(
    ("item", "param", "problem"),
    [
        ({"type": "item_reference", "id": "msg_1"}, "input[1]", "ccgw stores nothing"),
        ({"type": "web_search_call", "id": "ws_1"}, "input[1]", "'web_search_call' are not supported"),
        ({"role": "tool", "content": "x"}, "input[1]", "must be user, assistant"),
        ("text", "input[1]", "must be an object"),
        ({"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}, "input[1].content[0]", "input_file"),
        ({"role": "user", "content": [{"type": "input_audio"}]}, "input[1].content[0]", "input_audio"),
        (
            {"role": "user", "content": [{"type": "input_image", "file_id": "f"}]},
            "input[1].content[0].file_id",
            "file_id",
        ),
        (
            {"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x"}]},
            "input[1].content[0].image_url",
            "not a base64",
        ),
        ({"role": "user", "content": [{"type": "video"}]}, "input[1].content[0]", "unknown content part"),
        (output("c", [{"type": "input_file", "file_data": "x"}]), "input[1].output[0]", "input_file"),
        ({"type": "function_call", "call_id": "c", "arguments": "{}"}, "input[1].name", "non-empty"),
    ],
)
def test_request_bad_item_is_400_naming_its_index(item: Any, param: str, problem: str) -> None:
    error = refused({"input": [user("x"), item]})
    assert error.param == param
    assert problem in error.message
    assert error.message.startswith(param.split(".")[0])


@pytest.mark.parametrize("kind", ["some_future_tool", "apply_patch"])
def test_request_unknown_tool_types_refused(kind: str) -> None:
    error = refused({"input": "x", "tools": [{"type": kind, "name": "t"}]})
    assert error.param == "tools[0]"
    assert "are not supported (function, custom, namespace, local_shell and tool_search are)" in error.message


@pytest.mark.parametrize("kind", ["web_search", "file_search", "computer_use_preview", "mcp"])
def test_request_hosted_tools_left_out(kind: str) -> None:
    params = translate({"input": "x", "tools": [{"type": kind}, {"type": "function", "name": "f"}]})
    assert [t["name"] for t in params["tools"]] == ["f"]


def test_request_stateful_fields_refused_with_the_stateless_explanation() -> None:
    error = refused({"input": "x", "previous_response_id": "resp_1"})
    assert error.message == (
        "previous_response_id is not supported: ccgw stores nothing; "
        "send the whole conversation in `input` (and set store=false)"
    )
    assert error.param == "previous_response_id"
    assert refused({"input": "x", "conversation": "conv_1"}).param == "conversation"
    assert refused({"input": "x", "background": True}).param == "background"
    assert translate({"input": "x", "previous_response_id": None, "background": False})["messages"] == [user("x")]


def test_request_needs_input_with_a_message() -> None:
    assert refused({}).param == "input"
    assert refused({"input": ""}).param == "input"
    assert refused({"input": [{"role": "system", "content": "only system"}]}).param == "input"
    assert refused({"input": "x", "instructions": ["not", "a", "string"]}).param == "instructions"


def test_request_tool_choice_and_effort_mapping() -> None:
    tools = [{"type": "function", "name": "t", "parameters": {"type": "object", "properties": {}}}]
    choice = translate({"input": "x", "tools": tools, "tool_choice": {"type": "function", "name": "t"}})
    assert "tool_choice" not in choice
    assert choice["system"] == [{"type": "text", "text": "In this reply, call the tool `t`."}]
    none = translate({"input": "x", "tools": tools, "tool_choice": "none"})
    assert none["system"][0]["text"].startswith("Do not call any tool") and none["tools"]
    assert translate({"input": "x", "tools": tools})["system"] == []
    assert translate({"input": "x", "reasoning": {"effort": "low"}})["reasoning_effort"] == "high"
    kimi = Context(model="moonshotai/Kimi-K3")  # low, high, max: medium is as near to both, the higher wins
    assert (
        translate({"input": "x", "reasoning": {"effort": "medium", "summary": "auto"}}, kimi)["reasoning_effort"]
        == "high"
    )
    assert "reasoning_effort" not in translate({"input": "x", "reasoning": {"summary": "auto"}})


def test_request_ignored_fields_are_tolerated() -> None:
    up = responses_request.to_upstream(
        {
            "model": "m",
            "input": "x",
            "store": False,
            "metadata": {"k": "v"},
            "user": "u",
            "parallel_tool_calls": False,
            "truncation": "auto",
            "include": ["reasoning.encrypted_content"],
            "service_tier": "auto",
            "prompt_cache_key": "k",
            "brand_new_field": 1,
        },
        CTX,
    )
    assert list(up.params) == ["model", "messages", "tools", "system", "max_tokens"]


def test_request_echo_keeps_client_fields_and_never_claims_storage() -> None:
    body = {"input": "x", "instructions": "i", "max_output_tokens": 9, "store": True, "tools": [], "top_p": None}
    assert responses_request.request_echo(body) == {
        "instructions": "i",
        "max_output_tokens": 9,
        "tools": [],
        "store": False,
    }


# --- streams ----------------------------------------------------------------------------------

ECHO = {"instructions": "be brief", "max_output_tokens": 100, "tools": [], "store": False}
USAGE = Usage(input_tokens=10, cache_read_tokens=4, cache_write_tokens=1, output_tokens=3, reasoning_tokens=1)


def run(events: list[Any], **kw: Any) -> list[dict[str, Any]]:
    translator = ResponsesStream(response_id="resp_1", model="m", created_at=7, request_echo=ECHO, **kw)
    out = translator.start()
    for event in events:
        out += translator.feed(0, event)
    return out + translator.finish()


def types(payloads: list[dict[str, Any]]) -> list[str]:
    return [p["type"].removeprefix("response.") for p in payloads]


def check_sdk_shapes(payloads: list[dict[str, Any]]) -> None:
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    for payload in payloads:
        EVENTS.validate_python(payload)
        if "response" in payload:
            Response.model_validate(payload["response"])


def test_stream_text_sequence_and_fold() -> None:
    payloads = run([TextDelta("Hel"), TextDelta("lo"), Finish("stop", USAGE)])
    assert types(payloads) == [
        "created",
        "in_progress",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    check_sdk_shapes(payloads)
    assert payloads[0]["response"]["status"] == "in_progress" and payloads[0]["response"]["output"] == []
    assert payloads[2]["item"] == {
        "id": "msg_1_0",
        "type": "message",
        "role": "assistant",
        "status": "in_progress",
        "content": [],
    }
    assert payloads[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": "msg_1_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    response = Response.model_validate(fold(payloads))
    assert response.output_text == "Hello"
    assert response.status == "completed"
    assert (response.id, response.model, response.created_at, response.instructions) == ("resp_1", "m", 7, "be brief")
    assert response.usage is not None
    assert response.usage.model_dump() == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 1, "cache_write_tokens_details": None},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 13,
    }
    assert fold(payloads)["output"][0]["status"] == "completed"


def test_stream_reasoning_then_text_closes_reasoning_first() -> None:
    payloads = run([ReasoningDelta("thi"), ReasoningDelta("nk"), TextDelta("answer"), Finish("stop", USAGE)])
    assert types(payloads) == [
        "created",
        "in_progress",
        "output_item.added",
        "reasoning_summary_part.added",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.delta",
        "reasoning_summary_text.done",
        "reasoning_summary_part.done",
        "output_item.done",
        "output_item.added",
        "content_part.added",
        "output_text.delta",
        "output_text.done",
        "content_part.done",
        "output_item.done",
        "completed",
    ]
    check_sdk_shapes(payloads)
    response = fold(payloads)
    assert response["output"][0] == {
        "id": "rs_1_0",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "think"}],
    }
    assert [item["id"] for item in response["output"]] == ["rs_1_0", "msg_1_1"]
    assert Response.model_validate(response).output_text == "answer"


def test_stream_kind_changes_open_new_items() -> None:
    payloads = run([TextDelta("a"), ReasoningDelta("r"), TextDelta("b"), Finish("stop", USAGE)])
    check_sdk_shapes(payloads)
    output = fold(payloads)["output"]
    assert [item["type"] for item in output] == ["message", "reasoning", "message"]
    assert Response.model_validate(fold(payloads)).output_text == "ab"


def test_stream_parallel_tool_calls_after_text() -> None:
    payloads = run(
        [
            TextDelta("let me look"),
            ToolCall("c1", "read", '{"p":1}'),
            ToolCall("alias", "grep", "{}"),
            Finish("tool_calls", USAGE),
        ],
        tool_ids={"alias": "original-id"},
    )
    assert types(payloads)[8:] == [
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "output_item.added",
        "function_call_arguments.delta",
        "function_call_arguments.done",
        "output_item.done",
        "completed",
    ]
    check_sdk_shapes(payloads)
    assert payloads[8]["item"] == {
        "id": "fc_1_1",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "c1",
        "name": "read",
        "arguments": "",
    }
    assert payloads[10] == {
        "type": "response.function_call_arguments.done",
        "sequence_number": 10,
        "item_id": "fc_1_1",
        "output_index": 1,
        "arguments": '{"p":1}',
    }
    calls = fold(payloads)["output"][1:]
    assert [(c["call_id"], c["name"], c["arguments"], c["status"]) for c in calls] == [
        ("c1", "read", '{"p":1}', "completed"),
        ("original-id", "grep", "{}", "completed"),
    ]
    assert [c["output_index"] for c in payloads if c["type"] == "response.output_item.done"] == [0, 1, 2]


@pytest.mark.parametrize(("reason", "detail"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_stream_cut_answer_is_incomplete(reason: Any, detail: str) -> None:
    payloads = run([TextDelta("cut"), Finish(reason, USAGE)])
    check_sdk_shapes(payloads)
    assert payloads[-1]["type"] == "response.incomplete"
    assert not any(p["type"] == "response.completed" for p in payloads)
    response = fold(payloads)
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": detail}
    assert response["output"][0]["status"] == "incomplete"
    assert Response.model_validate(response).output_text == "cut"


@pytest.mark.parametrize(
    ("error", "code"),
    [(UpstreamError("boom"), "server_error"), (RateLimitError("slow down"), "rate_limit_exceeded")],
)
def test_stream_failure_is_failed_then_nothing(error: GatewayError, code: str) -> None:
    translator = ResponsesStream(response_id="resp_1", model="m", created_at=7, request_echo=ECHO)
    payloads = translator.start() + translator.feed(0, TextDelta("part"))
    payloads += translator.feed(0, Failure(error, USAGE))
    assert translator.failed is error
    assert translator.feed(0, TextDelta("late")) == []
    assert translator.finish() == []
    check_sdk_shapes(payloads)
    assert types(payloads)[-4:] == ["output_text.done", "content_part.done", "output_item.done", "failed"]
    response = payloads[-1]["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": code, "message": error.message}
    assert response["output"][0]["status"] == "incomplete"
    assert not any(p["type"] == "response.completed" for p in payloads)
    with pytest.raises(UpstreamError):
        fold(payloads)


def test_stream_end_without_finish_is_failed_never_completed() -> None:
    payloads = run([TextDelta("half")])
    check_sdk_shapes(payloads)
    assert payloads[-1]["type"] == "response.failed"


def test_stream_echo_fills_the_response_object() -> None:
    echo = responses_request.request_echo(
        {
            "input": "x",
            "tools": [{"type": "function", "name": "t", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "t"},
            "reasoning": {"effort": "high", "summary": "auto"},
            "text": {"format": {"type": "json_object"}},
            "metadata": {"k": "v"},
            "parallel_tool_calls": False,
            "temperature": 0.5,
        }
    )
    translator = ResponsesStream(response_id="resp_9", model="m", created_at=1, request_echo=echo)
    payloads = translator.start() + translator.feed(0, TextDelta("{}")) + translator.feed(0, Finish("stop", Usage()))
    check_sdk_shapes(payloads)
    response = Response.model_validate(fold(payloads))
    assert response.tools[0].type == "function"
    assert response.reasoning is not None and response.reasoning.effort == "high"
    assert (response.parallel_tool_calls, response.temperature, response.metadata) == (False, 0.5, {"k": "v"})
    assert (response.previous_response_id, response.truncation, response.user) == (None, "disabled", None)


# --- the OpenAI SDK over the wire -------------------------------------------------------------


def sdk_client(payloads: list[dict[str, Any]]) -> OpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content.replace(b" ", b""):
            headers = {"content-type": "text/event-stream"}
            return httpx2.Response(200, content=sse.named_frames(payloads), headers=headers)
        return httpx2.Response(200, content=dumps(fold(payloads)), headers={"content-type": "application/json"})

    transport = httpx2.MockTransport(answer)
    return OpenAI(api_key="k", base_url="http://ccgw.test/v1", http_client=httpx2.Client(transport=transport))


SDK_EVENTS = [
    ReasoningDelta("hmm"),
    TextDelta("Hi "),
    TextDelta("there"),
    ToolCall("c1", "read", '{"p":1}'),
    Finish("tool_calls", USAGE),
]


def test_sdk_responses_stream_accumulates_the_final_response() -> None:
    client = sdk_client(run(SDK_EVENTS))
    with client.responses.stream(model="m", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hi ", "there"]
    assert final.output_text == "Hi there"
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.output[2].type == "function_call" and final.output[2].arguments == '{"p":1}'
    assert final.usage is not None and final.usage.total_tokens == 13


def test_sdk_create_stream_and_non_stream_agree() -> None:
    payloads = run(SDK_EVENTS)
    client = sdk_client(payloads)
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(payloads)))
    assert events[-1].type == "response.completed"
    response = client.responses.create(model="m", input="hi")
    assert response.output_text == "Hi there"
    assert response.model_dump() == events[-1].response.model_dump()


def test_request_error_quotes_a_huge_item_type_briefly() -> None:
    with pytest.raises(InvalidRequestError, match="input items of type 'xxx") as caught:
        translate({"input": [{"type": "x" * 100_000}]})
    assert len(caught.value.message) < 200
