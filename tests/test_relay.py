"""The relay's writes: what leaves in which write, and when (the generator itself, no server)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ccgw import errors, sse
from ccgw.relay import relay
from ccgw.translate.gemini_stream import GeminiStream
from ccgw.turns import NOT_READY
from ccgw.upstream.events import Event, Failure, Finish, TextDelta, Usage


class Batches:
    """A stand-in for a TurnGroup: hands out the given batches of generation 0, then the end.

    Each batch arrives in a read of its own, after the relay asked (`poll` finds nothing waiting),
    unless `waiting` says how many are already there when the relay starts.
    """

    def __init__(self, *batches: list[Event], waiting: int = 0) -> None:
        self._items: list[Any] = [(0, batch) for batch in batches] + [None]
        self._waiting = waiting
        self.closed = False

    def keep_alive(self, seconds: float) -> None:
        pass

    async def next(self) -> Any:
        self._waiting = max(0, self._waiting - 1)
        return self._items.pop(0)

    def poll(self) -> Any:
        if not self._waiting:
            return NOT_READY
        self._waiting -= 1
        return self._items.pop(0)

    def close(self) -> None:
        self.closed = True


def writes(group: Batches, error_gap: float) -> list[tuple[float, bytes]]:
    """Every write of the body, with the time it was made."""

    async def main() -> list[tuple[float, bytes]]:
        translator = GeminiStream(response_id="r", model="m")
        body = relay(group, translator, [[]], encode=sse.google_frames, keepalive=b"\n", keepalive_every=60,
                     error_gap=error_gap)  # fmt: skip
        return [(time.monotonic(), chunk) async for chunk in body if chunk]

    return asyncio.run(main())


FAILED = Failure(errors.UpstreamError("upstream 500: provider dropped"))


def test_relay_error_after_data_in_one_batch_is_written_apart_after_the_gap() -> None:
    group = Batches([TextDelta("partial")], [TextDelta(" more"), FAILED])
    out = writes(group, error_gap=0.2)
    assert [chunk[:6] for _, chunk in out] == [b"data: ", b"data: ", b'{"erro']
    assert json.loads(out[-1][1])["error"]["message"] == "upstream 500: provider dropped"
    assert out[2][0] - out[1][0] >= 0.2
    assert group.closed


def test_relay_error_alone_after_earlier_data_still_waits_the_gap() -> None:
    out = writes(Batches([TextDelta("partial")], [FAILED]), error_gap=0.2)
    assert len(out) == 2 and out[1][1].startswith(b'{"error"')
    assert out[1][0] - out[0][0] >= 0.2


def test_relay_error_before_any_data_is_not_delayed() -> None:
    started = time.monotonic()
    out = writes(Batches([FAILED]), error_gap=5)
    assert len(out) == 1 and out[0][1].startswith(b'{"error"')
    assert out[0][0] - started < 1


def test_relay_without_a_gap_writes_a_batch_in_one_write() -> None:
    out = writes(Batches([TextDelta(" more"), FAILED]), error_gap=0)
    assert len(out) == 1
    assert out[0][1].startswith(b"data: ") and b'\n\n{"error"' in out[0][1]


def test_relay_success_is_unchanged_by_the_gap() -> None:
    started = time.monotonic()
    out = writes(Batches([TextDelta("hi")], [Finish("stop", Usage())]), error_gap=5)
    assert time.monotonic() - started < 1
    assert [json.loads(chunk.removeprefix(b"data: "))["candidates"][0].get("finishReason") for _, chunk in out] == [
        None,
        "STOP",
    ]


def _chat_writes(group: Batches) -> list[bytes]:
    async def main() -> list[bytes]:
        from ccgw.translate.chat_stream import ChatStream

        translator = ChatStream(completion_id="c", model="m", created=0)
        body = relay(group, translator, [[]], encode=sse.data_frames, keepalive=b"", keepalive_every=60)
        return [chunk async for chunk in body if chunk]

    return asyncio.run(main())


def test_relay_batches_already_waiting_leave_in_one_write() -> None:
    out = _chat_writes(Batches([TextDelta("a")], [TextDelta("b")], [TextDelta("c")], waiting=3))
    assert len(out) == 1
    assert out[0].count(b"data: ") == 4 and b'"a"' in out[0] and b'"c"' in out[0]  # the role chunk, then a, b and c


def test_relay_writes_at_once_when_nothing_more_is_waiting() -> None:
    out = _chat_writes(Batches([TextDelta("a")], [TextDelta("b")], waiting=1))
    assert len(out) == 2
    assert b'"a"' in out[0] and b'"b"' not in out[0]  # "a" did not wait for "b"
    assert b'"b"' in out[1]


def test_relay_data_goes_out_before_the_last_frame_waits_for_the_commit() -> None:
    written_before_commit: list[int] = []

    async def main() -> list[bytes]:
        from ccgw.translate.chat_stream import ChatStream

        out: list[bytes] = []

        async def commit() -> None:
            written_before_commit.append(len(out))

        group = Batches([TextDelta("a")], [TextDelta("b")], [Finish("stop", Usage())], waiting=4)
        translator = ChatStream(completion_id="c", model="m", created=0)
        body = relay(group, translator, [[]], encode=sse.data_frames, keepalive=b"", keepalive_every=60,
                     trailer=sse.DONE, before_end=commit)  # fmt: skip
        async for chunk in body:
            out.append(chunk)
        return out

    out = asyncio.run(main())
    assert written_before_commit == [1]  # the tokens were written; only the last frame waited
    assert b'"b"' in out[0] and out[-1].endswith(sse.DONE)
