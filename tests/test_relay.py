"""The relay's writes: what leaves in which write, and when (the generator itself, no server)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ccgw import errors, sse
from ccgw.relay import relay
from ccgw.translate.gemini_stream import GeminiStream
from ccgw.upstream.events import Event, Failure, Finish, TextDelta, Usage


class Batches:
    """A stand-in for a TurnGroup: hands out the given batches of generation 0, then the end."""

    def __init__(self, *batches: list[Event]) -> None:
        self._items: list[Any] = [(0, batch) for batch in batches] + [None]
        self.closed = False

    def keep_alive(self, seconds: float) -> None:
        pass

    async def next(self) -> Any:
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
