"""A WebSocket attempt on the real server (uvicorn with WebSocket support) is refused with 426 at once."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.e2e.harness import LOCAL_KEY, Process
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


def test_websocket_upgrade_gets_426_within_a_second(gateway: Process) -> None:
    async def attempt() -> int:
        url = gateway.url.replace("http://", "ws://") + "/v1/responses"
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url, additional_headers={"Authorization": f"Bearer {LOCAL_KEY}"}, open_timeout=5):
                pass
        return caught.value.response.status_code

    started = time.monotonic()
    assert asyncio.run(attempt()) == 426
    assert time.monotonic() - started < 1
