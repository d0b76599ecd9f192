"""EventStream: a model stream's response, watched for the client's hang-up by one task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.background import BackgroundTask
from starlette.types import Message

from ccgw.streaming import EventStream

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.3"}, "method": "POST", "path": "/", "headers": []}


class Client:
    """ASGI receive/send of a client that can hang up."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gone = asyncio.Event()
        self.got_body = asyncio.Event()

    async def receive(self) -> Message:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message.get("body"):
            self.got_body.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def test_event_stream_sends_every_chunk_then_runs_its_background() -> None:
    ran: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"data: 1\n\n"
        yield b"data: 2\n\n"

    async def go() -> Client:
        client = Client()
        response = EventStream(body(), media_type="text/event-stream", background=BackgroundTask(ran.append, "bg"))
        await response(SCOPE, client.receive, client.send)
        return client

    client = asyncio.run(go())
    assert client.sent[0]["type"] == "http.response.start"
    assert client.body() == b"data: 1\n\ndata: 2\n\n"
    assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert ran == ["bg"]


def test_event_stream_client_hang_up_closes_the_body_and_ends_quietly() -> None:
    closed: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"data: 1\n\n"
            await asyncio.Event().wait()  # an upstream that stays silent
            yield b"never"
        finally:
            closed.append("closed")

    async def go() -> tuple[Client, float]:
        client = Client()
        serving = asyncio.ensure_future(EventStream(body())(SCOPE, client.receive, client.send))
        await client.got_body.wait()
        client.gone.set()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(serving, 1)  # returns, without raising
        return client, asyncio.get_running_loop().time() - started

    client, took = asyncio.run(go())
    assert closed == ["closed"]
    assert took < 0.5
    assert client.body() == b"data: 1\n\n"


def test_event_stream_hang_up_as_the_stream_ends_cancels_nothing_after_it() -> None:
    finished: list[str] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"data: last\n\n"

    async def background() -> None:
        await asyncio.sleep(0.05)  # a hang-up noticed after the end must not cancel this
        finished.append("background")

    async def go() -> None:
        client = Client()
        original = client.send

        async def send(message: Message) -> None:
            await original(message)
            if not message.get("more_body", True):
                client.gone.set()  # the client leaves right after the last byte ...
                await asyncio.sleep(0)  # ... noticed while the response is finishing

        await EventStream(body(), background=BackgroundTask(background))(SCOPE, client.receive, send)
        await asyncio.sleep(0.01)  # and this task is not cancelled later either

    asyncio.run(go())
    assert finished == ["background"]
