"""SQLite's hot-path commits: on the event loop, never waiting for the lock, checkpointed in the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from ccgw.storage import database
from ccgw.storage.database import SQLiteDatabase


def _database(tmp_path: Path) -> SQLiteDatabase:
    return SQLiteDatabase(f"sqlite:///{tmp_path / 'usage.db'}")


async def _with_table(db: SQLiteDatabase) -> None:
    def create(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER, pad TEXT)"))

    await db.write(create)


def _insert(n: int, seen: list[int] | None = None) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        if seen is not None:
            seen.append(threading.get_ident())
        conn.execute(text("INSERT INTO t (n, pad) VALUES (:n, :pad)"), {"n": n, "pad": "x" * 2000})
        return n

    return work


def test_sqlite_commit_small_runs_on_the_event_loop_and_is_durable(tmp_path: Path) -> None:
    async def go() -> list[int]:
        db = _database(tmp_path)
        await _with_table(db)
        seen: list[int] = []
        assert await db.commit(_insert(1, seen)) == 1
        driver = db._connection(db._now).connection.driver_connection
        assert driver.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # type: ignore[union-attr]
        assert driver.execute("PRAGMA busy_timeout").fetchone() == (0,)  # type: ignore[union-attr]
        await db.close()
        return seen

    seen = asyncio.run(go())
    assert seen == [threading.get_ident()], "committed in the event loop's thread, not handed to the writer"
    with sqlite3.connect(tmp_path / "usage.db") as conn:  # another connection sees it: committed
        assert conn.execute("SELECT n FROM t").fetchall() == [(1,)]


def test_sqlite_commit_while_another_process_holds_the_lock_waits_in_the_thread(tmp_path: Path) -> None:
    async def go() -> tuple[list[int], int, float]:
        db = _database(tmp_path)
        await _with_table(db)
        other = sqlite3.connect(tmp_path / "usage.db", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another gateway writing: the file's write lock is taken
        seen: list[int] = []
        commit = asyncio.ensure_future(db.commit(_insert(2, seen)))
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.3:  # the event loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert not commit.done(), "it waits for the lock rather than failing"
        other.execute("COMMIT")
        result = await commit
        other.close()
        await db.close()
        return seen, ticks, result

    seen, ticks, result = asyncio.run(go())
    assert result == 2
    assert ticks >= 10, "the event loop was not blocked while the lock was held"
    assert seen[-1] != threading.get_ident(), "the waiting commit ran in the writer thread"


def test_sqlite_commit_checkpoints_in_the_writer_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "CHECKPOINT_EVERY", 20)
    wal = tmp_path / "usage.db-wal"

    async def go(checkpoint: bool) -> int:
        db = _database(tmp_path)
        await _with_table(db)
        for n in range(100):
            await db.commit(_insert(n))
            if checkpoint and db._checkpoint is not None:
                await db._checkpoint
            elif not checkpoint:
                db._since_checkpoint = 0
        size = wal.stat().st_size
        await db.close()
        return size

    grown = asyncio.run(go(checkpoint=False))
    (tmp_path / "usage.db").unlink()
    bounded = asyncio.run(go(checkpoint=True))
    # Without checkpoints the loop's connection never checkpoints (it must not: fsyncs); with them,
    # the WAL is reused from its start after each one.
    assert grown > 100 * 2000
    assert bounded < grown / 3


def test_sqlite_commit_on_the_loop_commits_core_statements_and_rolls_back_failures(tmp_path: Path) -> None:
    def core_insert(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (n, pad) VALUES (7, 'core')"))  # SQLAlchemy begins a transaction here

    def fails(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (n, pad) VALUES (8, 'lost')"))
        raise RuntimeError("bug")

    async def go() -> None:
        db = _database(tmp_path)
        await _with_table(db)
        await db.commit(core_insert)
        with pytest.raises(RuntimeError):
            await db.commit(fails)
        await db.commit(_insert(9))  # the connection works again after the failure
        await db.close()

    asyncio.run(go())
    with sqlite3.connect(tmp_path / "usage.db") as conn:
        assert [n for (n,) in conn.execute("SELECT n FROM t ORDER BY n")] == [7, 9]
