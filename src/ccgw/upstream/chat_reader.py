"""`/provider/v1/chat/completions` stream (OpenAI `chat.completion.chunk` SSE) → turn events.

The Provider API does not normalise reasoning: DeepSeek sends `delta.reasoning` with
`reasoning_details` (`reasoning.text`), GLM/Qwen/Kimi `delta.reasoning_content`, OpenAI models
`delta.reasoning` with a `reasoning.summary` detail (upstream-protocol.md §8). One scalar is read per
delta, in that order, and the details only when no scalar came, so no family's reasoning is lost or doubled.

Tool calls arrive as fragments (`index`, then `id` and `function.name`, then `arguments` pieces); each
is emitted once complete, at the `finish_reason`, in index order. The usage comes after the
`finish_reason` (ccgw always asks for it with `stream_options.include_usage`), so the turn ends with the
usage chunk, or at the end of the body when none comes; a body that ends before any `finish_reason` is
truncated.
"""

from __future__ import annotations

from typing import Any

from ccgw import errors
from ccgw.upstream import failures
from ccgw.upstream.events import Event, FinishReason, ReasoningDelta, TextDelta, Usage, details, number
from ccgw.upstream.provider_reader import ProviderReader, cost_of

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def reasoning_text(delta: dict[str, Any]) -> str:
    """The reasoning in a delta, whichever family's field carries it."""
    for key in ("reasoning_content", "reasoning"):
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    details = delta.get("reasoning_details")
    pieces = []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict):
            text = detail.get("text") or detail.get("summary")
            pieces.append(text if isinstance(text, str) else "")
    return "".join(pieces)


def chat_usage(raw: dict[str, Any], payload: dict[str, Any]) -> Usage:
    prompt, completion = details(raw, "prompt_tokens_details"), details(raw, "completion_tokens_details")
    return Usage(
        input_tokens=number(raw.get("prompt_tokens")),
        cache_read_tokens=number(prompt.get("cached_tokens")),
        cache_write_tokens=number(prompt.get("cache_write_tokens")) or number(prompt.get("cache_creation_tokens")),
        output_tokens=number(raw.get("completion_tokens")),
        reasoning_tokens=number(completion.get("reasoning_tokens")),
        cost_usd=cost_of(raw, payload),
    )


class ChatReader(ProviderReader):
    def __init__(self) -> None:
        super().__init__()
        self._calls: dict[int, list[Any]] = {}  # index → [id, name, argument pieces]
        self._finish: FinishReason | None = None

    def read(self, payload: dict[str, Any]) -> list[Event]:
        if payload.get("error"):
            return [self.failed(failures.from_provider_error(payload))]
        out: list[Event] = []
        for choice in payload.get("choices") or ():
            if not isinstance(choice, dict) or self.terminal is not None:
                continue
            delta = choice.get("delta")
            out.extend(self._delta(delta if isinstance(delta, dict) else {}))
            if choice.get("finish_reason"):
                out.extend(self._finish_reason(str(choice["finish_reason"])))
        usage = payload.get("usage")
        if isinstance(usage, dict) and self.terminal is None:
            self.usage = chat_usage(usage, payload)
            if self._finish is not None:
                out.append(self._close())
        return out

    def _delta(self, delta: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        thought = reasoning_text(delta)
        if thought:
            self.saw_content()
            out.append(ReasoningDelta(thought))
        if isinstance(delta.get("content"), str) and delta["content"]:
            self.saw_content()
            out.append(TextDelta(delta["content"]))
        for position, call in enumerate(delta.get("tool_calls") or ()):
            if not isinstance(call, dict):
                continue
            index = call["index"] if isinstance(call.get("index"), int) else position
            slot = self._calls.setdefault(index, [None, None, []])
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            slot[0] = slot[0] or call.get("id")
            slot[1] = slot[1] or function.get("name")
            if isinstance(function.get("arguments"), str):
                slot[2].append(function["arguments"])
        return out

    def _finish_reason(self, raw: str) -> list[Event]:
        if raw == "error":
            return [self.failed(errors.UpstreamError("Command Code's model provider failed (finish_reason: error)"))]
        self._finish = _FINISH.get(raw, "stop")
        out: list[Event] = []
        for index in sorted(self._calls):
            call_id, name, pieces = self._calls[index]
            out.append(self.tool_call(call_id, name, "".join(pieces)))
            if self.terminal is not None:
                break
        return out

    def _close(self) -> Event:
        assert self._finish is not None
        return self.finished(self._finish, calls=bool(self._calls))

    def end(self) -> list[Event]:
        if self.terminal is None and self._finish is not None:
            return [self._close()]  # no usage chunk came: the turn still finished
        return super().end()
