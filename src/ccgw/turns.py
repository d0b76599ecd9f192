"""Running upstream generations for one client request.

A :class:`TurnGroup` owns n open upstream streams (n > 1 only for OpenAI's `n`). Each stream is
read by its own pump task (bytes → NDJSON → :class:`StreamReader` → queue), so the response side can
wait on the queue with a keep-alive clock without ever cancelling a read, and a client that hangs
up cancels the pumps, which close their upstream responses in a `finally`.

A generation whose turn the provider paused (`pause_turn`) is continued by `reopen`, which sends the
same request again; the reader folds the parts into one answer (upstream-protocol.md §11).

`on_done(group)` runs exactly once, when every generation has reached its end (a finish, a failure,
or a cancellation), before the response side sees that end; by then `group.usage` and `group.error`
hold the outcome. That is where usage is recorded, so an abandoned stream still counts what the
upstream reported, and the response can wait for the record's commit before its last frame.
A finished generation then reads the trailing cost metadata for up to DRAIN_SECONDS (the final
frame does not wait for it); `on_closed(group)` runs once every upstream response is closed, with
`group.usage` complete, so a late cost can correct the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Final, cast

from ccgw import errors
from ccgw.silence import Silence
from ccgw.upstream.client import GenerateStream
from ccgw.upstream.events import MAX_CONTINUATIONS, Event, Failure, Finish, StreamReader, Usage
from ccgw.upstream.ndjson import NDJSONDecoder

log = logging.getLogger("ccgw.turns")

KEEPALIVE: Final = object()
NOT_READY: Final = object()  # from :meth:`TurnGroup.poll`: nothing has arrived yet
DRAIN_SECONDS = 2.0  # after `finish`, how long to wait for the trailing cost metadata

Batch = tuple[int, list[Event]]
DoneCallback = Callable[["TurnGroup"], None]
Reopen = Callable[[int], Awaitable[GenerateStream]]  # the index of the generation to send again


class TurnGroup:
    def __init__(
        self,
        streams: Sequence[GenerateStream],
        on_done: DoneCallback,
        clock: Callable[[], float] = time.time,
        reopen: Reopen | None = None,
        on_closed: DoneCallback | None = None,
    ) -> None:
        self.readers = [stream.reader() for stream in streams]
        self.first_output_at: float | None = None  # when the first answer token arrived (for TTFT)
        self.usage = Usage()
        self.error: errors.GatewayError | None = None
        self.retried = False  # set when the gateway gave up on this group to try again elsewhere
        self._keepalive: Silence | None = None
        self._clock = clock
        self._queue: asyncio.Queue[Batch | object | None] = asyncio.Queue()  # object: KEEPALIVE
        self._head: list[Batch | object | None] = []
        self._on_done = on_done
        self._reopen = reopen
        self._on_closed = on_closed
        self._ended: set[int] = set()
        self._settled = asyncio.Event()
        self._running = len(streams)
        self._pumps = [asyncio.create_task(self._pump(i, s)) for i, s in enumerate(streams)]

    async def _pump(self, index: int, stream: GenerateStream) -> None:
        reader = self.readers[index]
        try:
            while True:
                decoder = stream.decoder()
                chunks = stream.chunks()
                try:
                    await self._read(index, reader, decoder, chunks)
                    if not reader.paused:
                        self._generation_ended(index)
                    if isinstance(reader.terminal, Finish):
                        await self._drain(chunks, decoder, reader)
                finally:
                    # Nested, so that a cancellation landing in one of these awaits still closes the
                    # response (and, below, still accounts the turn).
                    try:
                        await chunks.aclose()
                    finally:
                        await stream.aclose()
                if not reader.paused:
                    break
                stream = await self._continue(index, reader)
        except errors.GatewayError as exc:  # the continuation could not be opened
            self._queue.put_nowait((index, reader.fail(exc)))
        finally:
            if reader.skipped:
                log.warning("skipped %d unparsable line(s) in Command Code's stream", reader.skipped)
            self._generation_ended(index)
            self._pump_closed()

    async def _read(
        self, index: int, reader: StreamReader, decoder: NDJSONDecoder, chunks: AsyncIterator[bytes]
    ) -> None:
        """Feed one upstream response to `reader` until its end, a terminal event or a pause."""
        try:
            async for chunk in chunks:
                batch = [event for raw in decoder.feed(chunk) for event in reader.feed(raw)]
                if batch:
                    if self.first_output_at is None:
                        self.first_output_at = self._clock()
                    self._queue.put_nowait((index, batch))
                if reader.terminal is not None or reader.paused:
                    return
            batch = [event for raw in decoder.finish() for event in reader.feed(raw)]
            self._queue.put_nowait((index, batch if reader.paused else batch + reader.end()))
        except errors.GatewayError as exc:
            self._queue.put_nowait((index, reader.fail(exc)))
        except Exception as exc:  # a bug must end the answer as a failure, never as a quiet success
            log.exception("reading the upstream stream failed")
            failure = errors.UpstreamError(f"The gateway failed reading the answer ({type(exc).__name__})")
            self._queue.put_nowait((index, reader.fail(failure)))

    async def _continue(self, index: int, reader: StreamReader) -> GenerateStream:
        """The provider paused the turn: send the same request again, as the CLI does."""
        if self._reopen is None:
            raise errors.UpstreamError("Command Code paused the answer and the gateway cannot continue it")
        log.info("continuing a paused turn (%d of %d)", reader.continuations + 1, MAX_CONTINUATIONS)
        stream = await self._reopen(index)
        reader.resume()
        return stream

    @staticmethod
    async def _drain(chunks: AsyncIterator[bytes], decoder: NDJSONDecoder, reader: StreamReader) -> None:
        """Read what follows `finish` (the cost arrives there) briefly; errors no longer matter."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DRAIN_SECONDS):
                async for chunk in chunks:
                    for raw in decoder.feed(chunk):
                        reader.feed(raw)
                for raw in decoder.finish():
                    reader.feed(raw)

    def _generation_ended(self, index: int) -> None:
        """Once per generation; after the last, the outcome is settled and `on_done` runs."""
        if index in self._ended:
            return
        self._ended.add(index)
        if len(self._ended) < len(self.readers):
            return
        self._queue.put_nowait(None)
        self._settled.set()
        self.usage = self._total_usage()
        for reader in self.readers:
            if self.error is None and isinstance(reader.terminal, Failure):
                self.error = reader.terminal.error
            elif self.error is None and reader.terminal is None:
                self.error = errors.UpstreamError("The client went away", code="client_disconnected")
        self._on_done(self)

    async def ended(self) -> None:
        """Wait until every generation has ended and `on_done` has run."""
        await self._settled.wait()

    def _total_usage(self) -> Usage:
        total = Usage()
        for reader in self.readers:
            total.add(reader.usage)
        return total

    def _pump_closed(self) -> None:
        self._running -= 1
        if self._running:
            return
        self.usage = self._total_usage()  # with what arrived after the finish (the cost)
        if self._on_closed is not None:
            self._on_closed(self)

    def keep_alive(self, seconds: float) -> None:
        """From now on, :meth:`next` also returns KEEPALIVE after each `seconds` without a batch."""

        def beat() -> None:
            self._queue.put_nowait(KEEPALIVE)
            self._keepalive = Silence(seconds, beat)

        self._keepalive = Silence(seconds, beat)

    async def next(self) -> Batch | object | None:
        """The next batch, KEEPALIVE (see :meth:`keep_alive`), or None when every generation has ended."""
        return self._taken(self._head.pop(0) if self._head else await self._queue.get())

    def poll(self) -> Batch | object | None:
        """What :meth:`next` would return if it is already there, else NOT_READY (without waiting)."""
        if self._head:
            return self._taken(self._head.pop(0))
        if self._queue.empty():
            return NOT_READY
        return self._taken(self._queue.get_nowait())

    def _taken(self, item: Batch | object | None) -> Batch | object | None:
        if self._keepalive is not None:
            if item is None:
                self._keepalive.cancel()
            elif item is not KEEPALIVE:
                self._keepalive.touch()
        return item

    async def settle(self, limit: float) -> None:
        """Hold the response until every generation produced something, or for `limit` seconds.

        A generation that fails before producing anything raises its error here, while the
        client can still get a plain HTTP error instead of a broken stream.
        """
        pending = set(range(len(self.readers)))
        try:
            async with asyncio.timeout(limit):
                while pending:
                    item = await self._queue.get()
                    self._head.append(item)
                    if item is None:
                        break
                    index, batch = cast(Batch, item)
                    if batch and isinstance(batch[-1], Failure):
                        self.close()
                        raise batch[-1].error
                    if batch:
                        pending.discard(index)
        except TimeoutError:
            return

    async def aclose(self) -> None:
        """End every generation now and wait until each is accounted (gateway shutdown)."""
        if self.error is None and any(r.terminal is None for r in self.readers):
            self.error = errors.UpstreamError("The gateway shut down before the answer ended", code="gateway_shutdown")
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    def close(self) -> None:
        """Cancel the generations that have not ended, and the keep-alives (idempotent).

        A generation past its finish is left to read the cost metadata that follows (bounded by
        DRAIN_SECONDS), so its usage is complete.
        """
        if self._keepalive is not None:
            self._keepalive.cancel()
        for pump, reader in zip(self._pumps, self.readers, strict=True):
            if reader.terminal is None:
                pump.cancel()
