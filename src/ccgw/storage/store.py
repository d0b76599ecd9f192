"""The usage store: the ledger, counters, limit windows and reservations, reasoning, on one database.

Writes are queued and written by one task, several requests per transaction (group commit): a
request's record is queued when its answer ends, and the response waits for :meth:`Store.durable`
before its last byte, so nothing a client was answered is lost to a crash. Admissions of keys with
limits go through the same queue, in the same transactions, so a window's count and the check
against it are one atomic step across every gateway on the database.

A failing database does not stop answering: records stay in memory and are retried, the failure
is logged once with what to do, and `/health?detail=1` and `/usage` show it (:meth:`status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from ccgw import errors, limits
from ccgw.config import LocalKey
from ccgw.jsonutil import dumps
from ccgw.storage import ops, shared
from ccgw.storage.database import Database, describe
from ccgw.storage.files import remove_stale_temps, write_atomic
from ccgw.usage import UsageRecord, bucket_labels, iso

log = logging.getLogger("ccgw.storage")

HEARTBEAT_SECONDS = 10.0
COMPACT_SECONDS = 3600.0
RETRY_CAP = 30.0
SMALL_COMMIT_ROWS = 64
SMALL_COMMIT_TEXT = 256 * 1024  # characters of reasoning text
CONFLICT_CODES = ("40P01", "40001")  # PostgreSQL deadlock, serialization failure: try again


@dataclass(slots=True)
class _Pending:
    """Operations queued for the next transaction, and the future its commit resolves."""

    batch: ops.Batch = field(default_factory=ops.Batch)
    claims: list[tuple[ops.Claim, LocalKey, str, asyncio.Future[errors.GatewayError | None]]] = field(
        default_factory=list
    )
    done: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        b = self.batch
        return not (b.records or b.amends or b.reasoning or b.heartbeat or b.released or b.state or self.claims)

    def small(self) -> bool:
        """Small enough to commit on the event loop (bounded microseconds; see `Database.commit`)."""
        b = self.batch
        rows = len(b.records) + len(b.amends) + len(b.released) + len(b.reasoning) + len(self.claims)
        return rows <= SMALL_COMMIT_ROWS and sum(len(text) for text, _ in b.reasoning.values()) <= SMALL_COMMIT_TEXT


class Store:
    def __init__(
        self,
        db: Database,
        *,
        snapshot: Path | None,
        snapshot_interval: float = 1.0,
        ledger_days: float = 90.0,
        default_rate: float = 20.0,
        commit_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.snapshot_path = snapshot
        self.snapshot_interval = snapshot_interval
        self.ledger_days = ledger_days
        self.default_rate = default_rate  # micro-USD per token (= USD per million tokens)
        self.commit_timeout = commit_timeout
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self._pending = _Pending()
        self._in_flight: asyncio.Future[None] | None = None
        self._held: set[str] = set()  # request ids with a reservation, released by their record
        self._rates: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False
        self._dirty = True
        self._failure: str | None = None
        self._failing_since: float | None = None
        self._snapshot_failure: str | None = None
        self._retry_wait = 0.0

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        self._rates = await self.db.read(functools.partial(ops.prices, since=self.clock() - 30 * 86400))
        self._pending.batch.heartbeat = self._heartbeat()
        if self.snapshot_path is not None:
            remove_stale_temps(self.snapshot_path, self.clock())
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())
        await self.durable()

    async def close(self) -> None:
        """Write what is pending (or report what cannot be), then the last snapshot."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        self._closing = True
        self._stop.set()
        self._wake.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        unsaved = self._pending.batch.records
        if unsaved:
            ids = ", ".join(r.request_id for r in unsaved[:20])
            log.error(
                "usage storage: %d request record(s) could not be saved before shutdown (%s): %s%s",
                len(unsaved), self._failure, ids, " …" if len(unsaved) > 20 else "",
            )  # fmt: skip
        with contextlib.suppress(Exception):
            await self._snapshot()
        if self._failure is None:
            with contextlib.suppress(Exception):  # else it simply ages out
                await self.db.write(functools.partial(shared.retire, owner=self.owner))
        await self.db.close()

    def _heartbeat(self) -> dict[str, Any]:
        return {"owner": self.owner, "seen_at": self.clock(), "host": socket.gethostname()[:200], "pid": os.getpid()}

    # -- writes ------------------------------------------------------------------------------

    def _queue(self) -> ops.Batch:
        self._wake.set()
        return self._pending.batch

    def record(self, record: UsageRecord) -> None:
        """Queue a request's record (and release its reservation); :meth:`durable` waits for it."""
        batch = self._queue()
        batch.records.append(record)
        if record.request_id in self._held:
            self._held.discard(record.request_id)
            batch.released.append(record.request_id)
        tokens = record.input_tokens + record.output_tokens
        if record.cost_micro and tokens:
            rate = record.cost_micro / tokens
            if rate > self._rates.get(record.model, 0.0):
                self._rates[record.model] = rate

    def release(self, request_id: str) -> None:
        """Free a reservation whose request ends without a record."""
        if request_id in self._held:
            self._held.discard(request_id)
            self._queue().released.append(request_id)

    def amend(self, recorded: UsageRecord, final: UsageRecord) -> None:
        """Correct a committed record (the cost that arrived after the answer's end)."""
        self._queue().amends.append((recorded, final))

    def remember(self, call_ids: list[str], reasoning: str) -> None:
        now = self.clock()
        self._queue().reasoning.update({call_id: (reasoning, now) for call_id in call_ids})

    def share(self, row: dict[str, Any]) -> None:
        """Queue a row of the account state gateways share (:mod:`ccgw.storage.shared`), written by this
        gateway (`owner`); a later row for the same fact replaces it in the queue."""
        self._queue().state[row["account"], row["part"]] = {**row, "owner": self.owner}

    async def shared_rows(self, accounts: list[str]) -> list[dict[str, Any]]:
        return await self.db.read(functools.partial(shared.rows_for, accounts=accounts, now=self.clock()))

    async def lease(self, account: str, part: str, seconds: float) -> bool:
        """Take a lease on a shared task (see :func:`ccgw.storage.shared.lease`); raises while storage fails."""
        if self._failure is not None:
            raise StorageUnavailable(self._failure)
        work = functools.partial(
            shared.lease, account=account, part=part, owner=self.owner, now=self.clock(), seconds=seconds
        )
        return await self.db.write(work)

    @property
    def failing(self) -> bool:
        """Writes fail now (what is queued is kept and retried)."""
        return self._failure is not None

    def durable(self) -> asyncio.Future[None]:
        """Resolves when everything queued so far is committed; fails at once while storage is failing
        (the records stay queued and are retried; :meth:`status` reports them)."""
        done: asyncio.Future[None]
        if self._failure is not None:
            done = asyncio.get_running_loop().create_future()
            done.set_exception(StorageUnavailable(self._failure))
            return done
        if not self._pending.empty():
            if self._pending.done is None:
                self._pending.done = asyncio.get_running_loop().create_future()
            return self._pending.done
        if self._in_flight is not None and not self._in_flight.done():
            return self._in_flight
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def settle(self) -> bool:
        """Wait (bounded) until what was queued is committed; False if it could not be."""
        waiting = self.durable()
        try:
            if not waiting.done():
                async with asyncio.timeout(self.commit_timeout):
                    await asyncio.shield(waiting)
            waiting.result()
        except (StorageUnavailable, TimeoutError):
            return False
        return True

    async def admit(self, key: LocalKey, model: str, request_id: str, tokens: int) -> None:
        """Count a request against its key's windows and reserve its estimated cost, or raise the refusal.

        `tokens` is every token it may use (prompt estimate plus `max_tokens`). Raises
        :class:`StorageUnavailable` (503) when the limits cannot be checked.
        """
        if self._failure is not None:
            raise StorageUnavailable(self._failure)
        now = self.clock()
        labels = bucket_labels(now)
        reserve = limits.estimate_micro(self.rate(model), 0, tokens) if limits.has_budgets(key) else 0
        item = ops.Claim(
            key=key.name,
            request_id=request_id,
            count_request=limits.has_request_limits(key),
            reserve_micro=reserve,
            labels=labels,
            ends={bucket: limits.period_end(period, now) for period, bucket in labels.items()},
            now=now,
        )
        future: asyncio.Future[errors.GatewayError | None] = asyncio.get_running_loop().create_future()
        self._pending.claims.append((item, key, model, future))
        self._wake.set()
        refusal = await future
        if refusal is not None:
            raise refusal
        if reserve:
            self._held.add(request_id)

    def rate(self, model: str) -> float:
        """Micro-USD per token to reserve for `model`: the highest seen, else the configured default."""
        return self._rates.get(model) or self.default_rate

    # -- the writer ----------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            if self._pending.empty():
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            pending, self._pending = self._pending, _Pending()
            done = pending.done or asyncio.get_running_loop().create_future()
            self._in_flight = done
            try:
                refusals = await self._write(pending)
            except Exception as exc:  # a database error, or a bug: either way, keep the records and report
                if not isinstance(exc, SQLAlchemyError | OSError):
                    log.exception("usage storage: unexpected error while writing")
                self._failed(exc, pending)
                for *_, future in pending.claims:
                    if not future.done():
                        future.set_exception(StorageUnavailable(self._failure or "storage failing"))
                if not done.done():
                    done.set_exception(StorageUnavailable(self._failure or "storage failing"))
                    done.exception()  # retrieved: a failed commit is reported by status(), not by a warning
                if self._closing:
                    return
                with contextlib.suppress(TimeoutError):  # close() cuts the wait short for a last try
                    await asyncio.wait_for(self._stop.wait(), self._retry_wait)
                continue
            self._recovered()
            for (*_, future), refusal in zip(pending.claims, refusals, strict=True):
                if not future.done():
                    future.set_result(refusal)
            if not done.done():
                done.set_result(None)

    async def _write(self, pending: _Pending) -> list[errors.GatewayError | None]:
        ends: dict[str, float] = {}
        for record in pending.batch.records + [new for _, new in pending.batch.amends]:
            ends.update(_bucket_ends(int(record.at // 60)))
        work = functools.partial(self._apply, pending, ends)
        write = self.db.commit if pending.small() else self.db.write
        for attempt in range(3):
            try:
                return await write(work)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                if attempt == 2 or not (code in CONFLICT_CODES or isinstance(exc, OperationalError)):
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _apply(self, pending: _Pending, ends: dict[str, float], conn: Connection) -> list[errors.GatewayError | None]:
        ops.apply(conn, pending.batch, ends)
        shared.save(conn, list(pending.batch.state.values()))
        results: list[errors.GatewayError | None] = [None] * len(pending.claims)
        order = sorted(range(len(pending.claims)), key=lambda i: pending.claims[i][0].key)  # one lock order
        for index in order:
            item, key, model, _ = pending.claims[index]
            usage = ops.claim(conn, item)
            try:
                limits.check(key, model, usage, item.now)
            except errors.GatewayError as refusal:
                ops.unclaim(conn, item)
                results[index] = refusal
                continue
            if item.reserve_micro:
                ops.reserve(conn, item, self.owner, item.now)
        return results

    def _failed(self, exc: BaseException, pending: _Pending) -> None:
        """Keep the batch's writes for the next attempt; log the first failure once, with what to do."""
        batch, again = pending.batch, self._pending.batch
        again.records[:0] = batch.records
        again.released[:0] = batch.released
        again.amends[:0] = batch.amends
        again.reasoning = {**batch.reasoning, **again.reasoning}
        again.state = {**batch.state, **again.state}
        again.heartbeat = again.heartbeat or batch.heartbeat or self._heartbeat()  # so the retries go on
        reason = _reason(exc)
        self._retry_wait = min(RETRY_CAP, max(0.5, self._retry_wait * 2))
        if self._failure is None:
            self._failing_since = self.clock()
            log.error(
                "usage storage failed (%s): %s. Requests are still answered; their usage is kept in memory and "
                "retried, and /usage and /health?detail=1 show it. %s",
                describe(self.db.url), reason, _advice(self.db.dialect),
            )  # fmt: skip
        self._failure = reason

    def _recovered(self) -> None:
        self._dirty = True
        self._retry_wait = 0.0
        if self._failure is not None:
            log.warning("usage storage works again (%s); the records kept in memory are saved", describe(self.db.url))
            self._failure = self._failing_since = None

    def status(self) -> dict[str, Any]:
        """For `/health?detail=1` and `/usage`: whether writes work, and what is not saved yet."""
        failing = self._failure is not None or self._snapshot_failure is not None
        return {
            "status": "failing" if failing else "ok",
            "engine": self.db.dialect,
            "database": describe(self.db.url),
            "error": self._failure or self._snapshot_failure,
            "failing_since": iso(self._failing_since) if self._failing_since else None,
            "unsaved_requests": len(self._pending.batch.records) if self._failure else 0,
        }

    # -- reads ---------------------------------------------------------------------------------

    async def tree(self) -> dict[str, Any]:
        return await self.db.read(functools.partial(ops.usage_tree, now=self.clock()))

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        return await self.db.read(functools.partial(ops.recent, limit=limit))

    async def lookup(self, request_id: str) -> dict[str, Any] | None:
        return await self.db.read(functools.partial(ops.lookup, request_id=request_id))

    async def reasoning(self, call_ids: list[str]) -> dict[str, str]:
        return await self.db.read(functools.partial(ops.reasoning_for, call_ids=call_ids))

    # -- background: heartbeat, usage.json, retention ----------------------------------------

    async def _tick_loop(self) -> None:
        last_beat = last_compact = self.clock()
        await self._compact()
        while True:
            await asyncio.sleep(self.snapshot_interval)
            now = self.clock()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                self._queue().heartbeat = self._heartbeat()
            if now - last_compact >= COMPACT_SECONDS:
                last_compact = now
                await self._compact()
            if self._dirty:
                with contextlib.suppress(Exception):  # reported by status()
                    await self._snapshot()

    async def _compact(self) -> None:
        now, days = self.clock(), self.ledger_days

        def work(conn: Connection) -> int:
            shared.compact(conn, now)
            return ops.compact(conn, now, ledger_days=days, reasoning_days=7)

        try:
            removed = await self.db.write(work)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("usage storage: compaction failed: %s", _reason(exc))
            return
        if removed:
            log.info("usage storage: removed %d ledger rows older than %g days", removed, self.ledger_days)

    async def _snapshot(self) -> None:
        """Rewrite `usage.json` (cmdcode2apipy's summary) from the database."""
        if self.snapshot_path is None:
            return
        self._dirty = False
        try:
            tree = await self.tree()
            tree["updated_at"] = iso(self.clock())
            await asyncio.to_thread(write_atomic, self.snapshot_path, dumps(tree))
        except (SQLAlchemyError, OSError, ValueError) as exc:
            self._dirty = True
            if self._snapshot_failure is None:
                log.error("could not write %s: %s", self.snapshot_path, _reason(exc))
            self._snapshot_failure = f"{self.snapshot_path}: {_reason(exc)}"
            raise
        if self._snapshot_failure is not None:
            log.warning("%s is written again", self.snapshot_path)
        self._snapshot_failure = None


@functools.lru_cache(maxsize=4)
def _bucket_ends(minute: int) -> dict[str, float]:
    """When each limit bucket of this minute ends (the same for every moment of a minute)."""
    at = minute * 60.0
    return {bucket: limits.period_end(period, at) for period, bucket in bucket_labels(at).items()}


class StorageUnavailable(errors.ServiceUnavailableError):
    """The database cannot be written: limits cannot be checked (503)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The gateway's usage storage is failing ({reason}), so this key's limits cannot be checked",
            code="storage_unavailable",
        )


def _reason(exc: BaseException) -> str:
    """One line: the driver's message without SQLAlchemy's SQL echo and background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _advice(dialect: str) -> str:
    if dialect == "sqlite":
        return "Check the free disk space and that the database file and its folder are writable."
    return "Check that the PostgreSQL server is reachable and accepts writes."
