"""Token estimates without calling the upstream (for `/v1/messages/count_tokens`).

ccgw cannot run each model's tokenizer, so this is a heuristic over the same upstream params a real
request would send: about four characters per token for ASCII text and code, one token per other
character (CJK text is close to that), JSON for tool definitions and calls, a fixed price per image,
and a small overhead per message. The README states how close it comes to the upstream's counts.
"""

from __future__ import annotations

from typing import Any

from ccgw.jsonutil import dumps

PER_REQUEST = 2
PER_MESSAGE = 8  # role markers and the structure around each message
PER_PART = 5
PER_IMAGE = 1200


def text_tokens(text: str) -> int:
    if text.isascii():
        return (len(text) + 3) // 4
    wide = (len(text.encode()) - len(text)) // 2  # most non-ASCII text is 3-byte CJK in UTF-8
    return (len(text) - wide + 3) // 4 + wide


def _part_tokens(part: dict[str, Any]) -> int:
    kind = part.get("type")
    if kind in ("text", "reasoning"):
        return text_tokens(str(part.get("text", "")))
    if kind == "image":
        return PER_IMAGE
    if kind == "tool-call":
        return text_tokens(str(part.get("toolName", ""))) + text_tokens(dumps(part.get("input", {})).decode())
    if kind == "tool-result":
        output = part.get("output") or {}
        return text_tokens(str(output.get("value", "")))
    return 0


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return "".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    return str(system or "")


def estimate_tokens(params: dict[str, Any]) -> int:
    total = PER_REQUEST + text_tokens(_system_text(params.get("system")))
    for message in params.get("messages") or []:
        parts = message.get("content") or []
        total += PER_MESSAGE + sum(PER_PART + _part_tokens(p) for p in parts)
    tools = params.get("tools")
    if tools:
        total += text_tokens(dumps(tools).decode())
    return total
