"""Deterministic token accounting of the fake ``/alpha/generate`` (shapes from upstream-protocol.md §3.2).

The upstream reports AI SDK v5 camelCase usage; the fake derives every number from the request so a
test can assert exact counts:

- ``inputTokens = text_tokens(C)``, where ``C = json.dumps([system, messages, tools],
  separators=(",", ":"), ensure_ascii=False)`` over ``params.system`` (``""`` when absent),
  ``params.messages`` and ``params.tools`` (``[]`` when absent), and ``text_tokens`` counts four
  ASCII characters as one token and every other character as one token each (as real tokenizers
  roughly do for CJK text): ``ceil((len(C) - W) / 4) + W`` with ``W = (len(C.encode()) - len(C)) // 2``.
  Key order does not change it. When the system prompt is
  empty (absent, ``""``, ``[]`` or blocks with only empty texts) the upstream injects its default
  agent prompt (§2.2), which adds ``DEFAULT_PROMPT_TOKENS = 7396``.
- ``cacheReadTokens = min(FakeState.cache_read_tokens, inputTokens)`` when set, else 0.
  ``cacheWriteTokens`` is nonzero only in the ``cache_write`` scenario (capped at the uncached rest).
  ``noCacheTokens = inputTokens - cacheReadTokens - cacheWriteTokens``.
- ``outputTokens = text deltas + reasoning deltas + 5 × tool calls`` (a tool call is one tool-call id,
  whether it was announced by ``tool-input-*``, ``tool-call`` or both); ``reasoningTokens`` = reasoning
  deltas; ``textTokens = outputTokens - reasoningTokens``; ``totalTokens = input + output``.
- ``providerMetadata.gateway.cost = format((input * 0.27 + output * 1.1) / 1e6, ".9f")`` (USD string).
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

DEFAULT_PROMPT_TOKENS: Final = 7396
DEFAULT_PROMPT_BREAKDOWN: Final = 11903
TOOL_CALL_TOKENS: Final = 5
_compact: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
INPUT_USD_PER_MTOK: Final = 0.27
OUTPUT_USD_PER_MTOK: Final = 1.1


def system_text(system: Any) -> str:
    """The system prompt as text; ``params.system`` is a string or an array of text blocks (§2.2)."""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "".join(b.get("text", "") for b in system if isinstance(b, dict))
    return ""


def system_is_empty(system: Any) -> bool:
    return system_text(system) == ""


def text_tokens(text: str) -> int:
    """ASCII: four characters a token; other characters: about one token each (W from UTF-8 length)."""
    wide = (len(text.encode()) - len(text)) // 2
    return math.ceil((len(text) - wide) / 4) + wide


def input_tokens(params: dict[str, Any]) -> int:
    system = params.get("system")
    canonical = _compact(
        [system if system is not None else "", params.get("messages") or [], params.get("tools") or []]
    )
    tokens = text_tokens(canonical)
    if system_is_empty(system):
        tokens += DEFAULT_PROMPT_TOKENS
    return tokens


def cost_usd(input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * INPUT_USD_PER_MTOK + output_tokens * OUTPUT_USD_PER_MTOK) / 1e6


def cost_string(input_tokens: int, output_tokens: int) -> str:
    return format(cost_usd(input_tokens, output_tokens), ".9f")


def build_usage(
    input_tokens: int,
    *,
    text_deltas: int,
    reasoning_deltas: int = 0,
    tool_calls: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
) -> dict[str, Any]:
    """The ``totalUsage`` object of ``finish`` (``finish-step.usage`` adds ``raw``)."""
    output = text_deltas + reasoning_deltas + TOOL_CALL_TOKENS * tool_calls
    details: dict[str, int] = {
        "noCacheTokens": input_tokens - cache_read - cache_write,
        "cacheReadTokens": cache_read,
    }
    if cache_write:
        details["cacheWriteTokens"] = cache_write
    return {
        "inputTokens": input_tokens,
        "inputTokenDetails": details,
        "outputTokens": output,
        "outputTokenDetails": {"textTokens": output - reasoning_deltas, "reasoningTokens": reasoning_deltas},
        "totalTokens": input_tokens + output,
        "reasoningTokens": reasoning_deltas,
        "cachedInputTokens": cache_read,
    }


def cache_read_for(input_tokens: int, configured: int | None) -> int:
    return min(configured, input_tokens) if configured is not None else 0


def expected_usage(
    body: dict[str, Any],
    *,
    text_deltas: int = 3,
    reasoning_deltas: int = 0,
    tool_calls: int = 0,
    cache_read_tokens: int | None = None,
    cache_write_tokens: int = 0,
) -> dict[str, Any]:
    """The ``totalUsage`` the fake reports for ``body`` (defaults: the default ``text`` answer).

    Pass the scenario's counts (e.g. ``reasoning_deltas=3`` for ``reasoning``) and the value of
    ``FakeState.cache_read_tokens`` if the test set it.
    """
    tokens = input_tokens(body.get("params") or {})
    cache_read = cache_read_for(tokens, cache_read_tokens)
    return build_usage(
        tokens,
        text_deltas=text_deltas,
        reasoning_deltas=reasoning_deltas,
        tool_calls=tool_calls,
        cache_read=cache_read,
        cache_write=min(cache_write_tokens, tokens - cache_read),
    )
