"""TurnReader: upstream stream parts → turn events, with every quirk of upstream-protocol.md §3 and §6."""

from __future__ import annotations

from typing import Any

from ccgw import errors
from ccgw.upstream.events import Failure, Finish, ReasoningDelta, TextDelta, ToolCall, TurnReader
from ccgw.upstream.ndjson import MALFORMED

USAGE = {
    "inputTokens": 16977,
    "inputTokenDetails": {"noCacheTokens": 11601, "cacheReadTokens": 5376},
    "outputTokens": 27,
    "outputTokenDetails": {"textTokens": 2, "reasoningTokens": 25},
    "totalTokens": 17004,
    "reasoningTokens": 25,
    "cachedInputTokens": 5376,
}


def run(events: list[dict[str, Any]], *, end: bool = True) -> tuple[list[Any], TurnReader]:
    reader = TurnReader()
    out = [e for event in events for e in reader.feed(event)]
    if end:
        out += reader.end()
    return out, reader


def finish(reason: str = "stop", raw: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "finish", "finishReason": reason, "rawFinishReason": raw or reason, "totalUsage": usage or USAGE}


def test_reader_captured_reasoning_sequence_usage_and_cost() -> None:
    out, reader = run(
        [
            {"type": "start"},
            {"type": "start-step", "request": {"body": {}}, "warnings": []},
            {"type": "reasoning-start", "id": "reasoning-0"},
            {"type": "reasoning-delta", "id": "reasoning-0", "text": "The"},
            {"type": "text-start", "id": "txt-0"},
            {"type": "reasoning-end", "id": "reasoning-0"},
            {"type": "text-delta", "id": "txt-0", "text": "OK"},
            {"type": "text-end", "id": "txt-0"},
            {"type": "finish-step", "usage": USAGE, "providerMetadata": {"gateway": {"cost": "0.002607672"}}},
            finish(),
            {"type": "provider-metadata", "providerMetadata": {"gateway": {"cost": "0.002607672"}}},
        ]
    )
    assert out[:2] == [ReasoningDelta("The"), TextDelta("OK")]
    assert isinstance(out[2], Finish) and out[2].reason == "stop"
    usage = reader.usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens) == (
        16977,
        5376,
        27,
        25,
    )
    assert usage.uncached_input_tokens == 11601
    assert abs(usage.cost_usd - 0.002607672) < 1e-12
    assert len(out) == 3


def test_reader_final_tool_call_wins_over_provisional_input() -> None:
    out, _ = run(
        [
            {"type": "tool-input-start", "id": "call_1", "toolName": "read_file"},
            {"type": "tool-input-delta", "id": "call_1", "delta": '{"file_path":"wrong"}'},
            {"type": "tool-input-end", "id": "call_1"},
            {"type": "tool-call", "toolCallId": "call_1", "toolName": "read_file", "input": {"file_path": "right"}},
            finish("tool-calls", "tool_calls"),
        ]
    )
    assert out[0] == ToolCall("call_1", "read_file", '{"file_path":"right"}')
    assert isinstance(out[1], Finish) and out[1].reason == "tool_calls"


def test_reader_tool_input_without_call_is_a_failure() -> None:
    out, _ = run(
        [
            {"type": "tool-input-start", "id": "call_1", "toolName": "bash"},
            {"type": "tool-input-delta", "id": "call_1", "delta": "{}"},
            finish("tool-calls", "tool_calls"),
        ]
    )
    assert len(out) == 1 and isinstance(out[0], Failure)
    assert "incomplete tool call" in out[0].error.message


def test_reader_tool_call_input_as_json_string_and_duplicates() -> None:
    call = {"type": "tool-call", "toolCallId": "c", "toolName": "t", "input": '{"a": 1}'}
    out, _ = run([call, call, finish("tool-calls")])
    assert out[0] == ToolCall("c", "t", '{"a":1}')
    assert len(out) == 2


def test_reader_tool_call_with_non_object_input_fails_closed() -> None:
    out, _ = run([{"type": "tool-call", "toolCallId": "c", "toolName": "t", "input": "[1]"}])
    assert isinstance(out[0], Failure) and "malformed tool call" in out[0].error.message


def test_reader_network_error_finish_is_failure_with_usage() -> None:
    out, reader = run([{"type": "text-delta", "text": "partial"}, finish("stop", "network-error")])
    assert isinstance(out[-1], Failure)
    assert isinstance(out[-1].error, errors.UpstreamError)
    assert reader.usage.output_tokens == 27


def test_reader_eof_without_finish_is_truncation() -> None:
    out, _ = run([{"type": "text-delta", "text": "partial"}])
    assert out[0] == TextDelta("partial")
    assert isinstance(out[1], Failure) and out[1].error.code == "upstream_truncated"


def test_reader_inband_error_status_prefix_outranks_status_code() -> None:
    message = '400 {"error":{"type":"invalid_request_error","message":"bad schema"}}'
    out, _ = run([{"type": "error", "error": {"message": message, "statusCode": 503}}], end=False)
    assert isinstance(out[0], Failure) and isinstance(out[0].error, errors.InvalidRequestError)
    assert "invalid_request_error: bad schema" in out[0].error.message


def test_reader_inband_error_prefix_without_error_message_is_not_a_status() -> None:
    # The CLI takes NNN only when the JSON after it has error.message; else statusCode decides.
    for message in ('400 {"detail":"x"}', "<400> bad request"):
        out, _ = run([{"type": "error", "error": {"message": message, "statusCode": 503}}], end=False)
        assert isinstance(out[0], Failure) and type(out[0].error) is errors.UpstreamError
    out, _ = run([{"type": "error", "error": {"message": "no status at all"}}], end=False)
    assert out[0].error.status == 502


def test_reader_inband_429_and_string_error() -> None:
    out, _ = run([{"type": "error", "error": {"message": "providers are at capacity", "statusCode": 429}}], end=False)
    assert isinstance(out[0], Failure) and isinstance(out[0].error, errors.RateLimitError)
    out, _ = run([{"type": "error", "error": "some string"}], end=False)
    assert isinstance(out[0], Failure) and isinstance(out[0].error, errors.UpstreamError)


def test_reader_events_after_finish_ignored_but_cost_and_cache_write_kept() -> None:
    out, reader = run(
        [
            {"type": "text-delta", "text": "a"},
            finish(),
            {"type": "text-delta", "text": "late"},
            {"type": "cache-write-tokens", "tokens": 7},
            {"type": "provider-metadata", "providerMetadata": {"gateway": {"cost": "0.5"}}},
            finish(),
        ]
    )
    assert len(out) == 2
    assert reader.usage.cache_write_tokens == 7
    assert reader.usage.cost_usd == 0.5


def test_reader_empty_answer_is_failure_but_length_is_not() -> None:
    zero = {"inputTokens": 5, "outputTokens": 0}
    out, _ = run([finish("stop", usage=zero)])
    assert isinstance(out[0], Failure) and out[0].error.code == "empty_response"
    out, _ = run([finish("length", "max_output_tokens", usage=zero)])
    assert isinstance(out[0], Finish) and out[0].reason == "length"


def test_reader_malformed_line_skipped_and_counted_like_the_cli() -> None:
    out, reader = run([{"type": "text-delta", "text": "a"}, {"type": MALFORMED, "line": "{oops"}, finish()])
    assert out[0] == TextDelta("a") and isinstance(out[1], Finish)
    assert reader.skipped == 1


def test_reader_malformed_line_without_finish_is_truncation_naming_it() -> None:
    out, _ = run([{"type": MALFORMED, "line": "{oops"}])
    assert isinstance(out[0], Failure) and out[0].error.code == "upstream_truncated"
    assert "1 line(s) that did not parse" in out[0].error.message


def test_reader_abort_fails() -> None:
    out, _ = run([{"type": "abort"}], end=False)
    assert isinstance(out[0], Failure)


def test_reader_pause_turn_is_continued_with_usage_summed() -> None:
    reader = TurnReader()
    first = [{"type": "text-delta", "text": "one "}, finish("other", "pause_turn")]
    out = [e for event in first for e in reader.feed(event)]
    assert out == [TextDelta("one ")] and reader.paused and reader.terminal is None
    reader.resume()
    out = [e for event in [{"type": "text-delta", "text": "two"}, finish()] for e in reader.feed(event)]
    assert out[0] == TextDelta("two") and isinstance(out[1], Finish) and out[1].reason == "stop"
    assert reader.usage.input_tokens == 2 * USAGE["inputTokens"]
    assert reader.usage.output_tokens == 2 * USAGE["outputTokens"]


def test_reader_pause_turn_after_five_continuations_ends_the_answer() -> None:
    reader = TurnReader()
    for _ in range(5):
        reader.feed({"type": "text-delta", "text": "x"})
        assert reader.feed(finish("other", "pause_turn")) == [] and reader.paused
        reader.resume()
    out = reader.feed(finish("other", "pause_turn"))
    assert isinstance(out[0], Finish) and not reader.paused


def test_reader_unknown_events_and_delta_alias_tolerated() -> None:
    out, _ = run([{"type": "future-thing"}, {"type": "text-delta", "delta": "x"}, finish()])
    assert out[0] == TextDelta("x")
    assert isinstance(out[1], Finish)


def test_reader_usage_from_steps_when_total_missing() -> None:
    _out, reader = run(
        [
            {"type": "text-delta", "text": "x"},
            {"type": "finish-step", "usage": {"inputTokens": 10, "outputTokens": 2}},
            {"type": "finish-step", "usage": {"inputTokens": 12, "outputTokens": 3}},
            {"type": "finish", "finishReason": "stop"},
        ]
    )
    assert (reader.usage.input_tokens, reader.usage.output_tokens) == (22, 5)
