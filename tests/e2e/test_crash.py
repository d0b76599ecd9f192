"""SIGKILL while usage is being written under load: `usage.json` stays whole and no count goes backwards.

Each round starts `python app.py` (usage flushed every 50 ms), drives concurrent chat requests
against it (two keys, two models, a third of them streamed) and kills it with SIGKILL mid-load,
while a sampler thread re-reads `usage.json` every few milliseconds. What a kill may lose is bounded:
only requests that completed within the last flush interval (plus the flush itself) before it. A
last round without a kill ends with a graceful stop and must count exactly what the clients saw.
Between rounds the ledger gets a torn last line and a stray temporary file, as a power cut could
leave them; neither may disturb the next process.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import LOCAL_KEY, PROBE_KEY, Process, start_gateway, write_config

pytestmark = pytest.mark.e2e

FLUSH_INTERVAL = 0.05
KILL_ROUNDS = 5
CONCURRENCY = 12
EXPECTED_KEYS = ("total_requests", "failed_requests", "prompt_tokens", "completion_tokens", "by_key", "by_model")
# A success the client saw this long before the kill must be on disk. Measured: at most ~0.07 s
# (interval + one flush) at ~350 requests/s on 2 cores; generous for a loaded machine.
LOSS_WINDOW = 1.0
TORN = b'{"request_id":"req_torn","key":"def'


def flatten(tree: dict[str, Any]) -> dict[str, int]:
    """Every counter by path: totals and each `by_*` breakdown (limit buckets expire by design)."""
    flat = {name: value for name, value in tree.items() if isinstance(value, int)}
    for name, breakdown in tree.items():
        if name.startswith("by_"):
            for label, counts in breakdown.items():
                flat.update({f"{name}/{label}/{counter}": value for counter, value in counts.items()})
    return flat


def read_usage(path: Path) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(path.read_bytes())
    missing = [k for k in EXPECTED_KEYS if k not in tree]
    assert not missing, f"usage.json lacks {missing}"
    return tree


def went_backwards(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int | None]]:
    return {path: (value, after.get(path)) for path, value in before.items() if after.get(path, -1) < value}


class Sampler(threading.Thread):
    """Re-reads `usage.json` continuously: every read must parse and no counter may ever decrease."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.last: dict[str, int] = {}
        self.reads = 0
        self.problems: list[str] = []
        self.halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self.halt.wait(0.005):
            self.sample()

    def sample(self) -> dict[str, int]:
        with self._lock:
            try:
                flat = flatten(read_usage(self.path))
            except FileNotFoundError:
                return self.last
            except (ValueError, AssertionError) as exc:
                self.problems.append(f"unreadable usage.json: {exc}")
                return self.last
            if backwards := went_backwards(self.last, flat):
                self.problems.append(f"counters went backwards: {backwards}")
            self.last, self.reads = flat, self.reads + 1
            return flat


@dataclass
class Load:
    """Concurrent chat requests until halted or the gateway dies (then each worker stops)."""

    url: str
    ok_ids: list[str] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    broken: int = 0  # cut by the kill
    wrong: list[str] = field(default_factory=list)  # answered, but not a complete success
    halt: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Load:
        self.thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self.thread.start()
        return self

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(30)
        assert not self.thread.is_alive()
        assert not self.wrong, self.wrong[:3]

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            await asyncio.gather(*(self._worker(client, i) for i in range(CONCURRENCY)))

    async def _worker(self, client: httpx.AsyncClient, index: int) -> None:
        stream = index % 3 == 0
        text = "fake:slow(deltas=6,delay=0.01)" if stream else "fake:text(deltas=4)"
        body = {
            "model": "deepseek-v4-pro" if index % 2 else "deepseek-v4-flash",
            "stream": stream,
            "messages": [{"role": "user", "content": f"{text} worker {index}"}],
        }
        headers = {"Authorization": f"Bearer {PROBE_KEY if index % 4 == 0 else LOCAL_KEY}"}
        while not self.halt.is_set():
            try:
                async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
                    raw = await response.aread()
            except httpx.HTTPError:
                self.broken += 1
                return
            complete = b"data: [DONE]" in raw if stream else b'"finish_reason":"stop"' in raw
            if response.status_code != 200 or not complete:
                self.wrong.append(f"{response.status_code}: {raw[-300:]!r}")
                return
            self.ok_ids.append(response.headers["x-request-id"])
            self.ok_times.append(time.monotonic())


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def ledger_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line.strip()] if path.exists() else []


def parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def ledger_ids(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in ledger_lines(path) if parses(line)]


def check_restarted(gateway: Process, on_disk: dict[str, int], known_id: str | None) -> None:
    """A fresh process serves exactly what the file holds, and reads the ledger it inherited."""
    usage = httpx.get(gateway.url + "/usage", timeout=10)
    assert usage.status_code == 200, usage.text
    assert usage.json()["total_requests"] == on_disk.get("total_requests", 0)
    owner = {"Authorization": f"Bearer {LOCAL_KEY}"}  # request ids are shown only to a key (this one sees all)
    recent = httpx.get(gateway.url + "/usage/recent", params={"limit": 1000}, headers=owner, timeout=10)
    assert recent.status_code == 200, recent.text
    assert all(isinstance(entry, dict) and entry.get("request_id") for entry in recent.json()["requests"])
    if known_id is not None:
        url = f"{gateway.url}/v1/usage/{known_id}"
        found = httpx.get(url, headers={"Authorization": f"Bearer {LOCAL_KEY}"}, timeout=10)
        assert found.status_code == 200, found.text


def kill_round(workdir: Path, config: Path, sampler: Sampler, round_no: int, known_id: str | None) -> Load:
    """One start → load → SIGKILL cycle; checks what the kill may and may not lose."""
    before = sampler.sample()
    gateway = start_gateway(workdir, config)
    try:
        check_restarted(gateway, before, known_id)
        load = Load(gateway.url).start()
        started = time.monotonic()
        duration = 0.3 + 0.15 * round_no  # kill at a different point of the flush cycle each round
        wait_for(lambda: len(load.ok_ids) >= 20 and time.monotonic() - started > duration, 30, "load")
        last_seen = sampler.sample()
        gateway.popen.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        gateway.popen.wait(10)
    finally:
        gateway.stop(signal.SIGKILL)
    load.join()

    after = sampler.sample()
    assert not went_backwards(last_seen, after)
    counted = after["total_requests"] - before.get("total_requests", 0)
    assert counted <= len(load.ok_ids) + load.broken, "counted requests nobody sent"
    lost = len(load.ok_ids) - counted
    recent = sum(1 for t in load.ok_times if t >= killed_at - LOSS_WINDOW)
    assert lost <= recent, f"lost {lost} requests; only {recent} completed in the {LOSS_WINDOW}s before the kill"
    return load


def test_sigkill_under_load_keeps_usage_whole_and_monotonic(tmp_path: Path, fake: Process) -> None:
    config = write_config(tmp_path, fake.url, usage_flush_interval=FLUSH_INTERVAL)
    usage_path, ledger_path = tmp_path / "usage.json", tmp_path / "usage.requests.jsonl"
    sampler = Sampler(usage_path)
    sampler.start()
    gateway: Process | None = None
    try:
        known_id: str | None = None
        for round_no in range(KILL_ROUNDS):
            if round_no == 2:
                with ledger_path.open("ab") as handle:
                    handle.write(TORN)
            load = kill_round(tmp_path, config, sampler, round_no, known_id)
            written = set(ledger_ids(ledger_path))
            known_id = next((i for i in load.ok_ids if i in written), known_id)

        (tmp_path / "usage.json.planted.tmp").write_text(json.dumps({"total_requests": 10**9}))
        before = sampler.sample()
        ledger_before = len(ledger_lines(ledger_path))
        gateway = start_gateway(tmp_path, config)
        check_restarted(gateway, before, known_id)
        load = Load(gateway.url).start()
        wait_for(lambda: len(load.ok_ids) >= 100, 30, "load")
        load.halt.set()
        load.join()
        assert load.broken == 0
        gateway.stop(signal.SIGTERM, timeout=30)
    finally:
        sampler.halt.set()
        if gateway is not None:
            gateway.stop(signal.SIGKILL)

    final = read_usage(usage_path)
    assert not sampler.problems, sampler.problems[:3]
    assert sampler.reads > 100
    assert final["total_requests"] - before["total_requests"] == len(load.ok_ids)
    assert final["failed_requests"] == before["failed_requests"]
    assert not list(tmp_path.glob("usage.json.corrupt-*"))

    lines = ledger_lines(ledger_path)
    assert [line for line in lines if not parses(line)] == [TORN], "a record was lost to the torn line"
    ids = ledger_ids(ledger_path)
    assert len(ids) == len(set(ids)), "a request was written to the ledger twice"
    assert len(ids) <= final["total_requests"]
    assert len(lines) - ledger_before == len(load.ok_ids)
    assert set(load.ok_ids) <= set(ids)
