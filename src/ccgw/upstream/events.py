"""Upstream stream parts (AI SDK v5 `fullStream`, upstream-protocol.md §3.2) → ccgw's turn events.

Every client protocol is translated from the small vocabulary defined here, so the quirks of the
upstream are handled once, in :class:`TurnReader`:

* tool calls come only from the authoritative `tool-call` event; provisional `tool-input-*`
  fragments are never forwarded, and a `tool-input-start` that never gets its `tool-call` is a
  failure, not a call (§6.3);
* a `finish` whose raw reason is a network error, an in-band `error`, `abort`, an empty answer and
  an end of stream without `finish` are all failures (§6.7, client-notes 8); a line that does not
  parse is skipped and counted, as the CLI skips it (§11), so it only matters when no `finish` comes;
* a `finish` whose raw reason is `pause_turn` is not the end: the reader sets :attr:`TurnReader.paused`
  and its owner sends the same request again (up to :data:`MAX_CONTINUATIONS` times, as the CLI
  does), feeding the continuation to the same reader, so the client gets one answer with the usage
  of every part summed;
* events after the terminal one only update usage and cost (`provider-metadata`,
  `cache-write-tokens`); everything else after it is ignored (§6.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from ccgw import errors
from ccgw.jsonutil import JSONDecodeError, dumps_str, loads
from ccgw.upstream import failures
from ccgw.upstream.ndjson import MALFORMED

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

MAX_CONTINUATIONS = 5  # the CLI's limit on re-POSTs after a `pause_turn` finish

_NETWORK_FAILURES = frozenset(
    {
        "network-error",
        "network_error",
        "connection_error",
        "connection-error",
        "upstream_error",
        "upstream-error",
    }
)
_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "tool-calls": "tool_calls",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "length": "length",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "model_context_window_exceeded": "length",
    "content-filter": "content_filter",
    "content_filter": "content_filter",
}


@dataclass(slots=True)
class Usage:
    """Token counts as the upstream reports them; `input_tokens` includes cache reads and writes."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def uncached_input_tokens(self) -> int:
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cost_usd += other.cost_usd


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str
    # Set on the last delta of a thinking block whose provider signed it (Claude on the Provider API):
    # the block ends there, and an Anthropic client gets the signature to replay the block with.
    signature: str | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text of an object


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None


@dataclass(slots=True)
class Failure:
    error: errors.GatewayError
    usage: Usage = field(default_factory=Usage)


Event = TextDelta | ReasoningDelta | ToolCall | Finish | Failure


class StreamReader(Protocol):
    """What reads one upstream generation (a decoded event at a time) into turn events: the CLI
    endpoint's :class:`TurnReader`, or a Provider API reader. Exactly one terminal event comes last."""

    usage: Usage
    terminal: Finish | Failure | None
    skipped: int
    paused: bool
    continuations: int

    def feed(self, event: dict[str, Any]) -> list[Event]: ...
    def end(self) -> list[Event]: ...
    def fail(self, error: errors.GatewayError) -> list[Event]: ...
    def resume(self) -> None: ...


def number(value: Any) -> int:
    """A token count as the upstream sent it: a positive int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def details(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """A usage's nested details object, or an empty one when it is missing or not an object."""
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def parse_usage(raw: Any) -> Usage:
    """AI SDK usage (camelCase, with the deprecated top-level aliases as fallbacks)."""
    if not isinstance(raw, dict):
        return Usage()
    inputs, outputs = details(raw, "inputTokenDetails"), details(raw, "outputTokenDetails")
    return Usage(
        input_tokens=number(raw.get("inputTokens")),
        cache_read_tokens=number(inputs.get("cacheReadTokens")) or number(raw.get("cachedInputTokens")),
        cache_write_tokens=number(inputs.get("cacheWriteTokens")),
        output_tokens=number(raw.get("outputTokens")),
        reasoning_tokens=number(outputs.get("reasoningTokens")) or number(raw.get("reasoningTokens")),
    )


def _cost(metadata: Any) -> float:
    gateway = metadata.get("gateway") if isinstance(metadata, dict) else None
    value = gateway.get("cost") if isinstance(gateway, dict) else None
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def tool_arguments(raw: Any) -> str | None:
    """The tool input as JSON object text, or None when it is missing or not an object."""
    if isinstance(raw, str):
        try:
            raw = loads(raw)
        except JSONDecodeError:
            return None
    return dumps_str(raw) if isinstance(raw, dict) else None


class TurnReader:
    """Folds upstream events into turn events.

    Invariants: exactly one terminal event (:class:`Finish` or :class:`Failure`) is produced and it
    is the last; :attr:`usage` always holds the best known usage, also after a failure.
    """

    __slots__ = (
        "_calls",
        "_content",
        "_earlier",
        "_open_inputs",
        "_step_cost",
        "_step_usage",
        "_write_extra",
        "continuations",
        "paused",
        "skipped",
        "terminal",
        "usage",
    )

    def __init__(self) -> None:
        self.usage = Usage()
        self.terminal: Finish | Failure | None = None
        self.skipped = 0  # lines that did not parse
        self.paused = False  # a `pause_turn` finish arrived: the owner must continue the turn
        self.continuations = 0
        self._earlier = Usage()  # the usage of the parts before the last `pause_turn`
        self._content = False
        self._calls: set[str] = set()
        self._open_inputs: dict[str, str] = {}
        self._step_usage = Usage()
        self._step_cost = 0.0
        self._write_extra = 0

    def resume(self) -> None:
        """The continuation of a paused turn is about to be fed (a fresh stream)."""
        self.paused = False
        self.continuations += 1
        self._step_usage, self._step_cost, self._write_extra = Usage(), 0.0, 0

    def feed(self, event: dict[str, Any]) -> list[Event]:
        kind = event.get("type")
        if self.terminal is not None:
            self._after_terminal(kind, event)
            return []
        if kind == "text-delta":
            text = event.get("text")
            if text is None:
                text = event.get("delta")
            if isinstance(text, str) and text:
                self._content = True
                return [TextDelta(text)]
            return []
        if kind == "reasoning-delta":
            text = event.get("text") if "text" in event else event.get("delta")
            if isinstance(text, str) and text:
                self._content = True
                return [ReasoningDelta(text)]
            return []
        if kind == "tool-call":
            return self._tool_call(event)
        if kind == "tool-input-start":
            call_id = event.get("id") or event.get("toolCallId")
            if isinstance(call_id, str):
                self._open_inputs[call_id] = str(event.get("toolName") or "")
            return []
        if kind == "finish-step":
            self._step_usage.add(parse_usage(event.get("usage")))
            self._step_cost += _cost(event.get("providerMetadata"))
            return []
        if kind == "finish":
            return self._finish(event)
        if kind == "cache-write-tokens":
            self._write_extra += number(event.get("tokens"))
            return []
        if kind == "error":
            return [self._fail(failures.from_event(event))]
        if kind == "abort":
            return [self._fail(errors.UpstreamError("Command Code aborted the generation"))]
        if kind == MALFORMED:
            self.skipped += 1
            return []
        return []  # start, start-step, *-start/end, tool-input-delta, metadata, unknown types

    def end(self) -> list[Event]:
        """The upstream closed the stream."""
        if self.terminal is not None:
            return []
        skipped = f"; {self.skipped} line(s) that did not parse were skipped" if self.skipped else ""
        message = f"Command Code ended the stream before finishing the answer (truncated{skipped})"
        return [self._fail(errors.UpstreamError(message, code="upstream_truncated"))]

    def fail(self, error: errors.GatewayError) -> list[Event]:
        """A failure found outside the stream (timeout, connection loss)."""
        return [] if self.terminal is not None else [self._fail(error)]

    def _tool_call(self, event: dict[str, Any]) -> list[Event]:
        call_id = event.get("toolCallId") or event.get("id")
        name = event.get("toolName") or event.get("name")
        raw = next((event[k] for k in ("input", "args", "arguments") if k in event), None)
        if not isinstance(call_id, str) or not call_id or call_id in self._calls:
            return []  # a late duplicate of a call already emitted
        self._open_inputs.pop(call_id, None)
        arguments = tool_arguments(raw)
        if not isinstance(name, str) or not name or arguments is None:
            return [self._fail(errors.UpstreamError(f"Command Code sent a malformed tool call ({call_id})"))]
        self._calls.add(call_id)
        self._content = True
        return [ToolCall(call_id, name, arguments)]

    def _finish(self, event: dict[str, Any]) -> list[Event]:
        usage = parse_usage(event.get("totalUsage"))
        if usage.input_tokens == 0 and usage.output_tokens == 0:
            usage = replace(self._step_usage)
        usage.cost_usd = self._step_cost
        if usage.cache_write_tokens == 0:
            usage.cache_write_tokens = self._write_extra
        usage.add(self._earlier)
        self.usage = usage
        raw = str(event.get("rawFinishReason") or event.get("finishReason") or "stop")
        if raw == "pause_turn" and self.continuations < MAX_CONTINUATIONS:
            self._earlier, self.paused = replace(usage), True
            return []
        return [self._end(event, raw, usage)]

    def _end(self, event: dict[str, Any], raw: str, usage: Usage) -> Event:
        if raw in _NETWORK_FAILURES or event.get("finishReason") == "error":
            return self._fail(
                errors.UpstreamError(f"Command Code's model provider dropped the connection ({raw})"), usage
            )
        reason = _FINISH_REASONS.get(raw) or _FINISH_REASONS.get(str(event.get("finishReason")), "stop")
        if self._open_inputs and reason != "length":
            names = ", ".join(sorted(n or i for i, n in self._open_inputs.items()))
            return self._fail(errors.UpstreamError(f"Command Code finished with an incomplete tool call ({names})"))
        if not self._content and reason == "stop" and usage.output_tokens == 0:
            return self._fail(errors.UpstreamError("Command Code returned an empty answer", code="empty_response"))
        if reason == "stop" and self._calls:
            reason = "tool_calls"
        self.terminal = Finish(reason, usage)
        return self.terminal

    def _fail(self, error: errors.GatewayError, usage: Usage | None = None) -> Failure:
        if usage is not None:
            self.usage = usage
        self.terminal = Failure(error, self.usage)
        return self.terminal

    def _after_terminal(self, kind: Any, event: dict[str, Any]) -> None:
        if kind == "provider-metadata" and self.usage.cost_usd == 0.0:
            self.usage.cost_usd = _cost(event.get("providerMetadata"))
        elif kind == "cache-write-tokens" and self.usage.cache_write_tokens == 0:
            self.usage.cache_write_tokens = number(event.get("tokens"))
