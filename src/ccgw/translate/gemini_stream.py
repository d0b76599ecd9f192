"""Turn events → Gemini `GenerateContentResponse` chunks, and the fold into one response.

Each chunk carries one candidate (its `index` tells the candidates of `candidateCount` apart): a text
part, a thought part (`thought: true`, only when the client asked with `includeThoughts`), or a
`functionCall` with its `id`. Invariants: every candidate gets exactly one chunk with a `finishReason`
(after its content); `usageMetadata`, summed over the candidates, rides on the last of those; a failure
produces one `{"error": …}` payload and then nothing, so no client takes a broken answer for a `STOP`.

Usage follows Gemini: `promptTokenCount` includes cached tokens (also in `cachedContentTokenCount`),
`candidatesTokenCount` excludes the thoughts (`thoughtsTokenCount`), and the total is their sum.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import GatewayError, error_body
from ccgw.jsonutil import loads
from ccgw.upstream.events import Event, Finish, ReasoningDelta, TextDelta, ToolCall, Usage

FINISH_REASONS = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def usage_metadata(usage: Usage) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(0, usage.output_tokens - usage.reasoning_tokens),
        "totalTokenCount": usage.total_tokens,
    }
    if usage.cache_read_tokens:
        metadata["cachedContentTokenCount"] = usage.cache_read_tokens
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    return metadata


class GeminiStream:
    def __init__(
        self,
        *,
        response_id: str,
        model: str,
        n: int = 1,
        include_thoughts: bool = False,
        tool_ids: dict[str, str] | None = None,
    ) -> None:
        self._base = {"modelVersion": model, "responseId": response_id}
        self._n = n
        self._include_thoughts = include_thoughts
        self._tool_ids = tool_ids or {}
        self._finished = 0
        self.usage = Usage()
        self.failed: GatewayError | None = None

    def _chunk(self, index: int, parts: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        candidate = {"content": {"parts": parts, "role": "model"}, "index": index, **fields}
        return {"candidates": [candidate], **self._base}

    def start(self) -> list[dict[str, Any]]:
        return []  # Gemini streams have no opening event

    def feed(self, index: int, event: Event) -> list[dict[str, Any]]:
        if self.failed is not None:
            return []
        if isinstance(event, TextDelta):
            return [self._chunk(index, [{"text": event.text}])]
        if isinstance(event, ReasoningDelta):
            return [self._chunk(index, [{"text": event.text, "thought": True}])] if self._include_thoughts else []
        if isinstance(event, ToolCall):
            call = {"id": self._tool_ids.get(event.id, event.id), "name": event.name, "args": loads(event.arguments)}
            return [self._chunk(index, [{"functionCall": call}])]
        if isinstance(event, Finish):
            self.usage.add(event.usage)
            self._finished += 1
            chunk = self._chunk(index, [], finishReason=FINISH_REASONS[event.reason])
            if self._finished == self._n:
                chunk["usageMetadata"] = usage_metadata(self.usage)
            return [chunk]
        self.failed = event.error
        return [error_body(event.error, "google")]

    def finish(self) -> list[dict[str, Any]]:
        return []


def fold(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Accumulate the chunks into one `GenerateContentResponse` (the non-streaming answer)."""
    candidates: dict[int, dict[str, Any]] = {}
    folded: dict[str, Any] = {}
    for chunk in chunks:
        folded.update({k: v for k, v in chunk.items() if k != "candidates"})
        for candidate in chunk.get("candidates", ()):
            state = candidates.setdefault(candidate["index"], {"content": {"parts": [], "role": "model"}})
            parts = state["content"]["parts"]
            for part in candidate["content"]["parts"]:
                last = parts[-1] if parts else None
                if (
                    "text" in part
                    and last is not None
                    and "text" in last
                    and last.get("thought") == part.get("thought")
                ):
                    parts[-1] = {**last, "text": last["text"] + part["text"]}
                else:
                    parts.append(part)
            if "finishReason" in candidate:
                state["finishReason"] = candidate["finishReason"]
    ordered = [{**state, "index": index} for index, state in sorted(candidates.items())]
    return {"candidates": ordered, **folded}
