"""Graceful shutdown of `python app.py` on SIGTERM and SIGINT.

On the signal the gateway stops accepting connections, lets in-flight requests finish within
`shutdown_grace` seconds, then writes `usage.json` and exits 0. A stream still running when the grace
period ends is cut: the client sees it break (never a fabricated `stop`), and usage still records
it as failed. `usage_flush_interval` is 60 s here, so only the shutdown writes `usage.json`; the
ledger (`usage.db`) has each record before its answer ended.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import LOCAL_KEY, Process, ledger, start_gateway, write_config

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}


@dataclass
class Stream:
    """A streamed chat completion read line by line in a thread, with what it ended with."""

    url: str
    prompt: str
    lines: list[str] = field(default_factory=list)
    request_id: str | None = None
    error: Exception | None = None
    ended_at: float | None = None

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._read, daemon=True)
        thread.start()
        return thread

    def _read(self) -> None:
        body = {
            "model": "deepseek-v4-flash",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": self.prompt}],
        }
        try:
            with httpx.stream("POST", self.url + "/v1/chat/completions", json=body, headers=HEADERS, timeout=60) as r:
                r.raise_for_status()
                self.request_id = r.headers["x-request-id"]
                for line in r.iter_lines():
                    self.lines.append(line)
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    def payloads(self) -> list[Any]:
        data = [line[6:] for line in self.lines if line.startswith("data: ")]
        return [d if d == "[DONE]" else json.loads(d) for d in data]

    def text(self) -> str:
        chunks = [p for p in self.payloads() if isinstance(p, dict) and p.get("choices")]
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)

    def deltas(self) -> int:
        return self.text().count("tok")

    def finish_reasons(self) -> list[str]:
        return [
            c["finish_reason"]
            for p in self.payloads()
            if isinstance(p, dict)
            for c in p.get("choices", [])
            if c.get("finish_reason")
        ]


def wait_for(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic()


def refused(url: str) -> bool:
    try:
        httpx.get(url + "/health", timeout=1)
    except httpx.TransportError:
        return True
    return False


def gateway_for(workdir: Path, fake: Process, **settings: Any) -> Process:
    config = write_config(workdir, fake.url, usage_flush_interval=60, **settings)
    return start_gateway(workdir, config)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_shutdown_signal_lets_stream_finish_then_flushes_usage(tmp_path: Path, fake: Process, sig: int) -> None:
    gateway = gateway_for(tmp_path, fake, shutdown_grace=30)
    stream = Stream(gateway.url, "fake:slow(deltas=30,delay=0.1)")
    try:
        thread = stream.start()
        wait_for(lambda: stream.deltas() >= 3, 30, "the stream to start")
        gateway.popen.send_signal(sig)
        signalled = time.monotonic()

        refused_at = wait_for(lambda: refused(gateway.url), 10, "new connections to be refused")
        assert stream.ended_at is None, "the listener should close while the stream is still running"
        assert refused_at - signalled < 5

        returncode = gateway.popen.wait(30)
        exited_at = time.monotonic()
        thread.join(10)
    finally:
        gateway.stop(signal.SIGKILL)

    assert stream.error is None, stream.error
    assert stream.text() == "".join(f"tok{i} " for i in range(30))
    assert stream.finish_reasons() == ["stop"]
    assert stream.payloads()[-1] == "[DONE]"
    assert returncode == 0, f"exit status {returncode} after {signal.Signals(sig).name}:\n{gateway.output()[-2000:]}"
    assert exited_at - signalled < 30

    reported = next(p["usage"] for p in stream.payloads() if isinstance(p, dict) and p.get("usage"))
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["total_requests"] == 1
    assert usage["failed_requests"] == 0
    assert usage["prompt_tokens"] == reported["prompt_tokens"]
    assert usage["completion_tokens"] == reported["completion_tokens"] == 30
    [entry] = ledger(tmp_path)
    assert entry["request_id"] == stream.request_id
    assert entry["status"] == "ok"


def test_stream_longer_than_grace_is_cut_and_still_recorded(tmp_path: Path, fake: Process) -> None:
    grace = 1
    gateway = gateway_for(tmp_path, fake, shutdown_grace=grace)
    stream = Stream(gateway.url, "fake:slow(deltas=200,delay=0.1)")
    try:
        thread = stream.start()
        wait_for(lambda: stream.deltas() >= 3, 30, "the stream to start")
        gateway.popen.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        returncode = gateway.popen.wait(grace + 15)
        exited_at = time.monotonic()
        thread.join(10)
    finally:
        gateway.stop(signal.SIGKILL)

    assert exited_at - signalled < grace + 5, f"took {exited_at - signalled:.1f}s with a {grace}s grace period"
    assert stream.ended_at is not None
    assert 3 <= stream.deltas() < 200
    assert "stop" not in stream.finish_reasons(), "a cut stream must not look complete"
    assert "[DONE]" not in stream.payloads()
    errors = [p for p in stream.payloads() if isinstance(p, dict) and "error" in p]
    assert stream.error is not None or errors, "the client must see the stream break"

    usage = json.loads((tmp_path / "usage.json").read_text()) if (tmp_path / "usage.json").exists() else {}
    assert usage.get("total_requests") == 1, f"the cut request is not in usage.json:\n{gateway.output()[-3000:]}"
    assert usage["failed_requests"] == 1
    [entry] = ledger(tmp_path)
    assert entry["request_id"] == stream.request_id
    assert entry["status"] != "ok"
    assert returncode == 0, f"exit status {returncode}:\n{gateway.output()[-2000:]}"
