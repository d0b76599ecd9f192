"""Turn events → Anthropic Messages stream events, and the fold into a `message`.

Claude Code's parser is strict (client-notes 13), so the stream keeps these invariants: exactly one
`message_start` (with a usage object) first; a block is opened only for a non-empty delta and every
block opened is stopped before the next one starts; `message_delta` with `stop_reason` and usage
precedes `message_stop`, which is last. A failure ends the stream with one `error` event and nothing
else (never a fabricated `end_turn`).

Usage is Anthropic's disjoint form: `input_tokens` excludes cache reads and writes (client-notes 3).
The upstream reports usage only at the end, so `message_start` carries zeros and `message_delta` the
real counts, which the SDKs and Claude Code read from there.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ccgw.errors import GatewayError, error_body
from ccgw.jsonutil import loads
from ccgw.upstream.events import Event, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

SIGNATURE_PREFIX = "ccgw."  # ccgw's own stand-in signatures start so: no provider can verify them
STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}


def usage_payload(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.uncached_input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }


def _signature(thinking: list[str]) -> str:
    """An opaque stand-in: ccgw never verifies it, but clients expect thinking blocks to carry one."""
    digest = hashlib.sha256("".join(thinking).encode()).digest()[:24]
    return SIGNATURE_PREFIX + base64.b64encode(digest).decode()


class MessagesStream:
    def __init__(self, *, message_id: str, model: str, tool_ids: dict[str, str] | None = None) -> None:
        self._id = message_id
        self._model = model
        self._tool_ids = tool_ids or {}
        self._index = -1
        self._open: str | None = None  # "thinking" | "text" while a block is open
        self._thinking: list[str] = []
        self.failed: GatewayError | None = None

    def start(self) -> list[dict[str, Any]]:
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_payload(Usage()),
        }
        return [{"type": "message_start", "message": message}]

    def _close(self, signature: str | None = None) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        out: list[dict[str, Any]] = []
        if self._open == "thinking":
            delta = {"type": "signature_delta", "signature": signature or _signature(self._thinking)}
            out.append({"type": "content_block_delta", "index": self._index, "delta": delta})
            self._thinking = []
        self._open = None
        out.append({"type": "content_block_stop", "index": self._index})
        return out

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        self._index += 1
        self._open = kind
        out.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return out

    def feed(self, index: int, event: Event) -> list[dict[str, Any]]:
        if self.failed is not None:
            return []
        out: list[dict[str, Any]] = []
        if isinstance(event, ReasoningDelta):
            if self._open != "thinking":
                out = self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            self._thinking.append(event.text)
            delta = {"type": "thinking_delta", "thinking": event.text}
            out.append({"type": "content_block_delta", "index": self._index, "delta": delta})
            # The provider's own signature (Claude) ends its block, and lets the client replay it.
            return out + self._close(event.signature) if event.signature else out
        if isinstance(event, TextDelta):
            if self._open != "text":
                out = self._open_block("text", {"type": "text", "text": ""})
            delta = {"type": "text_delta", "text": event.text}
            return [*out, {"type": "content_block_delta", "index": self._index, "delta": delta}]
        if isinstance(event, ToolCall):
            call_id = self._tool_ids.get(event.id, event.id)
            out = self._open_block("tool_use", {"type": "tool_use", "id": call_id, "name": event.name, "input": {}})
            delta = {"type": "input_json_delta", "partial_json": event.arguments}
            out.append({"type": "content_block_delta", "index": self._index, "delta": delta})
            return out + self._close()
        if isinstance(event, Finish):
            reason = "stop_sequence" if event.stop_sequence else STOP_REASONS[event.reason]
            stop: dict[str, Any] = {"stop_reason": reason, "stop_sequence": event.stop_sequence}
            return [*self._close(), {"type": "message_delta", "delta": stop, "usage": usage_payload(event.usage)}]
        self.failed = event.error
        return [error_body(event.error, "anthropic")]

    def finish(self) -> list[dict[str, Any]]:
        return [] if self.failed is not None else [{"type": "message_stop"}]


def fold(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """Accumulate the stream into one `message` (the non-streaming answer)."""
    message: dict[str, Any] = {}
    partial_json: dict[int, list[str]] = {}
    for payload in payloads:
        kind = payload["type"]
        if kind == "message_start":
            message = {**payload["message"], "content": []}
        elif kind == "content_block_start":
            message["content"].append(dict(payload["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][payload["index"]], payload["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                partial_json.setdefault(payload["index"], []).append(delta["partial_json"])
        elif kind == "message_delta":
            message.update(payload["delta"])
            message["usage"] = payload["usage"]
    for index, pieces in partial_json.items():
        message["content"][index]["input"] = loads("".join(pieces))
    return message
