"""Turn events → OpenAI `chat.completion.chunk` payloads, and the fold into a `chat.completion`.

Chunks follow what the OpenAI SDKs accumulate: a tool call's first delta carries `index`, `id`,
`type` and `function.name` with empty arguments, and its arguments follow; parallel calls keep
their order. Reasoning travels as `reasoning_content`. Usage comes in one last chunk with empty
`choices`, after every finish chunk and before `[DONE]` (client-notes 2).
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import GatewayError, error_body
from ccgw.upstream.events import Event, Finish, ReasoningDelta, TextDelta, ToolCall, Usage


def usage_payload(usage: Usage) -> dict[str, Any]:
    """OpenAI usage: `prompt_tokens` includes cached tokens (client-notes 3)."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


class ChatStream:
    """Translator for n choices.

    Invariants: every choice opens with a role delta and gets exactly one `finish_reason`; with
    `include_usage`, one usage chunk comes last; a failure produces one error payload and then
    nothing (the stream ends without `[DONE]`, so no client mistakes it for a complete answer).
    """

    def __init__(
        self,
        *,
        completion_id: str,
        model: str,
        created: int,
        n: int = 1,
        include_usage: bool = False,
        tool_ids: dict[str, str] | None = None,
    ) -> None:
        self._base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._n = n
        self._include_usage = include_usage
        self._tool_ids = tool_ids or {}
        self._tool_count = [0] * n
        self.usage = Usage()
        self.failed: GatewayError | None = None

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base, "choices": [choice]}

    def start(self) -> list[dict[str, Any]]:
        return [self._chunk(i, {"role": "assistant", "content": ""}) for i in range(self._n)]

    def feed(self, index: int, event: Event) -> list[dict[str, Any]]:
        if self.failed is not None:
            return []
        if isinstance(event, TextDelta):
            return [self._chunk(index, {"content": event.text})]
        if isinstance(event, ReasoningDelta):
            return [self._chunk(index, {"reasoning_content": event.text})]
        if isinstance(event, ToolCall):
            position = self._tool_count[index]
            self._tool_count[index] += 1
            call_id = self._tool_ids.get(event.id, event.id)
            head = {
                "index": position,
                "id": call_id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            body = {"index": position, "function": {"arguments": event.arguments}}
            return [self._chunk(index, {"tool_calls": [head]}), self._chunk(index, {"tool_calls": [body]})]
        if isinstance(event, Finish):
            self.usage.add(event.usage)
            return [self._chunk(index, {}, event.reason)]
        self.failed = event.error
        return [error_body(event.error, "openai")]

    def finish(self) -> list[dict[str, Any]]:
        if self.failed is not None or not self._include_usage:
            return []
        return [{**self._base, "choices": [], "usage": usage_payload(self.usage)}]


def fold(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Accumulate a translated stream into one `chat.completion` (the non-streaming answer)."""
    first = chunks[0]
    choices: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] | None = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", ()):
            state = choices.setdefault(choice["index"], {"content": [], "reasoning": [], "calls": {}, "finish": None})
            delta = choice["delta"]
            if delta.get("content"):
                state["content"].append(delta["content"])
            if delta.get("reasoning_content"):
                state["reasoning"].append(delta["reasoning_content"])
            for call in delta.get("tool_calls", ()):
                slot = state["calls"].setdefault(call["index"], {"id": None, "name": "", "arguments": []})
                slot["id"] = call.get("id", slot["id"])
                slot["name"] += call.get("function", {}).get("name", "")
                slot["arguments"].append(call.get("function", {}).get("arguments", ""))
            state["finish"] = choice.get("finish_reason") or state["finish"]
    return {
        "id": first["id"],
        "object": "chat.completion",
        "created": first["created"],
        "model": first["model"],
        "choices": [_message(index, state) for index, state in sorted(choices.items())],
        "usage": usage,
        "system_fingerprint": None,
    }


def _message(index: int, state: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(state["content"]) or None}
    if state["reasoning"]:
        message["reasoning_content"] = "".join(state["reasoning"])
    if state["calls"]:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": "".join(c["arguments"])},
            }
            for _, c in sorted(state["calls"].items())
        ]
    message["refusal"] = None
    return {"index": index, "message": message, "logprobs": None, "finish_reason": state["finish"]}
