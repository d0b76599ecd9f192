"""What the Provider API's two stream readers share (upstream-protocol.md §8).

A reader takes the decoded SSE payloads of one `/provider/v1/chat/completions` or `/provider/v1/messages`
response and yields the same turn events as the CLI endpoint's :class:`~ccgw.upstream.events.TurnReader`,
with the same promises: exactly one terminal event, last; tool calls only once complete; an in-band error,
an end of stream before the finish, an empty answer or a malformed tool call are failures, never a
successful finish. The Provider API never pauses a turn, so :attr:`paused` stays False.

Usage is the API's own (OpenAI counts cached tokens inside `prompt_tokens`, Anthropic beside
`input_tokens`; both become ccgw's `input_tokens` with cache included) and the cost is read where the API
puts it: `usage.cost` (USD, a number or a string), else the AI gateway's `provider_metadata.gateway.cost`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from ccgw import errors
from ccgw.upstream.events import Event, Failure, Finish, FinishReason, ToolCall, Usage, tool_arguments
from ccgw.upstream.ndjson import MALFORMED


def cost_of(usage: Any, payload: Mapping[str, Any]) -> float:
    """The USD cost of a request, where the Provider API reports one (0.0 when it does not)."""
    raw = usage.get("cost") if isinstance(usage, Mapping) else None
    if raw is None:
        metadata = payload.get("provider_metadata") or payload.get("providerMetadata")
        gateway = metadata.get("gateway") if isinstance(metadata, Mapping) else None
        raw = gateway.get("cost") if isinstance(gateway, Mapping) else None
    try:
        return max(0.0, float(raw)) if raw is not None and not isinstance(raw, bool) else 0.0
    except (TypeError, ValueError):
        return 0.0


class ProviderReader(abc.ABC):
    """The shared state machine; subclasses read their format in :meth:`read`."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.terminal: Finish | Failure | None = None
        self.skipped = 0
        self.paused = False  # the Provider API has no `pause_turn` continuation (see the README)
        self.continuations = 0
        self._content = False

    def feed(self, event: dict[str, Any]) -> list[Event]:
        if self.terminal is not None:
            self.after_terminal(event)
            return []
        if event.get("type") == MALFORMED:
            self.skipped += 1
            return []
        return self.read(event)

    @abc.abstractmethod
    def read(self, event: dict[str, Any]) -> list[Event]: ...

    def after_terminal(self, event: dict[str, Any]) -> None:
        """Late payloads may still carry the cost."""
        cost = cost_of(event.get("usage"), event)
        if cost and not self.usage.cost_usd:
            self.usage.cost_usd = cost

    def resume(self) -> None:
        raise AssertionError("the Provider API never pauses a turn")

    def end(self) -> list[Event]:
        """The upstream closed the stream."""
        if self.terminal is not None:
            return []
        return [self.ended()]

    def ended(self) -> Event:
        skipped = f"; {self.skipped} line(s) that did not parse were skipped" if self.skipped else ""
        message = f"Command Code ended the stream before finishing the answer (truncated{skipped})"
        return self.failed(errors.UpstreamError(message, code="upstream_truncated"))

    def fail(self, error: errors.GatewayError) -> list[Event]:
        return [] if self.terminal is not None else [self.failed(error)]

    def failed(self, error: errors.GatewayError) -> Failure:
        self.terminal = Failure(error, self.usage)
        return self.terminal

    def tool_call(self, call_id: Any, name: Any, arguments: str) -> Event:
        """A complete tool call, or the failure a malformed one is."""
        parsed = tool_arguments(arguments or "{}")
        if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name or parsed is None:
            return self.failed(errors.UpstreamError(f"Command Code sent a malformed tool call ({call_id})"))
        self._content = True
        return ToolCall(call_id, name, parsed)

    def finished(self, reason: FinishReason, stop_sequence: str | None = None, *, calls: bool = False) -> Event:
        if not self._content and reason == "stop" and self.usage.output_tokens == 0:
            return self.failed(errors.UpstreamError("Command Code returned an empty answer", code="empty_response"))
        if reason == "stop" and calls:
            reason = "tool_calls"
        self.terminal = Finish(reason, self.usage, stop_sequence=stop_sequence)
        return self.terminal

    def saw_content(self) -> None:
        self._content = True
