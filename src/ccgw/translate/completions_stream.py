"""Turn events → OpenAI legacy `text_completion` chunks, and the fold into one completion.

Only answer text is sent: the endpoint has no place for reasoning (its tokens still count in usage).
Invariants: every choice gets exactly one chunk with a `finish_reason`; with `include_usage`, one
usage chunk with empty `choices` comes last; a failure produces one error payload and then nothing
(no `[DONE]`), so an editor never inserts a cut-off suggestion as if it were complete.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import GatewayError, error_body
from ccgw.translate.chat_stream import usage_payload
from ccgw.upstream.events import Event, Failure, Finish, TextDelta, Usage


class CompletionsStream:
    def __init__(self, *, completion_id: str, model: str, created: int, include_usage: bool = False) -> None:
        self._base = {"id": completion_id, "object": "text_completion", "created": created, "model": model}
        self._include_usage = include_usage
        self.usage = Usage()
        self.failed: GatewayError | None = None

    def _chunk(self, index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
        return {**self._base, "choices": [choice]}

    def start(self) -> list[dict[str, Any]]:
        return []

    def feed(self, index: int, event: Event) -> list[dict[str, Any]]:
        if self.failed is not None:
            return []
        if isinstance(event, TextDelta):
            return [self._chunk(index, event.text)]
        if isinstance(event, Finish):
            self.usage.add(event.usage)
            return [self._chunk(index, "", "stop" if event.reason == "tool_calls" else event.reason)]
        if isinstance(event, Failure):
            self.failed = event.error
            return [error_body(event.error, "openai")]
        return []  # reasoning, and tool calls (none were offered; such an answer finishes as `stop`)

    def finish(self) -> list[dict[str, Any]]:
        if self.failed is not None or not self._include_usage:
            return []
        return [{**self._base, "choices": [], "usage": usage_payload(self.usage)}]


def fold(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Accumulate the chunks into one `text_completion` (the non-streaming answer)."""
    texts: dict[int, list[str]] = {}
    finishes: dict[int, str | None] = {}
    usage: dict[str, Any] | None = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            texts.setdefault(choice["index"], []).append(choice["text"])
            finishes[choice["index"]] = choice["finish_reason"] or finishes.get(choice["index"])
    base = {k: chunks[-1][k] for k in ("id", "object", "created", "model")}
    choices = [
        {"text": "".join(parts), "index": index, "logprobs": None, "finish_reason": finishes.get(index)}
        for index, parts in sorted(texts.items())
    ]
    return {**base, "choices": choices, "usage": usage, "system_fingerprint": None}
