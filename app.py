"""ccgw entry point.

python app.py [--config PATH] [--host HOST] [--port PORT]
uvicorn app:app            (reads config.yaml, or the file named by CCGW_CONFIG)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from starlette.types import ASGIApp, Receive, Scope, Send

from ccgw.cli import build_app, main


class _LazyApp:
    """For `uvicorn app:app`: the gateway is built on first use, not when this module is imported."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = build_app(Path(os.environ.get("CCGW_CONFIG", "config.yaml")))
        await self._app(scope, receive, send)


app = _LazyApp()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
