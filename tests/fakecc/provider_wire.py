"""The Provider API's wire formats (upstream-protocol.md §8), rendered from the scenario library's turns.

Every scenario writes its turn as ``/alpha/generate`` stream parts (AI SDK lines); the Provider endpoints
serve the same turn in their own formats, so a marker picks the same answer on every path:

- ``/provider/v1/chat/completions``: OpenAI ``chat.completion.chunk`` SSE frames, reasoning in the
  model family's own field (DeepSeek ``reasoning`` + ``reasoning_details`` text, OpenAI models
  ``reasoning`` + a ``reasoning.summary`` detail, the others ``reasoning_content``), a usage chunk with
  empty ``choices`` only when ``stream_options.include_usage`` asked, then ``[DONE]``;
- ``/provider/v1/messages``: Anthropic SSE (``message_start`` … ``message_stop``, ``ping``), thinking
  blocks signed (``signature_delta``), usage in Anthropic's disjoint form.

A failure inside the turn (an ``error`` part, a ``network-error`` finish) becomes the format's error frame
and ends the body without a clean end; a turn without ``finish`` ends without one too (truncated). Both
formats carry the cost as ``usage.cost`` (USD), where ccgw reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, Final

from .catalog import provider_of
from .events import dumps
from .usage import cost_usd

DONE: Final = "data: [DONE]\n\n"
_STATUS_PREFIX: Final = re.compile(r"^\s*(\d{3})\s*\{")
ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP_REASONS: Final = {"tool-calls": "tool_use", "length": "max_tokens", "stop": "end_turn"}
_CHAT_FINISH: Final = {"tool-calls": "tool_calls", "length": "length", "stop": "stop"}
NETWORK_FAILURES: Final = ("network-error", "connection_error", "upstream_error")


def signature(thinking: str) -> str:
    """The fake's thinking signature: it accepts a replayed thinking block only with the one it issued."""
    return "fakesig." + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def parts(lines: list[str]) -> Iterator[dict[str, Any] | str]:
    """The turn's stream parts; a line that is not JSON (a scenario's broken line) comes back as is."""
    for line in lines:
        try:
            yield json.loads(line)
        except ValueError:
            yield line


def inband_status(error: Any) -> tuple[int, str]:
    """An ``error`` part's status and message, read as the CLI reads them (§11)."""
    if isinstance(error, str):
        return 500, error
    message = str(error.get("message") or "upstream error")
    prefix = _STATUS_PREFIX.match(message)
    if prefix:
        inner = json.loads(message[prefix.end() - 1 :]).get("error") or {}
        return int(prefix.group(1)), str(inner.get("message") or message)
    status = error.get("statusCode")
    return (status if isinstance(status, int) else 500), message


def _usage_numbers(usage: dict[str, Any] | None) -> tuple[int, int, int, int, int]:
    """(input incl. cache, cache read, cache write, output, reasoning) of an AI SDK usage object."""
    if not usage:
        return 0, 0, 0, 0, 0
    details = usage.get("inputTokenDetails") or {}
    return (
        usage["inputTokens"],
        details.get("cacheReadTokens", 0),
        details.get("cacheWriteTokens", 0),
        usage["outputTokens"],
        usage.get("reasoningTokens", 0),
    )


# ---------------------------------------------------------------------------------------------------
# OpenAI chat completions


def _reasoning_delta(model: str, text: str) -> dict[str, Any]:
    family = provider_of(model)
    if family == "deepseek":
        detail = {"type": "reasoning.text", "text": text, "format": "unknown", "index": 0}
        return {"reasoning": text, "reasoning_details": [detail]}
    if family == "openai":
        detail = {"type": "reasoning.summary", "summary": text, "format": "openai-responses-v1", "index": 0}
        return {"reasoning": text, "reasoning_details": [detail]}
    return {"reasoning_content": text}


def chat_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    tokens, read, write, output, reasoning = _usage_numbers(usage)
    details: dict[str, int] = {"cached_tokens": read}
    if write:
        details["cache_write_tokens"] = write
    return {
        "prompt_tokens": tokens,
        "completion_tokens": output,
        "total_tokens": tokens + output,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        "cost": round(cost_usd(tokens, output), 9),
    }


def chat_error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "code": status}}


def chat_frames(lines: list[str], model: str, completion_id: str, created: int, include_usage: bool) -> list[str]:
    """The turn as ``chat.completion.chunk`` SSE frames."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return "data: " + dumps({**base, "choices": [choice]}) + "\n\n"

    frames = [chunk({"role": "assistant", "content": ""})]
    calls = 0
    for part in parts(lines):
        if isinstance(part, str):
            frames.append(f"data: {part}\n\n")
            continue
        kind = part.get("type")
        if kind == "text-delta":
            frames.append(chunk({"content": part["text"]}))
        elif kind == "reasoning-delta":
            frames.append(chunk(_reasoning_delta(model, part["text"])))
        elif kind == "tool-call":
            arguments = part["input"] if isinstance(part["input"], str) else dumps(part["input"])
            cut = max(1, len(arguments) // 2)
            head = {"index": calls, "id": part["toolCallId"], "type": "function"}
            frames.append(chunk({"tool_calls": [{**head, "function": {"name": part["toolName"], "arguments": ""}}]}))
            for piece in (arguments[:cut], arguments[cut:]):
                frames.append(chunk({"tool_calls": [{"index": calls, "function": {"arguments": piece}}]}))
            calls += 1
        elif kind == "error":
            return [*frames, "data: " + dumps(chat_error(*inband_status(part["error"]))) + "\n\n"]
        elif kind == "finish":
            if part.get("rawFinishReason") in NETWORK_FAILURES:
                failure = chat_error(502, "The model provider dropped the connection")
                return [*frames, "data: " + dumps(failure) + "\n\n"]
            frames.append(chunk({}, _CHAT_FINISH.get(part["finishReason"], "stop")))
            if include_usage:
                usage = chat_usage(part.get("totalUsage"))
                frames.append("data: " + dumps({**base, "choices": [], "usage": usage}) + "\n\n")
            return [*frames, DONE]
    return frames  # no finish: the body just ends (truncated)


def fold_chat(frames: list[str]) -> dict[str, Any] | None:
    """A non-streamed ``chat.completion`` from the frames; None when the turn failed."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: str | None = None
    usage: dict[str, Any] | None = None
    head: dict[str, Any] | None = None
    for frame in frames:
        data = frame.removeprefix("data: ").strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if "error" in chunk:
            return None
        head = head or chunk
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
            for call in delta.get("tool_calls", []):
                slot = calls.setdefault(call["index"], {"id": call.get("id"), "name": "", "arguments": ""})
                slot["name"] += call["function"].get("name", "")
                slot["arguments"] += call["function"].get("arguments", "")
            finish = choice["finish_reason"] or finish
    if finish is None or head is None:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if "".join(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())
        ]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    return {**head, "object": "chat.completion", "choices": [choice], "usage": usage}


# ---------------------------------------------------------------------------------------------------
# Anthropic messages


def messages_usage(usage: dict[str, Any] | None, *, output: bool = True) -> dict[str, Any]:
    tokens, read, write, out, reasoning = _usage_numbers(usage)
    body: dict[str, Any] = {
        "input_tokens": tokens - read - write,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": out if output else 1,
    }
    if output:
        body["output_tokens_details"] = {"thinking_tokens": reasoning}
        body["cost"] = round(cost_usd(tokens, out), 9)
    return body


def named(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {dumps(event)}\n\n"


def messages_error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message}}


class _Blocks:
    """Opens and closes content blocks in order (one open at a time), signing thinking blocks."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.index = -1
        self.open: str | None = None
        self.thinking: list[str] = []

    def start(self, kind: str, block: dict[str, Any]) -> None:
        self.stop()
        self.index += 1
        self.open = kind
        self.frames.append(named({"type": "content_block_start", "index": self.index, "content_block": block}))

    def delta(self, delta: dict[str, Any]) -> None:
        self.frames.append(named({"type": "content_block_delta", "index": self.index, "delta": delta}))

    def stop(self) -> None:
        if self.open is None:
            return
        if self.open == "thinking":
            self.delta({"type": "signature_delta", "signature": signature("".join(self.thinking))})
            self.thinking = []
        self.frames.append(named({"type": "content_block_stop", "index": self.index}))
        self.open = None


def messages_frames(lines: list[str], model: str, message_id: str, start_usage: dict[str, Any] | None) -> list[str]:
    """The turn as Anthropic Messages SSE frames; `start_usage` is the turn's usage for `message_start`."""
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": messages_usage(start_usage, output=False),
    }
    blocks = _Blocks()
    blocks.frames += [named({"type": "message_start", "message": message}), named({"type": "ping"})]
    for part in parts(lines):
        if isinstance(part, str):
            blocks.frames.append(f"event: content_block_delta\ndata: {part}\n\n")
            continue
        kind = part.get("type")
        if kind == "reasoning-delta":
            if blocks.open != "thinking":
                blocks.start("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            blocks.thinking.append(part["text"])
            blocks.delta({"type": "thinking_delta", "thinking": part["text"]})
        elif kind == "text-delta":
            if blocks.open != "text":
                blocks.start("text", {"type": "text", "text": ""})
            blocks.delta({"type": "text_delta", "text": part["text"]})
        elif kind == "tool-call":
            arguments = part["input"] if isinstance(part["input"], str) else dumps(part["input"])
            blocks.start(
                "tool_use", {"type": "tool_use", "id": part["toolCallId"], "name": part["toolName"], "input": {}}
            )
            cut = max(1, len(arguments) // 2)
            for piece in (arguments[:cut], arguments[cut:]):
                blocks.delta({"type": "input_json_delta", "partial_json": piece})
            blocks.stop()
        elif kind == "error":
            return [*blocks.frames, named(messages_error(*inband_status(part["error"])))]
        elif kind == "finish":
            if part.get("rawFinishReason") in NETWORK_FAILURES:
                return [*blocks.frames, named(messages_error(529, "The model provider dropped the connection"))]
            blocks.stop()
            stop = {"stop_reason": _STOP_REASONS.get(part["finishReason"], "end_turn"), "stop_sequence": None}
            usage = messages_usage(part.get("totalUsage"))
            blocks.frames.append(named({"type": "message_delta", "delta": stop, "usage": usage}))
            return [*blocks.frames, named({"type": "message_stop"})]
    return blocks.frames  # no finish: the body just ends (truncated)


def fold_messages(frames: list[str]) -> dict[str, Any] | None:
    """A non-streamed ``message`` from the frames; None when the turn failed."""
    message: dict[str, Any] | None = None
    pieces: dict[int, list[str]] = {}
    for frame in frames:
        event = json.loads(frame.split("data: ", 1)[1])
        kind = event["type"]
        if kind == "error":
            return None
        if kind == "message_start":
            message = event["message"]
        elif message is not None and kind == "content_block_start":
            message["content"].append(event["content_block"])
        elif message is not None and kind == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                pieces.setdefault(event["index"], []).append(delta["partial_json"])
        elif message is not None and kind == "message_delta":
            message.update(event["delta"])
            message["usage"] = event["usage"]
        elif kind == "message_stop" and message is not None:
            for index, json_pieces in pieces.items():
                message["content"][index]["input"] = json.loads("".join(json_pieces))
            return message
    return None
