"""The storage layer on both engines (SQLite and a real PostgreSQL): records, counters, limits,
budget reservations, reasoning, migrations, the import of old files, and failures."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from ccgw import errors
from ccgw.config import LocalKey, StorageSettings
from ccgw.storage import StorageStartError, Store, check, open_store, schema
from ccgw.storage.database import Database
from ccgw.usage import UsageRecord

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(i: int = 0, *, status: str = "ok", key: str = "default", cost: int = 123, **fields: Any) -> UsageRecord:
    base: dict[str, Any] = {
        "request_id": f"req_{i}",
        "key": key,
        "endpoint": "chat.completions",
        "model": "deepseek/deepseek-v4-pro",
        "status": status,
        "input_tokens": 100,
        "cache_read_tokens": 40,
        "cache_write_tokens": 2,
        "output_tokens": 7,
        "reasoning_tokens": 3,
        "cost_micro": cost,
        "latency_ms": 12.5,
        "at": NOW,
    }
    return UsageRecord(**{**base, **fields})


async def opened(tmp_path: Path, url: str, clock: Callable[[], float] | None = None, **settings: Any) -> Store:
    return await open_store(StorageSettings(url=url, **settings), tmp_path / "usage.json", clock=clock or Clock())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_store_records_commit_and_survive_restart(tmp_path: Path, storage_url: str) -> None:
    async def first() -> None:
        store = await opened(tmp_path, storage_url)
        for i in range(5):
            store.record(record(i, status="ok" if i else "upstream_error"))
        await store.durable()
        assert (await store.lookup("req_3") or {})["cost_micro"] == 123
        await store.close()

    async def second() -> dict[str, Any]:
        store = await opened(tmp_path, storage_url)
        tree = await store.tree()
        assert [e["request_id"] for e in await store.recent(2)] in (["req_4", "req_3"], ["req_3", "req_4"])
        await store.close()
        return tree

    run(first())
    tree = run(second())
    assert (tree["total_requests"], tree["failed_requests"]) == (5, 1)
    assert (tree["prompt_tokens"], tree["completion_tokens"]) == (500, 35)
    assert (tree["cache_read_tokens"], tree["cache_write_tokens"], tree["reasoning_tokens"]) == (200, 10, 15)
    assert tree["by_key"]["default"]["total_requests"] == 5
    assert tree["by_model"]["deepseek/deepseek-v4-pro"]["cost_micro"] == 615
    assert tree["by_day"] == {"2027-01-15": tree["by_key"]["default"]}
    assert list(tree["by_hour"]) == ["2027-01-15T08"]
    snapshot = json.loads((tmp_path / "usage.json").read_text())
    assert snapshot["total_requests"] == 5
    assert snapshot["by_key"]["default"]["prompt_tokens"] == 500
    assert stat.S_IMODE((tmp_path / "usage.json").stat().st_mode) == 0o600


def test_store_rejected_requests_counted_apart(tmp_path: Path, storage_url: str) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any] | None]:
        store = await opened(tmp_path, storage_url)
        store.record(record(1))
        store.record(record(2, status="key_rate_limited", upstream=False, cost=0, input_tokens=0, output_tokens=0))
        await store.durable()
        tree, entry = await store.tree(), await store.lookup("req_2")
        await store.close()
        return tree, entry

    tree, entry = run(go())
    assert (tree["total_requests"], tree["failed_requests"], tree["rejected_requests"]) == (1, 0, 1)
    assert tree["by_key"]["default"]["rejected_requests"] == 1
    assert entry is not None
    assert (entry["upstream"], entry["status"]) == (False, "key_rate_limited")


def test_store_amend_corrects_cost_everywhere(tmp_path: Path, storage_url: str) -> None:
    async def go() -> tuple[dict[str, Any], dict[str, Any] | None]:
        store = await opened(tmp_path, storage_url)
        first = record(1, cost=0)
        store.record(first)
        await store.durable()
        store.amend(first, record(1, cost=900))
        await store.durable()
        tree, entry = await store.tree(), await store.lookup("req_1")
        await store.close()
        return tree, entry

    tree, entry = run(go())
    assert tree["cost_micro"] == 900
    assert tree["total_requests"] == 1
    assert tree["by_model"]["deepseek/deepseek-v4-pro"]["cost_micro"] == 900
    assert entry is not None and entry["cost_micro"] == 900


async def _admit_all(stores: list[Store], key: LocalKey, count: int) -> list[bool]:
    async def one(i: int) -> bool:
        try:
            await stores[i % len(stores)].admit(key, "deepseek/deepseek-v4-pro", f"req_{i}", 100)
        except errors.GatewayError:
            return False
        return True

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_store_rpm_exact_across_two_stores_on_one_database(tmp_path: Path, storage_url: str) -> None:
    key = LocalKey(name="script", key="ccgw-script-key-0123", rpm=10)

    async def go() -> tuple[list[bool], list[bool]]:
        a, b = await opened(tmp_path, storage_url), await opened(tmp_path, storage_url)
        admitted = await _admit_all([a, b], key, 40)
        again = await _admit_all([b], key, 1)
        await a.close()
        await b.close()
        return admitted, again

    admitted, again = run(go())
    assert sum(admitted) == 10
    assert again == [False]


def test_store_budget_reservations_bound_overshoot_to_one_estimate(tmp_path: Path, storage_url: str) -> None:
    """Issue 11's case: budget $0.00005 a day, 100 concurrent requests: one gets in."""
    key = LocalKey(name="script", key="ccgw-script-key-0123", budget_usd_per_day=0.00005)

    async def go() -> tuple[list[bool], list[bool], list[bool]]:
        a, b = await opened(tmp_path, storage_url), await opened(tmp_path, storage_url)
        admitted = await _admit_all([a, b], key, 100)
        winner = admitted.index(True)
        store = [a, b][winner % 2]
        while_running = await _admit_all([a], key, 1)
        store.record(record(winner, key="script", cost=123))  # settles: spent 123 µ$ ≥ 50 µ$
        await store.durable()
        after = await _admit_all([b], key, 1)
        await a.close()
        await b.close()
        return admitted, while_running, after

    admitted, while_running, after = run(go())
    assert sum(admitted) == 1
    assert while_running == [False]
    assert after == [False]


def test_store_budget_refusal_names_spent_and_held(tmp_path: Path, storage_url: str) -> None:
    key = LocalKey(name="script", key="ccgw-script-key-0123", budget_usd_per_day=1.0)

    async def go() -> errors.GatewayError:
        store = await opened(tmp_path, storage_url, default_price_usd_per_mtok=10)
        await store.admit(key, "m", "req_a", 60_000)  # holds 60,000 × 10 µ$ = $0.60
        await store.admit(key, "m", "req_b", 60_000)  # $0.60 held < $1: admitted
        with pytest.raises(errors.PaymentRequiredError) as refused:
            await store.admit(key, "m", "req_c", 60_000)
        await store.close()
        return refused.value

    refusal = run(go())
    assert refusal.code == "budget_exceeded"
    assert "spent $0.0000 of its $1 budget per day (and $1.2000 is held by its requests still running)" in str(refusal)


def test_store_dead_gateways_reservations_stop_counting(tmp_path: Path, storage_url: str) -> None:
    key = LocalKey(name="script", key="ccgw-script-key-0123", budget_usd_per_day=0.00005)
    clock = Clock()

    async def go() -> list[bool]:
        dead = await opened(tmp_path, storage_url, clock)
        await dead.admit(key, "m", "req_dead", 100)  # then the gateway is killed: never recorded
        await dead.db.close()
        live = await opened(tmp_path, storage_url, clock)
        refused_now = await _admit_all([live], key, 1)
        clock.now += 61
        live._queue().heartbeat = live._heartbeat()
        await live.durable()
        later = await _admit_all([live], key, 1)
        await live.close()
        return refused_now + later

    assert run(go()) == [False, True]


def test_store_reasoning_shared_between_stores(tmp_path: Path, storage_url: str) -> None:
    async def go() -> dict[str, str]:
        a, b = await opened(tmp_path, storage_url), await opened(tmp_path, storage_url)
        a.remember(["call_1", "call_2"], "because")
        await a.durable()
        found = await b.reasoning(["call_1", "call_2", "call_3"])
        await a.close()
        await b.close()
        return found

    assert run(go()) == {"call_1": "because", "call_2": "because"}


def test_store_migrates_a_version_1_database_keeping_its_data(tmp_path: Path, storage_url: str) -> None:
    from ccgw.storage import database_url
    from ccgw.storage.database import open_database

    async def go() -> tuple[int, dict[str, Any], dict[str, Any] | None]:
        db = open_database(database_url(StorageSettings(url=storage_url), tmp_path / "usage.json"))
        await db.write(lambda conn: schema.migrate(conn, target=1))
        for column in ("account", "path"):  # the ledger as version 1 made it, before version 3's columns
            await db.write(lambda conn, c=column: conn.execute(schema.text(f"ALTER TABLE requests DROP COLUMN {c}")))
        await db.write(
            lambda conn: conn.execute(
                schema.counters.insert().values(
                    scope="total", label="", **dict.fromkeys(schema.COUNTERS, 0) | {"total_requests": 7}
                )
            )
        )
        assert await db.read(lambda conn: conn.dialect.has_table(conn, "account_state")) is False
        await db.close()
        store = await opened(tmp_path, storage_url)
        version = await store.db.read(schema.current_version)
        has_v4 = await store.db.read(lambda conn: conn.dialect.has_table(conn, "account_state"))
        store.record(record(9, account="work", path="provider"))
        await store.durable()
        served = await store.lookup("req_9")
        tree = await store.tree()
        await store.close()
        assert has_v4
        return version, tree, served

    version, tree, served = run(go())
    assert version == schema.LATEST == 4
    assert tree["total_requests"] == 8
    assert served is not None and (served["account"], served["path"]) == ("work", "provider")
    assert tree["by_account"]["work"]["total_requests"] == 1 and tree["by_path"]["provider"]["total_requests"] == 1


# Version 2's two tables as the phase-1 code created them (never written by any ccgw).
PHASE_1_TABLES = (
    "CREATE TABLE account_state (account VARCHAR(64) PRIMARY KEY, cooldown_until FLOAT NOT NULL, "
    "reason VARCHAR(100) NOT NULL, failures INTEGER NOT NULL, cooled_by TEXT, blocked_models TEXT NOT NULL, "
    "updated_at FLOAT NOT NULL)",
    "CREATE TABLE plan_state (account VARCHAR(64) PRIMARY KEY, document TEXT, fetched_at FLOAT, "
    "exhausted TEXT NOT NULL, updated_at FLOAT NOT NULL)",
)


def test_store_migrates_a_version_3_database_to_one_row_per_shared_fact(tmp_path: Path, storage_url: str) -> None:
    from ccgw.storage import database_url
    from ccgw.storage.database import open_database

    async def go() -> tuple[int, set[str], bool, list[dict[str, Any]]]:
        db = open_database(database_url(StorageSettings(url=storage_url), tmp_path / "usage.json"))
        await db.write(lambda conn: schema.migrate(conn, target=1))
        for sql in PHASE_1_TABLES:
            await db.write(lambda conn, sql=sql: conn.execute(schema.text(sql)))
        await db.write(lambda conn: schema.migrate(conn, target=3))
        await db.close()
        store = await opened(tmp_path, storage_url)
        version = await store.db.read(schema.current_version)
        columns = await store.db.read(
            lambda conn: {c["name"] for c in schema.inspect(conn).get_columns("account_state")}
        )
        has_plan_state = await store.db.read(lambda conn: conn.dialect.has_table(conn, "plan_state"))
        store.share({"account": "a" * 64, "part": "cooldown", "until": NOW + 60, "data": "{}", "updated_at": NOW})
        await store.durable()
        rows = await store.shared_rows(["a" * 64])
        await store.close()
        return version, columns, has_plan_state, rows

    version, columns, has_plan_state, rows = run(go())
    assert version == 4
    assert columns == {"account", "part", "until", "data", "updated_at", "owner"}
    assert not has_plan_state
    assert [(r["part"], r["until"], r["live"]) for r in rows] == [("cooldown", NOW + 60, True)]


def test_store_refuses_a_newer_schema_in_one_line(tmp_path: Path, storage_url: str) -> None:
    async def create() -> None:
        await (await opened(tmp_path, storage_url)).close()

    run(create())
    from ccgw.storage import database_url
    from ccgw.storage.database import open_database

    async def bump() -> None:
        db = open_database(database_url(StorageSettings(url=storage_url), tmp_path / "usage.json"))
        await db.write(lambda conn: conn.execute(schema.schema_version.update().values(version=99)))
        await db.close()

    run(bump())
    with pytest.raises(StorageStartError) as refused:
        check(StorageSettings(url=storage_url), tmp_path / "usage.json")
    assert str(refused.value) == "the database has schema version 99; this ccgw knows up to 4"


LEGACY_TREE = {
    "total_requests": 3,
    "prompt_tokens": 7527,
    "completion_tokens": 55,
    "cache_read_tokens": 7424,
    "cache_write_tokens": 0,
    "failed_requests": 1,
    "by_key": {"default": {"total_requests": 3, "prompt_tokens": 7527}},
    "by_day": {"2026-11-20": {"total_requests": 3}},
}


def test_store_imports_old_files_once(tmp_path: Path, storage_url: str) -> None:
    (tmp_path / "usage.json").write_text(json.dumps(LEGACY_TREE))
    lines = [
        json.dumps({"request_id": f"req_old{i}", "key": "default", "endpoint": "chat.completions", "model": "m",
                    "status": "ok", "input_tokens": 10, "cost_micro": 5, "latency_ms": 3.0, "ttft_ms": None,
                    "at": f"2026-11-20T10:00:0{i}.250Z"})
        for i in range(3)
    ]  # fmt: skip
    (tmp_path / "usage.requests.jsonl").write_text("\n".join(lines) + '\n{"request_id":"req_torn","ke')

    async def go() -> tuple[dict[str, Any], dict[str, Any] | None]:
        store = await opened(tmp_path, storage_url)
        await store.close()
        store = await opened(tmp_path, storage_url)  # a second start imports nothing again
        tree, entry = await store.tree(), await store.lookup("req_old2")
        await store.close()
        return tree, entry

    tree, entry = run(go())
    assert (tree["total_requests"], tree["prompt_tokens"], tree["failed_requests"]) == (3, 7527, 1)
    assert tree["by_key"]["default"]["prompt_tokens"] == 7527
    assert entry is not None
    assert (entry["at"], entry["cost_micro"], entry["upstream"]) == ("2026-11-20T10:00:02.250Z", 5, True)
    assert not (tmp_path / "usage.requests.jsonl").exists()
    assert (tmp_path / "usage.requests.jsonl.imported").exists()


def test_store_corrupt_database_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "usage.db").write_bytes(b"this is not a database, just some bytes" * 200)
    with pytest.raises(StorageStartError) as refused:
        check(StorageSettings(), tmp_path / "usage.json")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"sqlite:///{tmp_path}/usage.db is not a SQLite database")
    assert "move it aside" in message


def test_store_unreadable_usage_json_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "usage.json").write_text('{"total_requests": 3, "prompt_tok')
    with pytest.raises(StorageStartError) as refused:
        check(StorageSettings(), tmp_path / "usage.json")
    assert str(refused.value) == f"{tmp_path}/usage.json is not valid JSON; move it aside (its totals are not imported)"


@pytest.mark.parametrize("name", ["usage.db", "usage.db-wal", "usage.json", "usage.requests.jsonl"])
def test_store_refuses_symlinked_files(tmp_path: Path, name: str) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("{}")
    (tmp_path / name).symlink_to(target)
    with pytest.raises(StorageStartError) as refused:
        check(StorageSettings(), tmp_path / "usage.json")
    assert "symlink" in str(refused.value)
    assert target.read_text() == "{}"


def test_store_database_files_are_private(tmp_path: Path) -> None:
    async def go() -> None:
        store = await opened(tmp_path, "")
        store.record(record(1))
        await store.durable()
        await store.close()

    run(go())
    for name in ("usage.db", "usage.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


class FailingDatabase(Database):
    """The real database, whose writes fail while `failing` is set (a full disk, a lost server)."""

    def __init__(self, real: Database) -> None:
        self.real, self.dialect, self.url, self.failing = real, real.dialect, real.url, False

    async def write(self, fn: Any) -> Any:
        if self.failing:
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))
        return await self.real.write(fn)

    async def read(self, fn: Any) -> Any:
        return await self.real.read(fn)

    async def close(self) -> None:
        await self.real.close()


def test_store_failure_is_visible_kept_and_saved_on_recovery(
    tmp_path: Path, storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        store = await opened(tmp_path, storage_url)
        failing = store.db = FailingDatabase(store.db)
        failing.failing = True
        for i in range(3):
            store.record(record(i))
            assert not await store.settle()
        status = store.status()
        assert status["status"] == "failing"
        assert status["unsaved_requests"] == 3
        assert "database or disk is full" in status["error"]
        with pytest.raises(errors.ServiceUnavailableError):
            await store.admit(LocalKey(name="k", key="ccgw-k-0123456789", rpm=5), "m", "req_x", 10)
        failing.failing = False
        store._stop.set()  # retry now rather than after the back-off
        for _ in range(100):
            if store.status()["status"] == "ok":
                break
            await asyncio.sleep(0.02)
        assert store.status() | {"database": ""} == {
            "status": "ok", "engine": failing.dialect, "database": "", "error": None,
            "failing_since": None, "unsaved_requests": 0,
        }  # fmt: skip
        assert (await store.tree())["total_requests"] == 3
        await store.close()

    run(go())
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "usage storage failed" in r.getMessage()]
    assert len(logged) == 1, "logged once, not per request"
    assert "disk" in logged[0].getMessage()


def test_store_pending_records_reported_at_shutdown(
    tmp_path: Path, storage_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        store = await opened(tmp_path, storage_url)
        store.db = failing = FailingDatabase(store.db)
        failing.failing = True
        store.record(record(41))
        store.record(record(42))
        await store.settle()
        await store.close()

    run(go())
    reports = [r.getMessage() for r in caplog.records if "could not be saved before shutdown" in r.getMessage()]
    assert reports == [
        "usage storage: 2 request record(s) could not be saved before shutdown (database or disk is full): req_41, req_42"
    ]


def test_store_snapshot_refuses_symlink_written_later(tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        store = await opened(tmp_path, "")
        target = tmp_path / "target.json"
        target.write_text("keep")
        if (tmp_path / "usage.json").exists():
            os.replace(tmp_path / "usage.json", tmp_path / "old.json")
        (tmp_path / "usage.json").symlink_to(target)
        store.record(record(1))
        await store.durable()
        with pytest.raises(OSError, match="symlink"):
            await store._snapshot()
        status = store.status()
        (tmp_path / "usage.json").unlink()
        await store.close()
        assert target.read_text() == "keep"
        return status

    status = run(go())
    assert status["status"] == "failing"
    assert "symlink" in status["error"]


def test_store_cli_start_with_corrupt_database_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text('api_key: "ccgw-cli-test-key-0123"\ncommandcode:\n  api_key: "user_x"\n')
    (tmp_path / "usage.db").write_bytes(b"garbage" * 1000)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "app.py"), "--config", str(config), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if not line[:4].isdigit()]  # log lines have a date
    assert lines == [
        f"ccgw: sqlite:///{tmp_path}/usage.db is not a SQLite database (file is not a database); "
        "move it aside or restore it from a backup"
    ]
    assert "Traceback" not in done.stdout + done.stderr
