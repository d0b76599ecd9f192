"""Stop sequences, applied by the gateway (the upstream's support for them is unknown).

Text is held back only while it could still be the start of a stop sequence. After a match
the rest of the answer is dropped, and the turn ends as `stop` once the upstream finishes, so
the usage reported stays the upstream's own.
"""

from __future__ import annotations

from typing import Any

from ccgw.errors import InvalidRequestError
from ccgw.upstream.events import Event, Failure, Finish, TextDelta

MAX_STOPS = 16


def stop_sequences(value: Any, param: str = "stop", limit: int = MAX_STOPS) -> tuple[str, ...]:
    """OpenAI's `stop`: a string or up to `limit` strings (empty ones dropped)."""
    stops = [value] if isinstance(value, str) else value or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > limit:
        raise InvalidRequestError(f"{param}: must be a string or up to {limit} strings", param=param)
    return tuple(s for s in stops if s)


class StopFilter:
    __slots__ = ("_held", "_hold", "_matched", "_stops")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._hold = max(len(s) for s in stops) - 1
        self._held = ""
        self._matched: str | None = None

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, TextDelta):
            return self._text(event.text)
        if isinstance(event, Finish | Failure):
            return self._end(event)
        return [] if self._matched is not None else [event]

    def _text(self, text: str) -> list[Event]:
        if self._matched is not None:
            return []
        window = self._held + text
        found = [(window.find(s), s) for s in self._stops if s in window]
        if found:
            cut, stop = min(found)
            self._matched, self._held = stop, ""
            return [TextDelta(window[:cut])] if cut else []
        keep = self._hold if len(window) > self._hold else len(window)
        emit, self._held = window[: len(window) - keep], window[len(window) - keep :]
        return [TextDelta(emit)] if emit else []

    def _end(self, event: Finish | Failure) -> list[Event]:
        if self._matched is not None:
            return [Finish("stop", event.usage, stop_sequence=self._matched)]
        held, self._held = self._held, ""
        return [TextDelta(held), event] if held else [event]
