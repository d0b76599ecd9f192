"""OpenAI chat request → upstream params, and turn events → chunks → folded completion."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ccgw.errors import InvalidRequestError
from ccgw.translate import chat_request
from ccgw.translate.chat_stream import ChatStream, fold
from ccgw.translate.common import MISSING_RESULT, REASONING_PLACEHOLDER, Context
from ccgw.translate.stops import StopFilter
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
CTX = Context(model="deepseek/deepseek-v4-pro")


def translate(body: dict[str, Any], ctx: Context = CTX) -> dict[str, Any]:
    return chat_request.to_upstream({"model": "m", **body}, ctx).params


def test_request_system_and_developer_join_and_user_string() -> None:
    params = translate(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
                {"role": "user", "content": "hi"},
            ]
        }
    )
    # The CLI's block array: every block but the last ends in a newline.
    assert params["system"] == [{"type": "text", "text": "be brief\n"}, {"type": "text", "text": "be kind"}]
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert params["max_tokens"] == 64000
    assert params["model"] == "deepseek/deepseek-v4-pro"


def test_request_max_tokens_clamped_and_completion_tokens_preferred() -> None:
    assert translate({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10**7})["max_tokens"] == 200000
    params = translate({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "max_completion_tokens": 7})
    assert params["max_tokens"] == 7


def test_request_tool_history_native_parts_with_names_and_reasoning() -> None:
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "read it"},
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "I should read",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "read", "arguments": '{"p":"a"}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "file body"},
            ],
            "tools": [{"type": "function", "function": {"name": "read", "parameters": {"properties": {}}}}],
            "tool_choice": "required",
        }
    )
    assistant, tool = params["messages"][1], params["messages"][2]
    assert assistant["content"] == [
        {"type": "reasoning", "text": "I should read"},
        {"type": "tool-call", "toolCallId": "call_1", "toolName": "read", "input": {"p": "a"}},
    ]
    assert tool == {
        "role": "tool",
        "content": [
            {
                "type": "tool-result",
                "toolCallId": "call_1",
                "toolName": "read",
                "output": {"type": "text", "value": "file body"},
            }
        ],
    }
    assert params["tools"][0]["input_schema"]["type"] == "object"
    assert "tool_choice" not in params  # the CLI never sends it: `required` becomes an instruction
    assert params["system"][-1]["text"] == "In this reply, call at least one of the available tools."


def test_request_tool_choice_honoured_as_instruction_with_tools_kept() -> None:
    tools = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]
    msgs = [{"role": "user", "content": "x"}]
    none = translate({"messages": msgs, "tools": tools, "tool_choice": "none"})
    assert [t["name"] for t in none["tools"]] == ["read"]  # kept, so tool history stays valid
    assert none["system"] == [{"type": "text", "text": "Do not call any tool in this reply; answer with text only."}]
    named = translate(
        {"messages": msgs, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "read"}}}
    )
    assert named["system"][-1]["text"] == "In this reply, call the tool `read`."
    assert translate({"messages": msgs, "tools": tools, "tool_choice": "auto"})["system"] == []
    assert translate({"messages": msgs, "tool_choice": "required"})["system"] == []  # no tools: nothing to call


def test_request_long_tool_ids_aliased_consistently() -> None:
    long_id = "call_" + "x" * 100
    up = chat_request.to_upstream(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "tool_calls": [{"id": long_id, "function": {"name": "t", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": long_id, "content": "ok"},
            ],
        },
        CTX,
    )
    call = up.params["messages"][1]["content"][-1]["toolCallId"]
    result = up.params["messages"][2]["content"][0]["toolCallId"]
    assert call == result and len(call) <= 64
    assert up.tool_ids[call] == long_id


def test_request_dangling_tool_call_gets_error_result_and_memory_reinserts_reasoning() -> None:
    ctx = Context(model="m", reasoning_memory={"call_9": "remembered thought"})
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "tool_calls": [{"id": "call_9", "function": {"name": "t", "arguments": ""}}]},
                {"role": "user", "content": "never mind"},
            ]
        },
        ctx,
    )
    assert params["messages"][1]["content"][0] == {"type": "reasoning", "text": "remembered thought"}
    assert params["messages"][2]["content"][0]["output"] == {"type": "error-text", "value": MISSING_RESULT}
    assert params["messages"][3]["role"] == "user"


def test_request_images_data_url_and_fetched_remote() -> None:
    ctx = Context(model="m", images={"https://x.test/a.png": PNG})
    params = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what"},
                        {"type": "image_url", "image_url": {"url": PNG}},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                    ],
                }
            ]
        },
        ctx,
    )
    images = params["messages"][0]["content"][1:]
    assert images == [{"type": "image", "image": PNG, "mimeType": "image/png"}] * 2


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("data:text/plain;base64,aGk=", "not an image"),
        ("data:image/png;base64,!!!!", "not valid base64"),
        ("ftp://x/y.png", "not a base64 data URL"),
        ("data:image/png;base64,", "empty"),
    ],
)
def test_request_bad_image_is_400_naming_the_part(url: str, problem: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})
    assert problem in caught.value.message
    assert "messages[0].content[0]" in caught.value.message


def test_request_tool_schema_root_must_be_object() -> None:
    with pytest.raises(InvalidRequestError, match="type 'object'"):
        translate(
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "t", "parameters": {"type": "string"}}}],
            }
        )


def test_request_reasoning_effort_only_levels_the_model_has() -> None:
    msgs = [{"role": "user", "content": "x"}]
    assert "reasoning_effort" not in translate({"messages": msgs})  # the CLI sends none by default
    assert translate({"messages": msgs, "reasoning_effort": "low"})["reasoning_effort"] == "high"  # high, max
    assert translate({"messages": msgs, "reasoning_effort": "xhigh"})["reasoning_effort"] == "max"
    assert "reasoning_effort" not in translate({"messages": msgs, "reasoning_effort": "none"})  # no `off` in 1.64.0
    qwen = Context(model="Qwen/Qwen3.8-Max")  # low, medium, xhigh
    assert translate({"messages": msgs, "reasoning_effort": "high"}, qwen)["reasoning_effort"] == "xhigh"
    assert translate({"messages": msgs, "reasoning_effort": "minimal"}, qwen)["reasoning_effort"] == "low"
    kimi = Context(model="moonshotai/Kimi-K2.6")  # no levels: the CLI refuses --effort for it
    assert "reasoning_effort" not in translate({"messages": msgs, "reasoning_effort": "high"}, kimi)
    unknown = Context(model="vendor/not-in-the-cli-table")
    assert "reasoning_effort" not in translate({"messages": msgs, "reasoning_effort": "high"}, unknown)


def test_request_unknown_fields_tolerated_and_stream_options() -> None:
    up = chat_request.to_upstream(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 1,
            "logit_bias": {},
            "user": "u",
            "parallel_tool_calls": False,
            "n": 2,
            "stop": ["END"],
        },
        CTX,
    )
    assert (up.stream, up.include_usage, up.n, up.stop) == (True, True, 2, ("END",))
    assert list(up.params) == ["model", "messages", "tools", "system", "max_tokens"]  # the CLI's keys, in its order
    assert up.params["tools"] == []


def stream_chunks(events: list[Any], **kw: Any) -> list[dict[str, Any]]:
    translator = ChatStream(completion_id="chatcmpl-1", model="m", created=1, include_usage=True, **kw)
    out = translator.start()
    for event in events:
        out += translator.feed(0, event)
    return out + translator.finish()


def test_stream_tool_calls_shape_sdk_accumulates() -> None:
    usage = Usage(input_tokens=10, cache_read_tokens=4, output_tokens=3, reasoning_tokens=1)
    chunks = stream_chunks(
        [
            ReasoningDelta("think"),
            ToolCall("c1", "read", '{"p":1}'),
            ToolCall("c2", "grep", "{}"),
            Finish("tool_calls", usage),
        ]
    )
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "think"}
    assert deltas[2]["tool_calls"][0] == {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": "read", "arguments": ""},
    }
    assert deltas[3]["tool_calls"][0] == {"index": 0, "function": {"arguments": '{"p":1}'}}
    assert deltas[4]["tool_calls"][0]["index"] == 1
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    completion = fold(chunks)
    message = completion["choices"][0]["message"]
    assert message["reasoning_content"] == "think"
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["read", "grep"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["usage"]["total_tokens"] == 13


def test_stream_failure_is_one_error_payload_then_nothing() -> None:
    from ccgw.errors import UpstreamError

    chunks = stream_chunks([TextDelta("part"), Failure(UpstreamError("boom")), TextDelta("late")])
    assert chunks[-1] == {
        "error": {"message": "boom", "type": "upstream_error", "param": None, "code": "upstream_error"}
    }
    assert not any(c.get("choices") and c["choices"][0]["finish_reason"] for c in chunks if "choices" in c)


def test_stream_tool_id_alias_mapped_back() -> None:
    chunks = stream_chunks([ToolCall("alias", "t", "{}"), Finish("tool_calls", Usage())], tool_ids={"alias": "orig"})
    assert chunks[1]["choices"][0]["delta"]["tool_calls"][0]["id"] == "orig"


def test_stop_filter_across_deltas_keeps_upstream_usage() -> None:
    stop = StopFilter(("END",))
    out: list[Any] = []
    for event in [TextDelta("hello E"), TextDelta("N"), TextDelta("D tail"), Finish("stop", Usage(output_tokens=9))]:
        out += stop.feed(event)
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    assert text == "hello "
    assert isinstance(out[-1], Finish) and out[-1].stop_sequence == "END" and out[-1].usage.output_tokens == 9


def test_stop_filter_flushes_held_text_when_no_match() -> None:
    stop = StopFilter(("STOP",))
    out: list[Any] = []
    for event in [TextDelta("ab"), TextDelta("ST"), Finish("stop", Usage())]:
        out += stop.feed(event)
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "abST"


def test_request_deepseek_tool_turn_without_reasoning_gets_placeholder() -> None:
    history = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "call_x", "function": {"name": "t", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_x", "content": "ok"},
    ]
    deepseek = translate({"messages": history})["messages"][1]["content"]
    assert deepseek[0] == {"type": "reasoning", "text": REASONING_PLACEHOLDER}
    kimi = translate({"messages": history}, Context(model="moonshotai/Kimi-K3"))["messages"][1]["content"]
    assert [p["type"] for p in kimi] == ["tool-call"]


def test_request_images_from_parallel_tool_results_follow_the_whole_run() -> None:
    history = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "a", "function": {"name": "shot", "arguments": "{}"}},
                {"id": "b", "function": {"name": "ls", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
        {"role": "tool", "tool_call_id": "b", "content": "files"},
    ]
    messages = translate({"messages": history}, Context(model="moonshotai/Kimi-K3"))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert [p["toolName"] for p in messages[2]["content"]] == ["shot", "ls"]
    assert messages[3]["content"][1]["type"] == "image"


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "x"}, {"role": "function", "name": "", "content": "r"}],
        [{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": ""}}]}],
        [{"role": "assistant", "function_call": {"name": "", "arguments": "{}"}}],
    ],
)
def test_request_empty_function_name_is_400_not_forwarded(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequestError, match="name"):
        translate({"messages": messages})


def test_request_error_quotes_a_huge_value_briefly() -> None:
    with pytest.raises(InvalidRequestError, match="unknown content part type 'xxx") as caught:
        translate({"messages": [{"role": "user", "content": [{"type": "x" * 100_000}]}]})
    assert len(caught.value.message) < 200


def test_request_legacy_function_ids_aliased_like_tool_ids() -> None:
    name = "f" * 100
    params = translate(
        {
            "messages": [
                {"role": "assistant", "function_call": {"name": name, "arguments": "{}"}},
                {"role": "function", "name": name, "content": "r"},
            ]
        }
    )
    call = params["messages"][0]["content"][-1]
    result = params["messages"][1]["content"][0]
    assert len(call["toolCallId"]) <= 64 and result["toolCallId"] == call["toolCallId"]


def test_request_images_to_text_only_model_become_a_note() -> None:
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    up = chat_request.to_upstream(
        {"model": "m", "messages": [{"role": "user", "content": content}]}, Context(model="deepseek/deepseek-v4-pro")
    )
    assert up.params["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "text", "text": "[image omitted: deepseek/deepseek-v4-pro takes text only]"},
    ]
    assert up.omitted_images == 1
    vision = chat_request.to_upstream(
        {"model": "m", "messages": [{"role": "user", "content": content}]}, Context(model="moonshotai/Kimi-K3")
    )
    assert vision.params["messages"][0]["content"][1]["type"] == "image"
    assert vision.omitted_images == 0
