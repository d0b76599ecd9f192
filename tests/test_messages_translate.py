"""Anthropic Messages request → upstream params, and turn events → Anthropic stream → folded message."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from ccgw.errors import InvalidRequestError, UpstreamError
from ccgw.translate import messages_request
from ccgw.translate.common import Context
from ccgw.translate.messages_stream import MessagesStream, fold
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

CTX = Context(model="moonshotai/Kimi-K3")
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 20).decode()
EVENTS: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def translate(body: dict[str, Any], ctx: Context = CTX) -> dict[str, Any]:
    return messages_request.to_upstream({"model": "m", "max_tokens": 100, **body}, ctx).params


def test_request_system_blocks_keep_cache_breakpoints_message_markers_dropped() -> None:
    params = translate(
        {
            "system": [
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "b"},
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
            ],
        }
    )
    # The CLI's block array, with the client's breakpoint on the block that carried it.
    assert params["system"] == [
        {"type": "text", "text": "a\n", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "b"},
    ]
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert params["max_tokens"] == 100


def test_request_tool_results_split_from_user_text_and_images_moved() -> None:
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "look"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "need a screenshot", "signature": "sig"},
                        {"type": "text", "text": "ok"},
                        {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [
                                {"type": "text", "text": "taken"},
                                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                            ],
                        },
                        {"type": "text", "text": "what do you see?"},
                    ],
                },
            ]
        }
    )
    roles = [m["role"] for m in params["messages"]]
    assert roles == ["user", "assistant", "tool", "user", "user"]
    assert [p["type"] for p in params["messages"][1]["content"]] == ["reasoning", "text", "tool-call"]
    result = params["messages"][2]["content"][0]
    assert result["toolName"] == "screenshot"
    assert result["output"] == {"type": "text", "value": "taken"}
    assert params["messages"][3]["content"][1]["type"] == "image"
    assert params["messages"][4]["content"] == [{"type": "text", "text": "what do you see?"}]


def test_request_error_tool_result_and_server_tools_dropped() -> None:
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "bash", "input": {"c": 1}}]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}],
                },
            ],
            "tools": [
                {"name": "bash", "input_schema": {"type": "object", "properties": {}}},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            "tool_choice": {"type": "tool", "name": "bash"},
        }
    )
    assert params["messages"][2]["content"][0]["output"] == {"type": "error-text", "value": "boom"}
    assert [t["name"] for t in params["tools"]] == ["bash"]
    assert "tool_choice" not in params  # honoured as an instruction instead
    assert params["system"][-1] == {"type": "text", "text": "In this reply, call the tool `bash`."}


def test_request_thinking_and_effort() -> None:
    msgs = [{"role": "user", "content": "x"}]
    deepseek = Context(model="deepseek/deepseek-v4-pro")
    assert (
        translate({"messages": msgs, "thinking": {"type": "enabled", "budget_tokens": 2000}}, deepseek)[
            "reasoning_effort"
        ]
        == "high"
    )
    assert "reasoning_effort" not in translate({"messages": msgs, "thinking": {"type": "disabled"}}, deepseek)
    assert "reasoning_effort" not in translate({"messages": msgs}, deepseek)
    assert (
        translate({"messages": msgs, "thinking": {"type": "enabled", "budget_tokens": 50000}})["reasoning_effort"]
        == "max"
    )
    assert "reasoning_effort" not in translate({"messages": msgs, "thinking": {"type": "adaptive"}})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([{"type": "document", "source": {}}], "document blocks are not supported"),
        ([{"type": "image", "source": {"type": "base64", "media_type": "text/plain", "data": "aGk="}}], "not an image"),
        ([{"type": "mystery"}], "unknown block type"),
        ([{"type": "text"}], "text must be a string"),
    ],
)
def test_request_bad_blocks_are_400(content: list[Any], problem: str) -> None:
    with pytest.raises(InvalidRequestError, match=problem):
        translate({"messages": [{"role": "user", "content": content}]})


def run_stream(events: list[Any]) -> list[dict[str, Any]]:
    translator = MessagesStream(message_id="msg_1", model="m", tool_ids={"alias": "toolu_orig"})
    out = translator.start()
    for event in events:
        out += translator.feed(0, event)
    out += translator.finish()
    return out


def test_stream_invariants_and_sdk_shapes() -> None:
    usage = Usage(input_tokens=100, cache_read_tokens=30, cache_write_tokens=10, output_tokens=9)
    payloads = run_stream(
        [
            ReasoningDelta("hmm"),
            TextDelta("Hi"),
            ReasoningDelta("more"),
            ToolCall("alias", "bash", '{"c":1}'),
            Finish("tool_calls", usage),
        ]
    )
    for payload in payloads:
        EVENTS.validate_python(payload)
    kinds = [p["type"] for p in payloads]
    assert kinds.count("message_start") == 1
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 4
    opened: set[int] = set()
    for payload in payloads:
        if payload["type"] == "content_block_start":
            assert not opened, "a block started while another was open"
            opened.add(payload["index"])
        elif payload["type"] == "content_block_stop":
            opened.remove(payload["index"])
    assert payloads[-2]["usage"] == {
        "input_tokens": 60,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 30,
        "output_tokens": 9,
    }
    message = Message.model_validate(fold(payloads))
    assert [b.type for b in message.content] == ["thinking", "text", "thinking", "tool_use"]
    assert message.stop_reason == "tool_use"
    tool = message.content[3]
    assert tool.type == "tool_use"
    assert tool.id == "toolu_orig"
    assert tool.input == {"c": 1}


def test_stream_stop_sequence_and_length() -> None:
    payloads = run_stream([TextDelta("a"), Finish("stop", Usage(), stop_sequence="END")])
    assert payloads[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    payloads = run_stream([TextDelta("a"), Finish("length", Usage())])
    assert payloads[-2]["delta"]["stop_reason"] == "max_tokens"


def test_stream_failure_is_one_error_event_and_nothing_else() -> None:
    payloads = run_stream([TextDelta("part"), Failure(UpstreamError("boom")), TextDelta("late")])
    assert payloads[-1] == {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    kinds = [p["type"] for p in payloads]
    assert "message_delta" not in kinds
    assert "message_stop" not in kinds


def test_request_error_quotes_a_huge_block_type_briefly() -> None:
    with pytest.raises(InvalidRequestError, match="unknown block type 'xxx") as caught:
        translate({"messages": [{"role": "user", "content": [{"type": "x" * 100_000}]}]})
    assert len(caught.value.message) < 200


@pytest.mark.parametrize("stops", [True, 5, "stop", [1]])
def test_request_stop_sequences_must_be_strings_even_unvalidated(stops: Any) -> None:
    # count_tokens' schema does not declare stop_sequences, so the translator is the only check
    with pytest.raises(InvalidRequestError, match="stop_sequences"):
        messages_request.to_upstream(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop_sequences": stops}, CTX
        )


def test_request_sampling_params_the_cli_never_sends_are_left_out() -> None:
    params = translate({"messages": [{"role": "user", "content": "x"}], "temperature": 0.3, "top_p": 0.9, "top_k": 5})
    assert params["temperature"] == 0.3
    assert "top_p" not in params and "top_k" not in params
    assert params["tools"] == []  # always present, as the CLI sends it


def test_request_leading_system_messages_join_the_system_prompt() -> None:
    params = translate(
        {
            "system": "field",
            "messages": [
                {"role": "system", "content": "first"},
                {"role": "system", "content": [{"type": "text", "text": "second"}]},
                {"role": "user", "content": "hi"},
            ],
        }
    )
    assert params["system"] == [
        {"type": "text", "text": "field\n"},
        {"type": "text", "text": "first\n"},
        {"type": "text", "text": "second"},
    ]
    assert params["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_request_system_message_after_user_appended_to_that_user_turn_in_order() -> None:
    params = translate(
        {"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "# Environment"}]}
    )
    assert params["system"] == []
    assert params["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "text", "text": "<system-message>\n# Environment\n</system-message>"},
            ],
        }
    ]


def test_request_system_message_after_assistant_starts_the_next_user_turn() -> None:
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "system", "content": "reminder"},
                {"role": "user", "content": "go on"},
            ]
        }
    )
    assert params["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-message>\nreminder\n</system-message>"},
            {"type": "text", "text": "go on"},
        ],
    }


def test_request_trailing_system_message_after_assistant_becomes_its_own_user_turn() -> None:
    params = translate(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "system", "content": "wrap up"},
            ]
        }
    )
    assert params["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "<system-message>\nwrap up\n</system-message>"}],
    }


def test_request_system_message_with_bad_content_names_its_position() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate({"messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": [{"text": "x"}]}]})
    assert caught.value.param == "messages[1].content[0]"


def test_request_deferred_tools_hidden_until_a_tool_reference_loads_them() -> None:
    tools = [
        {"name": "ToolSearch", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"name": "WebFetch", "input_schema": {"type": "object"}, "defer_loading": True},
        {"name": "Monitor", "input_schema": {"type": "object"}, "defer_loading": True},
    ]
    first = translate({"tools": tools, "messages": [{"role": "user", "content": "fetch it"}]})
    assert [t["name"] for t in first["tools"]] == ["ToolSearch"]
    history = [
        {"role": "user", "content": "fetch it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": [{"type": "tool_reference", "tool_name": "WebFetch"}],
                }
            ],
        },
    ]
    later = translate({"tools": tools, "messages": history})
    assert [t["name"] for t in later["tools"]] == ["ToolSearch", "WebFetch"]
    result = later["messages"][2]["content"][0]
    assert result["output"] == {"type": "text", "value": "Tool WebFetch is now available."}


def test_request_server_tool_search_makes_every_deferred_tool_visible() -> None:
    tools = [
        {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
        {"name": "WebFetch", "input_schema": {"type": "object"}, "defer_loading": True},
    ]
    params = translate({"tools": tools, "messages": [{"role": "user", "content": "hi"}]})
    assert [t["name"] for t in params["tools"]] == ["WebFetch"]
