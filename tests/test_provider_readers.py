"""The Provider API's stream readers: OpenAI chat SSE and Anthropic SSE → turn events (upstream-protocol.md §8).

Golden streams in each format, read through the same decoder the gateway uses, at every split of the
bytes; per-family reasoning fields; tool calls; usage after the finish; every way a stream fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccgw import errors
from ccgw.relay import coalesce
from ccgw.upstream.chat_reader import ChatReader
from ccgw.upstream.events import Event, Failure, Finish, ReasoningDelta, StreamReader, TextDelta, ToolCall
from ccgw.upstream.messages_reader import MessagesReader
from ccgw.upstream.ndjson import NDJSONDecoder


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "choices": [],
    "usage": {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 2},
        "cost": 0.000123,
    },
}


def sse(*payloads: Any, done: bool = True, named: bool = False) -> bytes:
    frames = []
    for p in payloads:
        head = f"event: {p['type']}\n" if named else ""
        frames.append(f"{head}data: {json.dumps(p)}\n\n")
    return ("".join(frames) + ("data: [DONE]\n\n" if done else "")).encode()


def read(reader: StreamReader, data: bytes, cuts: list[int] | None = None) -> list[Event]:
    """Bytes → the reader's events, the body cut at `cuts`, then the end of the stream."""
    decoder = NDJSONDecoder()
    pieces, start = [], 0
    for cut in [*(cuts or []), len(data)]:
        pieces.append(data[start:cut])
        start = cut
    out: list[Event] = []
    for piece in pieces:
        out += [e for raw in decoder.feed(piece) for e in reader.feed(raw)]
    out += [e for raw in decoder.finish() for e in reader.feed(raw)]
    return coalesce(out + reader.end())


CHAT_STREAM = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Think"}),
    chunk({"reasoning_content": "ing."}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(
        {
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "bash", "arguments": ""}}
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"cmd":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "ls"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "grep", "arguments": "{}"}}]}),
    chunk({}, "tool_calls"),
    USAGE_CHUNK,
)
CHAT_EXPECTED = [
    ReasoningDelta("Thinking."),
    TextDelta("Hello"),
    ToolCall("call_1", "bash", '{"cmd":"ls"}'),
    ToolCall("call_2", "grep", "{}"),
]


def test_chat_reader_golden_stream_events_usage_and_cost() -> None:
    reader = ChatReader()
    out = read(reader, CHAT_STREAM)
    assert out[:-1] == CHAT_EXPECTED
    assert isinstance(out[-1], Finish) and out[-1].reason == "tool_calls"
    usage = reader.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens) == (100, 40, 7, 2)
    assert usage.cost_usd == pytest.approx(0.000123)


def test_chat_reader_every_split_of_the_bytes_same_events() -> None:
    whole = read(ChatReader(), CHAT_STREAM)
    for cut in range(1, len(CHAT_STREAM)):
        assert read(ChatReader(), CHAT_STREAM, [cut]) == whole, f"split at {cut}"


@pytest.mark.parametrize(
    "delta",
    [
        {"reasoning_content": "Plan."},  # GLM, Qwen, Kimi
        {
            "reasoning": "Plan.",
            "reasoning_details": [{"type": "reasoning.text", "text": "Plan.", "index": 0}],
        },  # DeepSeek
        {"reasoning": "Plan.", "reasoning_details": [{"type": "reasoning.summary", "summary": "Plan."}]},  # OpenAI
        {"reasoning_details": [{"type": "reasoning.summary", "text": "", "summary": "Plan."}]},  # details only
    ],
)
def test_chat_reader_reasoning_of_every_family_once(delta: dict[str, Any]) -> None:
    out = read(ChatReader(), sse(chunk(delta), chunk({"content": "x"}), chunk({}, "stop"), USAGE_CHUNK))
    assert out[:2] == [ReasoningDelta("Plan."), TextDelta("x")]


def test_chat_reader_usage_in_the_finish_chunk_ends_the_turn_there() -> None:
    reader = ChatReader()
    both = {**chunk({"content": "hi"}, "stop"), "usage": USAGE_CHUNK["usage"]}
    out = [e for e in reader.feed(both)]
    assert isinstance(out[-1], Finish) and reader.usage.output_tokens == 7


def test_chat_reader_finish_without_usage_still_finishes_at_the_end() -> None:
    out = read(ChatReader(), sse(chunk({"content": "hi"}), chunk({}, "length"), done=False))
    assert out == [TextDelta("hi"), Finish("length", out[-1].usage)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (sse(chunk({"content": "partial"}), done=False), "upstream_truncated"),
        (sse(chunk({}, "stop"), USAGE_CHUNK | {"usage": {"completion_tokens": 0}}), "empty_response"),
        (
            sse(chunk({"content": "x"}), {"error": {"message": "provider dropped", "type": "api_error", "code": 500}}),
            None,
        ),
        (sse(chunk({"content": "x"}), chunk({}, "error")), None),
        (
            sse(
                chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{oops"}}]}),
                chunk({}, "tool_calls"),
            ),
            None,
        ),
    ],
)
def test_chat_reader_failures_are_never_a_finish(data: bytes, code: str | None) -> None:
    out = read(ChatReader(), data)
    assert isinstance(out[-1], Failure)
    assert not any(isinstance(e, Finish) for e in out)
    if code:
        assert out[-1].error.code == code


def test_chat_reader_inband_error_status_from_its_code() -> None:
    error = {"error": {"message": "providers are at capacity", "type": "rate_limit_exceeded", "code": 429}}
    out = read(ChatReader(), sse(error))
    assert isinstance(out[-1], Failure) and isinstance(out[-1].error, errors.RateLimitError)
    assert "at capacity" in out[-1].error.message


def message_start(**usage: int) -> dict[str, Any]:
    base = {"input_tokens": 60, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 0, "output_tokens": 1}
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": {**base, **usage}}
    return {"type": "message_start", "message": message}


def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": content}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_end(reason: str = "end_turn", **extra: Any) -> list[dict[str, Any]]:
    usage = {"output_tokens": 9, "output_tokens_details": {"thinking_tokens": 4}, "cost": "0.0002"}
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": extra.get("sequence")},
            "usage": usage,
        },
        {"type": "message_stop"},
    ]


MESSAGES_STREAM = sse(
    message_start(),
    {"type": "ping"},
    block(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, {"type": "thinking_delta", "thinking": "Let me "}),
    delta(0, {"type": "thinking_delta", "thinking": "think."}),
    delta(0, {"type": "signature_delta", "signature": "sig-abc"}),
    stop(0),
    block(1, {"type": "text", "text": ""}),
    delta(1, {"type": "text_delta", "text": "Hi"}),
    stop(1),
    block(2, {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {}}),
    delta(2, {"type": "input_json_delta", "partial_json": '{"cmd"'}),
    delta(2, {"type": "input_json_delta", "partial_json": ': "ls"}'}),
    stop(2),
    *message_end("tool_use"),
    done=False,
    named=True,
)


def test_messages_reader_golden_stream_signed_thinking_tool_and_disjoint_usage() -> None:
    reader = MessagesReader()
    out = read(reader, MESSAGES_STREAM)
    assert out[:3] == [
        ReasoningDelta("Let me think.", "sig-abc"),
        TextDelta("Hi"),
        ToolCall("toolu_1", "bash", '{"cmd":"ls"}'),
    ]
    assert isinstance(out[3], Finish) and out[3].reason == "tool_calls"
    usage = reader.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.uncached_input_tokens) == (100, 40, 60)
    assert (usage.output_tokens, usage.reasoning_tokens) == (9, 4)
    assert usage.cost_usd == pytest.approx(0.0002)


def test_messages_reader_every_split_of_the_bytes_same_events() -> None:
    whole = read(MessagesReader(), MESSAGES_STREAM)
    for cut in range(1, len(MESSAGES_STREAM), 3):
        assert read(MessagesReader(), MESSAGES_STREAM, [cut]) == whole, f"split at {cut}"


def test_messages_reader_holds_back_one_thinking_delta_until_the_signature() -> None:
    reader = MessagesReader()
    fed = [reader.feed(e) for e in (message_start(), block(0, {"type": "thinking", "thinking": ""}))]
    first = reader.feed(delta(0, {"type": "thinking_delta", "thinking": "a"}))
    second = reader.feed(delta(0, {"type": "thinking_delta", "thinking": "b"}))
    reader.feed(delta(0, {"type": "signature_delta", "signature": "s"}))
    closing = reader.feed(stop(0))
    assert fed == [[], []] and first == [] and second == [ReasoningDelta("a")]
    assert closing == [ReasoningDelta("b", "s")]


def test_messages_reader_stop_sequence_is_kept() -> None:
    out = read(
        MessagesReader(),
        sse(
            message_start(),
            block(0, {"type": "text", "text": "ab"}),
            stop(0),
            *message_end("stop_sequence", sequence="END"),
            named=True,
        ),
    )
    assert out[-1] == Finish("stop", out[-1].usage, stop_sequence="END")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("events", "kind"),
    [
        (
            [message_start(), block(0, {"type": "text", "text": ""}), delta(0, {"type": "text_delta", "text": "x"})],
            errors.UpstreamError,
        ),
        (
            [message_start(), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}],
            errors.UpstreamError,
        ),
        (
            [message_start(), {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}],
            errors.RateLimitError,
        ),
        (
            [message_start(), block(0, {"type": "text", "text": "x"}), stop(0), *message_end("pause_turn")],
            errors.UpstreamError,
        ),
    ],
)
def test_messages_reader_failures_are_never_a_finish(
    events: list[dict[str, Any]], kind: type[errors.GatewayError]
) -> None:
    out = read(MessagesReader(), sse(*events, done=False, named=True))
    assert isinstance(out[-1], Failure) and type(out[-1].error) is kind
    assert not any(isinstance(e, Finish) for e in out)


def test_messages_reader_stop_reason_without_message_stop_still_finishes() -> None:
    events = [message_start(), block(0, {"type": "text", "text": "x"}), stop(0), message_end()[0]]
    out = read(MessagesReader(), sse(*events, done=False, named=True))
    assert isinstance(out[-1], Finish) and out[-1].reason == "stop"


def test_coalesce_ends_a_reasoning_run_at_a_signature() -> None:
    merged = coalesce([ReasoningDelta("a"), ReasoningDelta("b", "s1"), ReasoningDelta("c"), TextDelta("t")])
    assert merged == [ReasoningDelta("ab", "s1"), ReasoningDelta("c"), TextDelta("t")]
