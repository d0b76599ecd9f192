"""Run the fake Command Code API as its own process (for end-to-end tests and the benchmark).

    python -m tests.fakecc --host 127.0.0.1 --port 8765 [--plan go|goat|pro|max] [--framing ndjson|sse]

Prints ``fakecc listening on http://HOST:PORT`` once the socket accepts connections; ``--port 0`` picks
a free port and the line reports it.
"""

from __future__ import annotations

import argparse
import socket

import uvicorn

from .catalog import PLANS
from .scenarios import FRAMINGS
from .server import create_fake_app
from .state import FakeState


class ReadyServer(uvicorn.Server):
    """Announces readiness only after the listening socket exists, so harnesses can wait on stdout."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(f"fakecc listening on http://{host}:{port}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakecc", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--plan", choices=PLANS, default="go")
    parser.add_argument("--framing", choices=FRAMINGS, default="ndjson")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_fake_app(FakeState(plan=args.plan, default_framing=args.framing))
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="auto",
        http="auto",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    ReadyServer(config).run()


if __name__ == "__main__":
    main()
