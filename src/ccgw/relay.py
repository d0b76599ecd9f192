"""Drive a :class:`TurnGroup` through a protocol translator: as SSE bytes, or folded.

The pipeline per batch of upstream events is: stages (stop sequences, reasoning memory) →
coalescing of adjacent deltas → translator → one encoder call, so a burst of tokens that arrived
in one network read leaves as one write. Batches that are already waiting when the relay gets to
them (several reads, or the stream's opening frames and its first tokens) leave in one write too;
nothing already encoded ever waits, neither for a batch that has not arrived nor for the commit of
the request's record (which only the last frame waits for).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from ccgw.errors import GatewayError
from ccgw.turns import KEEPALIVE, NOT_READY, Batch, TurnGroup
from ccgw.upstream.events import Event, Failure, ReasoningDelta, TextDelta


class Stage(Protocol):
    def feed(self, event: Event) -> list[Event]: ...


class Translator(Protocol):
    failed: GatewayError | None

    def start(self) -> list[dict[str, Any]]: ...
    def feed(self, index: int, event: Event) -> list[dict[str, Any]]: ...
    def finish(self) -> list[dict[str, Any]]: ...


def coalesce(events: Iterable[Event]) -> list[Event]:
    """Merge adjacent text deltas, and adjacent reasoning deltas, into one each (joined once).

    A signed reasoning delta ends its thinking block, so a run of reasoning ends with it (and keeps it).
    """
    out: list[Event] = []
    run: list[str] = []
    kind: type[TextDelta] | type[ReasoningDelta] | None = None
    for event in events:
        if type(event) is kind:
            run.append(event.text)
        else:
            if kind is not None:
                out.append(kind("".join(run)))
                kind = None
            if isinstance(event, TextDelta | ReasoningDelta):
                kind, run = type(event), [event.text]
            else:
                out.append(event)
        if isinstance(event, ReasoningDelta) and event.signature:
            out.append(ReasoningDelta("".join(run), event.signature))
            kind = None
    if kind is not None:
        out.append(kind("".join(run)))
    return out


def _through(stages: Sequence[Stage], events: list[Event]) -> list[Event]:
    for stage in stages:
        events = [out for event in events for out in stage.feed(event)]
    return events


def _translate(
    translator: Translator, stages: Sequence[Sequence[Stage]], index: int, batch: list[Event]
) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    for event in coalesce(_through(stages[index], batch)):
        frames.extend(translator.feed(index, event))
    return frames


def _failed(translator: Translator) -> bool:
    return translator.failed is not None  # a function: mypy keeps the loop's narrowing otherwise


async def relay(
    group: TurnGroup,
    translator: Translator,
    stages: Sequence[Sequence[Stage]],
    *,
    encode: Callable[[Iterable[dict[str, Any]]], bytes],
    keepalive: bytes,
    keepalive_every: float,
    trailer: bytes = b"",
    before_end: Callable[[], Awaitable[None]] | None = None,
    error_gap: float = 0.0,
) -> AsyncIterator[bytes]:
    """The SSE body. After a failure's error frame the stream simply ends (no trailer).

    `before_end` is awaited before the frame that ends the stream (the last frame, or the error
    frame): the gateway waits there for the request's record to be committed.
    With `error_gap`, the error frame (a failed translator's last frame) is written on its own, that
    many seconds after any data written before it, so that a client reading the error cannot get it
    in one read with that data (see `sse.GOOGLE_ERROR_GAP`).
    """
    try:
        group.keep_alive(keepalive_every)
        out = encode(translator.start())  # encoded, not written yet
        written = False  # whether any data went out (for `error_gap`)
        while translator.failed is None:
            item = group.poll() if out else await group.next()
            if item is NOT_READY:
                yield out
                out, written = b"", True
                continue
            if item is KEEPALIVE:
                out += keepalive
                continue
            if item is None:
                break
            index, batch = cast(Batch, item)
            frames = _translate(translator, stages, index, batch)
            if _failed(translator):
                if before_end is not None:
                    if out:  # what came before the failure does not wait for the commit
                        yield out
                        out, written = b"", True
                    group.close()  # the other choices end now, so the outcome can be recorded
                    await before_end()
                if error_gap and frames:
                    *frames, error = frames
                    out += encode(frames) if frames else b""
                    if out:
                        yield out
                        out, written = b"", True
                    if written:
                        await asyncio.sleep(error_gap)
                    frames = [error]
            if frames:
                out += encode(frames)
        if translator.failed is None:
            last = encode(translator.finish()) + trailer  # encoded while the record commits
            if before_end is not None:
                if out:  # nor what came before the end
                    yield out
                    out = b""
                await before_end()
            yield out + last
        elif out:
            yield out
    finally:
        group.close()


async def collect(group: TurnGroup, translator: Translator, stages: Sequence[Sequence[Stage]]) -> list[dict[str, Any]]:
    """Every payload of a complete answer; a failure is raised (nothing was sent yet)."""
    frames = translator.start()
    try:
        while (item := await group.next()) is not None:
            if item is KEEPALIVE:
                continue
            index, batch = cast(Batch, item)
            for event in coalesce(_through(stages[index], batch)):
                if isinstance(event, Failure):
                    raise event.error
                frames.extend(translator.feed(index, event))
        return frames + translator.finish()
    finally:
        group.close()
