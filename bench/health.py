"""`/health` while one heavy request is handled: the gateway must keep answering within 100 ms.

.venv/bin/python -m bench.health [--out bench/results] [--only chat_49mb,...] [--rounds 3]

For each case one request is sent to a freshly started gateway (pinned like the main benchmark:
the gateway alone on core 1, the fake upstream, the image server and this client on core 0) while a
second thread asks `GET /health` over its own keep-alive connection every 10 ms. Reported per case:
the heavy request's status and duration, and the `/health` round trips that overlapped it (count,
median, p99, max, how many took over 100 ms). Writes `health.json` and `health.md` to `--out`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import yaml

from bench.procs import ROOT, Server, free_port, python_module, spawn
from bench.stack import CORES, HOST, LOCAL_KEY, UPSTREAM_KEY

BOUND_MS: Final = 100.0
POLL_EVERY: Final = 0.01
MODEL: Final = "deepseek/deepseek-v4-flash"
PNG: Final = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
IMAGE_DELAY: Final = 0.05  # each image takes the server this long, like a real host far away


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    path: str
    body: Callable[[str], bytes]  # image server URL → request body
    config: dict[str, Any] = field(default_factory=dict)  # extra gateway settings for this case


def _chat(content: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 16}


def _parts(count: int) -> list[dict[str, Any]]:
    return [{"type": "text", "text": "a"} for _ in range(count)]


def _images(count: int, base: str) -> list[dict[str, Any]]:
    return [{"type": "image_url", "image_url": {"url": f"{base}/img/{i}.png"}} for i in range(count)]


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


CASES: Final = (
    Case("chat_49mb", "chat, one 49 MB string", "/v1/chat/completions", lambda _: _dump(_chat("x" * 49_000_000))),
    Case(
        "messages_500k_parts",
        "messages, 500k text parts",
        "/v1/messages",
        lambda _: _dump({"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": _parts(500_000)}]}),
    ),
    Case(
        "count_tokens_500k_parts",
        "count_tokens, 500k text parts",
        "/v1/messages/count_tokens",
        lambda _: _dump({"model": MODEL, "messages": [{"role": "user", "content": _parts(500_000)}]}),
    ),
    Case(
        "chat_2000_images",
        "chat, 2,000 remote image URLs (default cap: refused)",
        "/v1/chat/completions",
        lambda base: _dump(_chat(_images(2000, base))),
    ),
    Case(
        "chat_2000_images_fetched",
        "chat, 2,000 remote image URLs, cap raised to 2,000 (all fetched)",
        "/v1/chat/completions",
        lambda base: _dump(_chat(_images(2000, base))),
        {"images": {"max_remote": 2000}},
    ),
)


class _Images(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(IMAGE_DELAY)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on an image (the gateway cancelled it) is not news


def _image_server() -> tuple[ThreadingHTTPServer, str]:
    server = _QuietServer((HOST, 0), _Images)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{HOST}:{server.server_address[1]}"


def _gateway(workdir: Path, fake: Server, extra: dict[str, Any], legacy: bool) -> Server:
    config: dict[str, Any] = {
        "api_key": LOCAL_KEY,
        "commandcode": {"api_key": UPSTREAM_KEY, "base_url": fake.url},
        "usage_file": str(workdir / "usage.json"),
        "log_level": "warning",
        "images": {"allow_private": True, **extra.get("images", {})},
    }
    if legacy:  # a gateway from before these settings existed
        config["images"].pop("max_remote", None)
    path = workdir / "ccgw-config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    argv = [sys.executable, "app.py", "--config", str(path), "--host", HOST, "--port", str(port)]
    return spawn("ccgw", argv, port=port, workdir=workdir, ready_path="/health", cores=CORES["proxy"]).wait_ready()


class Poller(threading.Thread):
    """GET /health every POLL_EVERY seconds on one keep-alive connection; records (start, seconds)."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
        while not self.stopping.is_set():
            started = time.monotonic()
            conn.request("GET", "/health", headers={"Host": "localhost"})
            response = conn.getresponse()
            response.read()
            self.samples.append((started, time.monotonic() - started))
            time.sleep(POLL_EVERY)
        conn.close()


def _heavy(port: int, path: str, body: bytes) -> tuple[int, float, str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    headers = {"Authorization": f"Bearer {LOCAL_KEY}", "Content-Type": "application/json", "Host": "localhost"}
    started = time.monotonic()
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read()[:300].decode(errors="replace")
    elapsed = time.monotonic() - started
    conn.close()
    return response.status, elapsed, text


def run_case(case: Case, workdir: Path, fake: Server, images: str, legacy: bool) -> dict[str, Any]:
    body = case.body(images)
    gateway = _gateway(workdir, fake, case.config, legacy)
    try:
        poller = Poller(gateway.port)
        poller.start()
        time.sleep(0.3)  # a few quiet samples first
        started = time.monotonic()
        status, seconds, text = _heavy(gateway.port, case.path, body)
        ended = time.monotonic()
        time.sleep(0.2)
        poller.stopping.set()
        poller.join(10)
    finally:
        gateway.stop()
    # Every round trip that overlapped the heavy request.
    during = [s * 1000 for t, s in poller.samples if t + s >= started and t <= ended]
    during.sort()
    return {
        "case": case.name,
        "title": case.title,
        "body_mb": round(len(body) / 1e6, 1),
        "status": status,
        "request_s": round(seconds, 3),
        "answer": text if status != 200 else "",
        "health_samples": len(during),
        "health_p50_ms": round(statistics.median(during), 1) if during else None,
        "health_p99_ms": round(during[min(len(during) - 1, int(len(during) * 0.99))], 1) if during else None,
        "health_max_ms": round(during[-1], 1) if during else None,
        "health_over_bound": sum(1 for s in during if s > BOUND_MS),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# `/health` while one heavy request is handled",
        "",
        f"Bound: every `/health` round trip under {BOUND_MS:g} ms while the request runs. `python -m bench.health`.",
        "",
        "| case | body | status | request | /health samples | p50 | p99 | max | over 100 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['title']} | {r['body_mb']} MB | {r['status']} | {r['request_s']} s | {r['health_samples']} | "
            f"{r['health_p50_ms']} ms | {r['health_p99_ms']} ms | {r['health_max_ms']} ms | {r['health_over_bound']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.health", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--only", help="comma-separated case names: " + ", ".join(c.name for c in CASES))
    parser.add_argument("--legacy", action="store_true", help="leave out settings older gateways do not know")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.only or c.name in args.only.split(",")]
    workdir = args.out / "raw" / ("health-" + time.strftime("%Y%m%d-%H%M%S"))
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    fake = spawn(
        "fakecc",
        python_module("tests.fakecc", "--host", HOST, "--port", str(port)),
        port=port,
        workdir=workdir,
        ready_path="/_fake/stats",
        cores=CORES["upstream"],
    ).wait_ready()
    server, images = _image_server()
    rows = []
    try:
        for case in chosen:
            row = run_case(case, workdir, fake, images, args.legacy)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.shutdown()
        fake.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "health.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "health.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0 if all(r["health_over_bound"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
