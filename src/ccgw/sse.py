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


def google_frames(payloads: Iterable[dict[str, Any]]) -> bytes:
    """Gemini's `alt=sse` stream: `data:` frames, but an error as a bare JSON object, as Google sends it.

    The google-genai JS SDK (Gemini CLI) raises only on a read that parses as a JSON error document;
    a `data:` error frame would pass it by as an empty chunk. The Python SDK raises on either form.
    """
    return b"".join((dumps(p) + b"\n\n") if "error" in p else (b"data: " + dumps(p) + b"\n\n") for p in payloads)


# Google's SSE parsers take every non-`data:` line for JSON (the Python SDK raises on a `: comment`), so
# Gemini streams keep alive with a blank line, which every SSE parser skips.
GOOGLE_KEEPALIVE = b"\n"
# Seconds between a Gemini stream's last data and its error document. The JS SDK parses each network
# read whole: an error that arrives in the same read as data before it is never recognised, and the
# stream ends in "Incomplete JSON segment at the end" instead of the error (seen with Gemini CLI).
# A write of its own is not enough, since the client may read both writes at once; a short pause is.
GOOGLE_ERROR_GAP = 0.25


class JSONArrayFrames:
    """Gemini's default stream (no `alt=sse`): one JSON array, written an element at a time.

    The first call opens the array (so call it once per response, even with nothing to send); the
    stream's trailer closes it. An `{"error": …}` element closes it too, since nothing follows an error.
    Blank lines between elements (keep-alives) are valid JSON whitespace.
    """

    def __init__(self) -> None:
        self._started = False
        self._count = 0

    def __call__(self, payloads: Iterable[dict[str, Any]]) -> bytes:
        out = [b""] if self._started else [b"["]
        self._started = True
        for payload in payloads:
            out.append((b",\r\n" if self._count else b"") + dumps(payload))
            self._count += 1
            if "error" in payload:
                out.append(b"]")
        return b"".join(out)
