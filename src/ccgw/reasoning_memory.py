"""Remembers recent reasoning by tool-call id (client-notes 5).

Many clients drop `reasoning_content` from the history they send back, and DeepSeek's thinking
mode then rejects the next tool turn. ccgw keeps the reasoning that preceded each tool call it
returned, in a bounded LRU in this process and in the storage layer (shared by every gateway on the
database, written with the answer's record), and re-inserts it when the client's history lacks it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from ccgw.upstream.events import Event, Finish, ReasoningDelta, ToolCall

Persist = Callable[[list[str], str], None]


class ReasoningMemory:
    def __init__(
        self, max_entries: int = 2048, max_chars: int = 32 * 1024 * 1024, *, persist: Persist | None = None
    ) -> None:
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._max_entries = max_entries
        self._max_chars = max_chars
        self._chars = 0
        self._persist = persist

    def get(self, call_id: str, default: None = None, /) -> str | None:
        return self._entries.get(call_id, default)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, call_ids: list[str], reasoning: str, *, persist: bool = True) -> None:
        for call_id in call_ids:
            old = self._entries.pop(call_id, None)
            self._chars -= len(old or "")
            self._entries[call_id] = reasoning
            self._chars += len(reasoning)
        while self._entries and (len(self._entries) > self._max_entries or self._chars > self._max_chars):
            _, dropped = self._entries.popitem(last=False)
            self._chars -= len(dropped)
        if persist and self._persist is not None:
            self._persist(call_ids, reasoning)

    def recorder(self) -> ReasoningRecorder:
        return ReasoningRecorder(self)


class MissRecorder:
    """A lookup over the memory that notes the ids it did not have (to fetch from the database)."""

    __slots__ = ("_memory", "missed")

    def __init__(self, memory: ReasoningMemory) -> None:
        self._memory = memory
        self.missed: list[str] = []

    def get(self, call_id: str, default: None = None, /) -> str | None:
        found = self._memory.get(call_id)
        if found is None:
            self.missed.append(call_id)
        return found


class ReasoningRecorder:
    """A pass-through stage that files one turn's reasoning under its tool calls at the finish."""

    __slots__ = ("_calls", "_memory", "_reasoning")

    def __init__(self, memory: ReasoningMemory) -> None:
        self._memory = memory
        self._reasoning: list[str] = []
        self._calls: list[str] = []

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ToolCall):
            self._calls.append(event.id)
        elif isinstance(event, Finish) and self._calls and self._reasoning:
            self._memory.remember(self._calls, "".join(self._reasoning))
        return [event]
