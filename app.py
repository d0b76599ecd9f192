"""ccgw entry point.

python app.py [--config PATH | --init --config PATH] [--host HOST] [--port PORT]
uvicorn app:app            (reads config.yaml, or the file named by CCGW_CONFIG)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from starlette.types import ASGIApp, Receive, Scope, Send

from ccgw.cli import _load, build_app, main
from ccgw.config import Settings


class _LazyApp:
    """For `uvicorn app:app`: the config is checked when uvicorn asks for `app` (a bad one stops it
    with the same one line as `python app.py`), the gateway is built on first use."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self._path = path
        self._settings = settings
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = build_app(self._path, self._settings)
        await self._app(scope, receive, send)


_app: _LazyApp | None = None


def __getattr__(name: str) -> ASGIApp:
    """`app`, made when first asked for (importing this module has no side effect)."""
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        named = os.environ.get("CCGW_CONFIG")
        path = Path(named or "config.yaml")
        _app = _LazyApp(path, _load(path, create=named is None))  # a named file must exist
    return _app


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
