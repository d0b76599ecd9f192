"""The usage store: counts, atomic persistence, corrupt files, several processes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from pathlib import Path

from ccgw.usage import UsageRecord, UsageStore


def record(i: int = 0, *, status: str = "ok", key: str = "default") -> UsageRecord:
    return UsageRecord(
        request_id=f"req_{i}",
        key=key,
        endpoint="chat.completions",
        model="deepseek/deepseek-v4-pro",
        status=status,
        input_tokens=100,
        cache_read_tokens=40,
        cache_write_tokens=2,
        output_tokens=7,
        reasoning_tokens=3,
        cost_micro=123,
        at=1_800_000_000,
    )


def test_store_records_and_persists_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"

    async def run() -> None:
        store = UsageStore(path, interval=0.01)
        store.load()
        for i in range(5):
            store.record(record(i, status="ok" if i else "upstream_error"))
        await store.close()

    asyncio.run(run())
    data = json.loads(path.read_text())
    assert data["total_requests"] == 5
    assert data["failed_requests"] == 1
    assert (data["prompt_tokens"], data["completion_tokens"]) == (500, 35)
    assert (data["cache_read_tokens"], data["cache_write_tokens"]) == (200, 10)
    assert data["by_key"]["default"]["total_requests"] == 5
    assert data["by_model"]["deepseek/deepseek-v4-pro"]["cost_micro"] == 615
    restarted = UsageStore(path)
    restarted.load()
    assert restarted.snapshot()["total_requests"] == 5


def test_store_old_cmdcode2apipy_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    path.write_text(
        '{"total_requests": 1, "prompt_tokens": 7527, "completion_tokens": 55, "cache_read_tokens": 7424, "cache_write_tokens": 0}'
    )
    store = UsageStore(path)
    store.load()
    assert store.snapshot()["prompt_tokens"] == 7527


def test_store_corrupt_file_set_aside_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    path.write_text('{"total_requests": 3, "prompt_tok')
    store = UsageStore(path)
    store.load()
    assert store.snapshot()["total_requests"] == 0
    assert len(list(tmp_path.glob("usage.json.corrupt-*"))) == 1


def test_store_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"

    async def run() -> None:
        store = UsageStore(path, interval=0.001)
        store.load()
        for i in range(50):
            store.record(record(i))
            await asyncio.sleep(0)
        await store.close()

    asyncio.run(run())
    assert json.loads(path.read_text())["total_requests"] == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.json", "usage.json.lock", "usage.requests.jsonl"]


def _worker(path: str, count: int) -> None:
    async def run() -> None:
        store = UsageStore(Path(path), interval=0.005)
        store.load()
        for i in range(count):
            store.record(record(i))
            if i % 7 == 0:
                await asyncio.sleep(0.002)
        await store.close()

    asyncio.run(run())


def test_store_several_processes_lose_and_double_nothing(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(str(path), 200)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    data = json.loads(path.read_text())
    assert data["total_requests"] == 800
    assert data["prompt_tokens"] == 80_000


def test_store_records_arriving_during_a_flush_are_flushed_too(tmp_path: Path) -> None:
    path = tmp_path / "usage.json"

    async def run() -> int:
        store = UsageStore(path, interval=0.01)
        store.load()
        store.record(record(0))
        await asyncio.sleep(0.011)  # the first flush has started (its write runs in a thread)
        store.record(record(1))  # ...and this arrives while it runs
        for _ in range(100):
            await asyncio.sleep(0.01)
            if path.exists() and json.loads(path.read_text())["total_requests"] == 2:
                break
        count = int(json.loads(path.read_text())["total_requests"])
        await store.close()
        return count

    assert asyncio.run(run()) == 2  # written by a flush, not only by close()
