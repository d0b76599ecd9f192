"""A timer for silences, cheap enough to touch on every event.

`asyncio.timeout()` around each read creates and cancels a timer per read; a stream of single
tokens reads thousands of times. A :class:`Silence` keeps one timer: touching it only records the
time, and when the timer fires it checks that time and re-arms itself for what is left, so the
callback runs only after `seconds` of real silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Silence:
    def __init__(self, seconds: float, on_silence: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self.seconds = seconds
        self._on_silence = on_silence
        self._last = self._loop.time()
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(self._last + seconds, self._check)

    def touch(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        due = self._last + self.seconds
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self._handle = None
        self._on_silence()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
