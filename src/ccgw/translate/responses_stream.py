"""Turn events → OpenAI Responses stream events, and the fold into a `response` object.

The sequence is the one the OpenAI SDKs accumulate (`responses.create(stream=True)` and
`responses.stream()`): `response.created`, `response.in_progress`, then each output item from
`response.output_item.added` to `response.output_item.done`, then one terminal event that carries
the whole response. Reasoning travels as a reasoning *summary*: the SDK's accumulator keeps
neither summary nor reasoning-text deltas (it takes items from `output_item.done`), so the choice
follows the clients: summaries are what OpenAI's own models stream, what Responses clients show,
and what they send back in `input`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ccgw.errors import GatewayError, UpstreamError
from ccgw.translate import responses_calls
from ccgw.translate.responses_tools import ToolRoute
from ccgw.upstream.events import Event, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
_ERROR_CODES = frozenset({"server_error", "rate_limit_exceeded"})  # the SDK's codes a ccgw error can have
_TRUNCATED = "Command Code ended the stream before finishing the answer (truncated)"
_ID_PREFIXES = {"reasoning": "rs", "message": "msg"}


def usage_payload(usage: Usage) -> dict[str, Any]:
    """Responses usage: `input_tokens` includes cached tokens, as OpenAI counts them."""
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def _defaults() -> dict[str, Any]:
    return {
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": None,
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


@dataclass(slots=True)
class _Block:
    kind: Literal["reasoning", "message"]
    item_id: str
    index: int
    text: list[str] = field(default_factory=list)

    @property
    def where(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": self.index}


class ResponsesStream:
    """Translator for one answer.

    Invariants: `sequence_number` counts up from 0 over every payload; `response.created` and
    `response.in_progress` come first; at most one reasoning or message item is open at a time,
    and it is closed (all its `.done` events) before another item opens and before the terminal
    event; exactly one terminal event (`response.completed`, `response.incomplete` or
    `response.failed`) comes last, and after it nothing does.
    """

    def __init__(
        self,
        *,
        response_id: str,
        model: str,
        created_at: int,
        request_echo: dict[str, Any],
        tool_ids: dict[str, str] | None = None,
        tool_routes: Mapping[str, ToolRoute] | None = None,
    ) -> None:
        identity = {"id": response_id, "object": "response", "created_at": created_at, "model": model}
        self._response = {**identity, **_defaults(), **request_echo, **identity}  # first to read, last to win
        self._stem = response_id.removeprefix("resp_")
        self._tool_ids = tool_ids or {}
        self._routes = tool_routes or {}
        self._sequence = 0
        self._output: list[dict[str, Any]] = []  # closed items
        self._open: _Block | None = None
        self._ended = False
        self.failed: GatewayError | None = None

    def start(self) -> list[dict[str, Any]]:
        return [
            self._event("response.created", response=self._snapshot("in_progress")),
            self._event("response.in_progress", response=self._snapshot("in_progress")),
        ]

    def feed(self, index: int, event: Event) -> list[dict[str, Any]]:
        if self._ended:
            return []
        if isinstance(event, TextDelta):
            return self._delta("message", event.text)
        if isinstance(event, ReasoningDelta):
            return self._delta("reasoning", event.text)
        if isinstance(event, ToolCall):
            return [*self._close(), *self._tool_call(event)]
        if isinstance(event, Finish):
            reason = _INCOMPLETE.get(event.reason)
            if reason is None:
                return self._end("completed", event.usage)
            return self._end("incomplete", event.usage, incomplete_details={"reason": reason})
        self.failed = event.error
        return self._end("failed", event.usage, error=_error(event.error))

    def finish(self) -> list[dict[str, Any]]:
        """Nothing, after a terminal event; without one the answer was cut, never completed."""
        if self._ended:
            return []
        self.failed = UpstreamError(_TRUNCATED, code="upstream_truncated")
        return self._end("failed", Usage(), error=_error(self.failed))

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return payload

    def _snapshot(self, status: str, **fields: Any) -> dict[str, Any]:
        return {**self._response, "status": status, "output": list(self._output), **fields}

    def _item_id(self, kind: str, index: int) -> str:
        return f"{_ID_PREFIXES[kind]}_{self._stem}_{index}"

    def _delta(self, kind: Literal["reasoning", "message"], text: str) -> list[dict[str, Any]]:
        if not text:
            return []
        events: list[dict[str, Any]] = []
        block = self._open
        if block is None or block.kind != kind:
            events += self._close()
            block, opened = self._begin(kind)
            events += opened
        block.text.append(text)
        if kind == "reasoning":
            events.append(
                self._event("response.reasoning_summary_text.delta", **block.where, summary_index=0, delta=text)
            )
        else:
            events.append(
                self._event("response.output_text.delta", **block.where, content_index=0, delta=text, logprobs=[])
            )
        return events

    def _begin(self, kind: Literal["reasoning", "message"]) -> tuple[_Block, list[dict[str, Any]]]:
        index = len(self._output)
        block = self._open = _Block(kind, self._item_id(kind, index), index)
        if kind == "reasoning":
            item: dict[str, Any] = {"id": block.item_id, "type": "reasoning", "summary": []}
            added = self._event("response.output_item.added", output_index=index, item=item)
            part = self._event(
                "response.reasoning_summary_part.added", **block.where, summary_index=0, part=_summary("")
            )
        else:
            item = {"id": block.item_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}
            added = self._event("response.output_item.added", output_index=index, item=item)
            part = self._event("response.content_part.added", **block.where, content_index=0, part=_output_text(""))
        return block, [added, part]

    def _close(self, status: str = "completed") -> list[dict[str, Any]]:
        block, self._open = self._open, None
        if block is None:
            return []
        text = "".join(block.text)
        if block.kind == "reasoning":
            summary = _summary(text)
            item: dict[str, Any] = {"id": block.item_id, "type": "reasoning", "summary": [summary]}
            events = [
                self._event("response.reasoning_summary_text.done", **block.where, summary_index=0, text=text),
                self._event("response.reasoning_summary_part.done", **block.where, summary_index=0, part=summary),
            ]
        else:
            part = _output_text(text)
            item = {"id": block.item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}
            events = [
                self._event("response.output_text.done", **block.where, content_index=0, text=text, logprobs=[]),
                self._event("response.content_part.done", **block.where, content_index=0, part=part),
            ]
        return [*events, self._item_done(item)]

    def _item_done(self, item: dict[str, Any]) -> dict[str, Any]:
        self._output.append(item)
        return self._event("response.output_item.done", output_index=len(self._output) - 1, item=item)

    def _tool_call(self, call: ToolCall) -> list[dict[str, Any]]:
        """One output item in the shape of the client's tool (function, custom, local shell, tool search)."""
        index = len(self._output)
        route = self._routes.get(call.name)
        item_id = f"{responses_calls.ID_PREFIXES[responses_calls.kind_of(route)]}_{self._stem}_{index}"
        item = responses_calls.call_item(call, route, item_id, self._tool_ids.get(call.id, call.id))
        where = {"item_id": item_id, "output_index": index}
        return [
            self._event("response.output_item.added", output_index=index, item=responses_calls.opened(item)),
            *(self._event(kind, **where, **fields) for kind, fields in responses_calls.deltas(item)),
            self._item_done(item),
        ]

    def _end(self, status: str, usage: Usage, **fields: Any) -> list[dict[str, Any]]:
        events = self._close("completed" if status == "completed" else "incomplete")
        self._ended = True
        response = self._snapshot(status, usage=usage_payload(usage), **fields)
        return [*events, self._event(f"response.{status}", response=response)]


def _error(error: GatewayError) -> dict[str, Any]:
    code = error.code if error.code in _ERROR_CODES else "server_error"
    return {"code": code, "message": error.message}


def fold(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """The response object of a translated stream (the non-streaming answer is the stream, folded)."""
    for payload in reversed(payloads):
        if payload["type"] in ("response.completed", "response.incomplete"):
            response: dict[str, Any] = payload["response"]
            return response
    raise UpstreamError(_TRUNCATED, code="upstream_truncated")
