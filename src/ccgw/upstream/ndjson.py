"""Incremental decoder for the body of `/alpha/generate` (upstream-protocol.md §3.1).

The captured wire format is bare NDJSON, one event object per line. Other sources describe SSE
padding, so the decoder also accepts: an optional `data:` prefix, blank lines, `:` comment lines,
`event:` lines, a `[DONE]` terminator (after which everything is ignored), a last line without a
newline, and lines of any length. It is a pure state machine: bytes in, event dicts out, correct
for any chunking (tested at every split position).

A line that starts like JSON but does not parse is reported as a :data:`MALFORMED` event, which
the turn reader skips and counts (as the CLI skips it), so it only matters when no `finish` follows;
other non-JSON lines (padding of some future kind) are ignored.
"""

from __future__ import annotations

from typing import Any

from ccgw.jsonutil import JSONDecodeError, loads

MALFORMED = "x-ccgw-malformed"

_SKIP_PREFIXES = (b":", b"event:", b"id:", b"retry:")


class NDJSONDecoder:
    __slots__ = ("_pending", "done")

    def __init__(self) -> None:
        self._pending = b""
        self.done = False

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Decode every complete line in `chunk` (plus what was pending)."""
        if self.done:
            return []
        cut = chunk.rfind(b"\n")
        if cut < 0:
            # Only the new bytes are searched, so a long line arriving in many chunks stays O(n).
            self._pending += chunk
            return []
        block = self._pending + chunk[:cut] if self._pending else chunk[:cut]
        self._pending = chunk[cut + 1 :]
        return self._decode_lines(block.split(b"\n"))

    def finish(self) -> list[dict[str, Any]]:
        """Decode a final line that had no newline."""
        rest, self._pending = self._pending, b""
        if self.done or not rest:
            return []
        return self._decode_lines([rest])

    def _decode_lines(self, lines: list[bytes]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for raw in lines:
            event = self._decode(raw)
            if event is not None:
                events.append(event)
            if self.done:
                break
        return events

    def _decode(self, raw: bytes) -> dict[str, Any] | None:
        if raw[:1] == b"{":  # the common case: a bare NDJSON line
            return _parse(raw)
        line = raw.strip()
        if not line or line.startswith(_SKIP_PREFIXES):
            return None
        if line.startswith(b"data:"):
            line = line[5:].lstrip()
            if line == b"[DONE]":
                self.done = True
                return None
        if not line.startswith((b"{", b"[")):
            return None
        return _parse(line)


def _parse(line: bytes) -> dict[str, Any]:
    """One JSON line as an event; anything but a JSON object is a MALFORMED event quoting it."""
    try:
        value = loads(line)
    except JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    return {"type": MALFORMED, "line": line[:200].decode("utf-8", "replace")}
