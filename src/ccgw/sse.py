"""The one encoder for every server-sent-event frame ccgw writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ccgw.jsonutil import dumps

DONE = b"data: [DONE]\n\n"
OPENAI_KEEPALIVE = b": keep-alive\n\n"


def data_frames(payloads: Iterable[Any]) -> bytes:
    """`data:`-only frames (OpenAI chat completions)."""
    return b"".join(b"data: " + dumps(p) + b"\n\n" for p in payloads)


def named_frames(payloads: Iterable[dict[str, Any]]) -> bytes:
    """`event:` + `data:` frames whose event name is the payload's `type` (Anthropic, Responses)."""
    return b"".join(b"event: " + p["type"].encode() + b"\ndata: " + dumps(p) + b"\n\n" for p in payloads)


ANTHROPIC_KEEPALIVE = named_frames([{"type": "ping"}])
