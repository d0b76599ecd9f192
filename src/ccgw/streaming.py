"""The streaming response of every model stream: Starlette's, with one watcher task instead of a task group.

Under uvicorn (ASGI spec 2.3) Starlette's `StreamingResponse` runs each stream inside an AnyIO task
group with a second task listening for the client's hang-up; setting that up and tearing it down
cost more than the rest of a short stream's response side. :class:`EventStream` sends in the
request's own task and watches with one plain asyncio task: when the client hangs up, the sending
task is cancelled (so the body's generator closes its upstream response at once) and the response
ends quietly, as Starlette's does.
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


async def _hung_up(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStream(StreamingResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        current = asyncio.current_task()
        assert current is not None
        sending = True

        def hung_up(watcher: asyncio.Future[None]) -> None:
            if sending and not watcher.cancelled():  # not once the stream ended: the cancel would land later
                current.cancel()

        watcher = asyncio.ensure_future(_hung_up(receive))
        watcher.add_done_callback(hung_up)
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not watcher.done() or watcher.cancelled():
                raise  # not the client's hang-up
            current.uncancel()
        finally:
            sending = False
            watcher.cancel()
        if self.background is not None:
            await self.background()
