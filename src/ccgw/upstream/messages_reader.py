"""`/provider/v1/messages` stream (Anthropic Messages SSE) → turn events.

Standard Anthropic events (upstream-protocol.md §8): `message_start` (input usage), per block
`content_block_start` / `_delta`* / `_stop`, `message_delta` (stop reason, final usage), `message_stop`,
`ping` anywhere. Thinking blocks arrive signed (`signature_delta`); the signature must travel with the
block for an Anthropic client to replay it, so the last thinking delta of a block is held back until
the block stops and then carries the signature (the block ends with it, see
:class:`~ccgw.upstream.events.ReasoningDelta`). A `tool_use` block becomes one tool call when it stops.

The turn finishes at `message_stop` (or at the end of the body once a stop reason came). A `pause_turn`
stop is a failure here: only server tools pause a turn, and ccgw sends none.
"""

from __future__ import annotations

from typing import Any

from ccgw import errors
from ccgw.jsonutil import dumps_str
from ccgw.upstream import failures
from ccgw.upstream.events import Event, FinishReason, ReasoningDelta, TextDelta, Usage, number
from ccgw.upstream.provider_reader import ProviderReader, cost_of

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


class MessagesReader(ProviderReader):
    def __init__(self) -> None:
        super().__init__()
        self._raw: dict[str, int] = {}  # Anthropic's usage fields as last reported
        self._reasoning_tokens = 0
        self._blocks: dict[int, dict[str, Any]] = {}
        self._stop: str | None = None
        self._stop_sequence: str | None = None
        self._calls = False

    def read(self, event: dict[str, Any]) -> list[Event]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            self._usage(message.get("usage") if isinstance(message, dict) else None, event)
        elif kind == "content_block_start":
            return self._start(event)
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "content_block_stop":
            return self._stop_block(event)
        elif kind == "message_delta":
            delta = event.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            self._stop = delta.get("stop_reason") or self._stop
            self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
            self._usage(event.get("usage"), event)
        elif kind == "message_stop":
            return [self._finish()]
        elif kind == "error":
            return [self.failed(failures.from_provider_error(event))]
        return []  # ping, and event types yet to come

    def _usage(self, raw: Any, event: dict[str, Any]) -> None:
        if not isinstance(raw, dict):
            return
        self._raw.update({name: number(raw[name]) for name in _USAGE_FIELDS if name in raw})
        details = raw.get("output_tokens_details")
        if isinstance(details, dict):
            self._reasoning_tokens = number(details.get("thinking_tokens")) or self._reasoning_tokens
        read, written = self._raw.get("cache_read_input_tokens", 0), self._raw.get("cache_creation_input_tokens", 0)
        self.usage = Usage(
            input_tokens=self._raw.get("input_tokens", 0) + read + written,
            cache_read_tokens=read,
            cache_write_tokens=written,
            output_tokens=self._raw.get("output_tokens", 0),
            reasoning_tokens=self._reasoning_tokens,
            cost_usd=cost_of(raw, event) or self.usage.cost_usd,
        )

    def _start(self, event: dict[str, Any]) -> list[Event]:
        block = event.get("content_block")
        if not isinstance(block, dict) or not isinstance(event.get("index"), int):
            return []
        state: dict[str, Any] = {
            "type": block.get("type"),
            "id": block.get("id"),
            "name": block.get("name"),
            "json": [],
        }
        self._blocks[event["index"]] = state
        if block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
            self.saw_content()
            return [TextDelta(block["text"])]
        if block.get("type") == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            state["held"] = block["thinking"]
        if block.get("type") == "tool_use" and isinstance(block.get("input"), dict) and block["input"]:
            state["input"] = block["input"]
        return []

    def _delta(self, event: dict[str, Any]) -> list[Event]:
        index = event.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        delta = event.get("delta")
        if state is None or not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            self.saw_content()
            return [TextDelta(delta["text"])]
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str) and delta["thinking"]:
            self.saw_content()
            held, state["held"] = state.get("held"), delta["thinking"]
            return [ReasoningDelta(held)] if held else []
        if kind == "signature_delta" and isinstance(delta.get("signature"), str):
            state["signature"] = delta["signature"]
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            state["json"].append(delta["partial_json"])
        return []

    def _stop_block(self, event: dict[str, Any]) -> list[Event]:
        index = event.get("index")
        state = self._blocks.pop(index, None) if isinstance(index, int) else None
        if state is None:
            return []
        if state["type"] == "thinking" and state.get("held"):
            return [ReasoningDelta(state["held"], state.get("signature"))]
        if state["type"] == "tool_use":
            self._calls = True
            whole = state.get("input")  # an input given whole at the block's start, with no deltas
            arguments = "".join(state["json"]) or (dumps_str(whole) if isinstance(whole, dict) else "{}")
            return [self.tool_call(state["id"], state["name"], arguments)]
        return []

    def _finish(self) -> Event:
        if self._stop is None:
            return self.ended()
        if self._stop == "pause_turn":
            message = "Claude paused the answer (a server tool's turn) and ccgw cannot continue it on the Provider API"
            return self.failed(errors.UpstreamError(message))
        sequence = self._stop_sequence if self._stop == "stop_sequence" else None
        return self.finished(_STOP.get(self._stop, "stop"), sequence, calls=self._calls)

    def end(self) -> list[Event]:
        if self.terminal is None and self._stop is not None:
            return [self._finish()]  # the stop reason came; only `message_stop` is missing
        return super().end()
