"""SIGKILL under concurrent load, on both engines: nothing a client was answered, and nothing
`/usage` showed, is ever lost.

Each round starts `python app.py`, drives concurrent chat requests (two keys, two models, a third
streamed) while a sampler polls `/usage`, and kills the gateway with SIGKILL at a different moment
each round. After each kill the database must hold a ledger row for every request whose answer a
client received completely, its totals must be at least the most `/usage` ever showed, and no
request may be counted twice. A last round stops gracefully and must count exactly what the clients saw.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import LOCAL_KEY, PROBE_KEY, Process, ledger, start_gateway, write_config

pytestmark = pytest.mark.e2e

KILL_ROUNDS = 3
CONCURRENCY = 12


@dataclass
class Load:
    """Concurrent chat requests until halted or the gateway dies (then each worker stops)."""

    url: str
    ok_ids: list[str] = field(default_factory=list)
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


class UsageSampler(threading.Thread):
    """Polls `/usage`: the highest `total_requests` it ever showed."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.shown = 0
        self.reads = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while not self.halt.wait(0.01):
                try:
                    total = client.get("/usage").json()["total_requests"]
                except (httpx.HTTPError, ValueError, KeyError):
                    continue
                self.shown, self.reads = max(self.shown, total), self.reads + 1


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def check_database(rows: list[dict[str, Any]], totals: dict[str, Any], acknowledged: set[str], shown: int) -> None:
    ids = [row["request_id"] for row in rows]
    assert len(ids) == len(set(ids)), "a request was recorded twice"
    missing = acknowledged - set(ids)
    assert not missing, f"{len(missing)} answered requests were lost, e.g. {sorted(missing)[:3]}"
    assert totals["total_requests"] == len(rows), "the counters disagree with the ledger"
    assert totals["total_requests"] >= shown, f"/usage showed {shown}, the database holds {totals['total_requests']}"


def run_rounds(tmp_path: Path, fake: Process, read: Callable[[], tuple[list[dict[str, Any]], dict[str, Any]]],
               **storage: Any) -> None:  # fmt: skip
    config = write_config(tmp_path, fake.url, **storage)
    acknowledged: set[str] = set()
    shown = 0
    for round_no in range(KILL_ROUNDS):
        gateway = start_gateway(tmp_path, config)
        sampler = UsageSampler(gateway.url)
        try:
            assert httpx.get(gateway.url + "/usage", timeout=10).json()["total_requests"] >= shown
            sampler.start()
            load = Load(gateway.url).start()
            started = time.monotonic()
            duration = 0.4 + 0.23 * round_no  # a different moment of the load each round
            wait_for(  # the kill comes after some load and some reads of /usage, at a different moment each round
                lambda: len(load.ok_ids) >= 20 and sampler.reads > 3 and time.monotonic() - started > duration,  # noqa: B023
                60,
                "load",
            )
            gateway.popen.send_signal(signal.SIGKILL)
            gateway.popen.wait(10)
        finally:
            sampler.halt.set()
            gateway.stop(signal.SIGKILL)
        load.join()
        sampler.join(5)
        assert sampler.reads > 3
        acknowledged |= set(load.ok_ids)
        shown = max(shown, sampler.shown)
        rows, totals = read()
        check_database(rows, totals, acknowledged, shown)

    (tmp_path / "usage.json.planted.tmp").write_text(json.dumps({"total_requests": 10**9}))
    gateway = start_gateway(tmp_path, config)
    try:
        before = httpx.get(gateway.url + "/usage", timeout=10).json()["total_requests"]
        load = Load(gateway.url).start()
        wait_for(lambda: len(load.ok_ids) >= 100, 60, "load")
        load.halt.set()
        load.join()
        assert load.broken == 0
        gateway.stop(signal.SIGTERM, timeout=30)
    finally:
        gateway.stop(signal.SIGKILL)
    rows, totals = read()
    check_database(rows, totals, acknowledged | set(load.ok_ids), shown)
    assert totals["total_requests"] - before == len(load.ok_ids)
    assert totals["failed_requests"] == 0
    summary = json.loads((tmp_path / "usage.json").read_text())
    assert summary["total_requests"] == totals["total_requests"]


def test_sigkill_under_load_loses_nothing_acknowledged_sqlite(tmp_path: Path, fake: Process) -> None:
    def read() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return ledger(tmp_path), _sqlite_totals(tmp_path)

    run_rounds(tmp_path, fake, read)


def _sqlite_totals(workdir: Path) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(f"file:{workdir / 'usage.db'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT total_requests, failed_requests FROM counters WHERE scope = 'total'").fetchone()
    return {"total_requests": row[0], "failed_requests": row[1]} if row else {"total_requests": 0, "failed_requests": 0}


def test_sigkill_under_load_loses_nothing_acknowledged_postgresql(tmp_path: Path, fake: Process, postgres: Any) -> None:
    url = postgres.new_database()
    database = url.rsplit("/", 1)[1]

    def read() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        ids = postgres.psql("SELECT request_id FROM requests", database).split()
        totals = postgres.psql("SELECT total_requests, failed_requests FROM counters WHERE scope = 'total'", database)
        total, failed = (int(v) for v in totals.split("|")) if totals else (0, 0)
        return [{"request_id": i} for i in ids], {"total_requests": total, "failed_requests": failed}

    run_rounds(tmp_path, fake, read, storage={"url": url})
