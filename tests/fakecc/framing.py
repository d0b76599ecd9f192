"""Wire framing of the fake ``/alpha/generate`` body (upstream-protocol.md §3.1).

The capture shows bare NDJSON: one JSON object per ``\\n``-terminated line, no ``data:`` prefix, no
``[DONE]``; the stream ends when the server closes. Some clients report SSE-style framing instead
(``data:`` prefixes, ``:`` keep-alive comments, blank separators, a final ``data: [DONE]``), so the fake
can produce that too, to exercise a client's tolerance.
"""

from __future__ import annotations

from typing import Final

CHUNK_BYTES: Final = 64 * 1024
KEEPALIVE_EVERY: Final = 4
KEEPALIVE: Final = ": keep-alive\n\n"
DONE: Final = "data: [DONE]\n\n"


def frames(lines: list[str], framing: str, trailing_newline: bool = True) -> list[str]:
    """One string per event, each carrying its own separators (`raw`: the lines are frames already)."""
    if framing == "raw":
        out = list(lines)
    elif framing == "sse":
        out = [(KEEPALIVE if i % KEEPALIVE_EVERY == 0 else "") + f"data: {line}\n\n" for i, line in enumerate(lines)]
        out.append(DONE)
    else:
        out = [line + "\n" for line in lines]
    if not trailing_newline and out:
        out[-1] = out[-1].rstrip("\n")
    return out


def batches(framed: list[str], chunk_bytes: int = CHUNK_BYTES) -> list[bytes]:
    """Whole frames joined into chunks of about ``chunk_bytes`` (sizes counted in characters)."""
    chunks: list[bytes] = []
    pending: list[str] = []
    size = 0
    for frame in framed:
        pending.append(frame)
        size += len(frame)
        if size >= chunk_bytes:
            chunks.append("".join(pending).encode())
            pending, size = [], 0
    if pending:
        chunks.append("".join(pending).encode())
    return chunks
