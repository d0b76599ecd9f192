"""Real processes for end-to-end tests: the fake Command Code server and `python app.py`."""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
LOCAL_KEY = "ccgw-e2e-local-key-0123456789"
PROBE_KEY = "ccgw-e2e-probe-key-0123456789"  # used by one test only, so its usage is exact
UPSTREAM_KEY = "user_e2e_0123456789abcdefghijklmnopqrstuvwxyz"  # a Go plan: the CLI endpoint
PROVIDER_KEY = "user_provider_e2e_0123456789abcdefghijklmnopqrs"  # the fake's Provider plan: the Provider API
PROVIDER_PATHS = ("/provider/v1/chat/completions", "/provider/v1/messages")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    popen: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait(process: Process, ready: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{process.output()}")
        if ready():
            return
        time.sleep(0.05)
    process.stop()
    raise RuntimeError(f"{what} did not become ready:\n{process.output()}")


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.1) -> bool:
    """Whether `predicate` comes true within `timeout` seconds, asked every `interval`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_fake(workdir: Path, *args: str) -> Process:
    port = free_port()
    log = workdir / f"fakecc-{port}.log"
    handle = log.open("w")
    popen = subprocess.Popen(
        [sys.executable, "-m", "tests.fakecc", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process = Process(popen, f"http://127.0.0.1:{port}", log)
    _wait(process, lambda: "fakecc listening" in process.output(), "fake Command Code server")
    return process


def write_config(workdir: Path, upstream_url: str, *, upstream_key: str = UPSTREAM_KEY, **extra: Any) -> Path:
    config = {
        "api_key": LOCAL_KEY,
        "api_keys": [{"name": "probe", "key": PROBE_KEY}],
        "commandcode": {"api_key": upstream_key, "base_url": upstream_url},
        "exclude_models": ["claude-"],
        "usage_file": str(workdir / "usage.json"),
        **extra,
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_gateway(workdir: Path, config: Path, env: dict[str, str] | None = None) -> Process:
    port = free_port()
    log = workdir / f"gateway-{port}.log"
    handle = log.open("w")
    popen = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    process = Process(popen, f"http://127.0.0.1:{port}", log)
    _wait(process, lambda: _http_ok(process.url + "/health"), "gateway")
    return process


class FakeControl:
    """Drives the fake server's `/_fake/*` control routes."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def script(self, *scenarios: str) -> None:
        self.http.post("/_fake/script", json={"scenarios": list(scenarios)}).raise_for_status()

    def state(self, **fields: Any) -> None:
        self.http.post("/_fake/state", json=fields).raise_for_status()

    def requests(self, path: str = "/alpha/generate") -> list[dict[str, Any]]:
        response = self.http.get("/_fake/requests", params={"path": path})
        response.raise_for_status()
        body = response.json()
        return list(body["requests"] if isinstance(body, dict) else body)

    def model_requests(self, path: str = "cli") -> list[dict[str, Any]]:
        """The model requests the fake got on one upstream path (`cli` or `provider`; the access
        probe, a request the Provider API refuses by design, is not one)."""
        if path == "cli":
            return self.requests()
        response = self.http.get("/_fake/requests")
        response.raise_for_status()
        return [
            r
            for r in response.json()["requests"]
            if r["path"] in PROVIDER_PATHS and not (isinstance(r["body"], dict) and r["body"].get("n") == 2)
        ]

    def sent(self, path: str = "cli") -> dict[str, Any]:
        """The last model request's body: the CLI endpoint's `params`, or the Provider API's body."""
        body: dict[str, Any] = self.model_requests(path)[-1]["body"]
        return dict(body["params"]) if path == "cli" else body

    def model_calls(self, path: str = "cli") -> int:
        stats = self.stats()
        return int(stats["generate_calls"] if path == "cli" else stats["provider_calls"])

    def clear(self) -> None:
        self.http.delete("/_fake/requests").raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self.http.get("/_fake/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats


def ledger(workdir: Path) -> list[dict[str, Any]]:
    """The request ledger in a gateway's SQLite database, read as another process would."""
    path = workdir / "usage.db"
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM requests ORDER BY at")]


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that writes no access log (it would fill the test output)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(self, content_type: str, body: bytes) -> None:
        """A 200 with `body`, its type and length."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 for `handler`; its base URL while the block runs."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def serve_image(png: bytes) -> Iterator[str]:
    """A local server that answers every GET with `png`; the image's URL while the block runs."""

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_body("image/png", png)

    with serve(Handler) as url:
        yield url + "/cat.png"
