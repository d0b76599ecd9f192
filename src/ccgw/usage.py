"""The usage ledger: counters in `usage.json`, one line per request in `usage.requests.jsonl`.

Recording is O(1) and in memory; a flusher merges the counts into the files at most once per
`interval` and at shutdown. Several worker processes share the files safely: a flush takes an
exclusive lock (`usage.json.lock`), re-reads `usage.json`, adds only this process's counts since its
last flush, replaces the file atomically (temporary file in the same folder, flush, fsync,
`os.replace`) and appends its request lines to the ledger. So a crash never corrupts the counters,
nothing is counted twice, and at most the last `interval` of counts is lost. A corrupt file found
at start-up is set aside with a warning.

Besides totals and breakdowns by key, model, day and hour, the counters hold per-key buckets for
the current minute, hour, day and month (requests admitted and cost), which the limits read; they
are shared by every worker through the same file. The ledger keeps at least the last
:data:`LEDGER_KEEP` requests (it is compacted to that many when it grows past twice as many bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccgw.jsonutil import JSONDecodeError, dumps, loads

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("ccgw.usage")

COUNTERS = (
    "total_requests",
    "failed_requests",
    "rejected_requests",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micro",
)
BREAKDOWNS = ("by_key", "by_model", "by_day", "by_hour", "by_account", "by_path")
HOURS_KEPT = 7 * 24
LEDGER_KEEP = 10_000
LEDGER_COMPACT_BYTES = 2 * LEDGER_KEEP * 450  # ≈ twice the bytes of LEDGER_KEEP lines
_RECENT_IN_MEMORY = 1_000

# Limit buckets: label prefix → strftime pattern of the period (UTC).
PERIODS = {"minute": "m%Y-%m-%dT%H:%M", "hour": "h%Y-%m-%dT%H", "day": "d%Y-%m-%d", "month": "M%Y-%m"}

Tree = dict[str, Any]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One model request, as accounted."""

    request_id: str
    key: str
    endpoint: str
    model: str
    status: str  # "ok" or the error code
    input_tokens: int = 0  # includes cache reads and writes
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micro: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    at: float = 0.0
    upstream: bool = True  # False: refused by ccgw itself before anything went to Command Code
    account: str = ""  # the Command Code account that served it ("" when none did)
    path: str = ""  # its upstream path: "provider" (the Provider API) or "cli" (the CLI endpoint)

    def counters(self) -> dict[str, int]:
        if not self.upstream:
            return {"rejected_requests": 1}  # neither an upstream request nor a cost
        return {
            "total_requests": 1,
            "failed_requests": 0 if self.status == "ok" else 1,
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_micro": self.cost_micro,
        }

    def public(self) -> dict[str, Any]:
        """The ledger entry as the API shows it (`at` as ISO 8601 UTC)."""
        entry = {name: getattr(self, name) for name in self.__slots__}  # asdict() deep-copies: slow
        entry["at"] = iso(self.at)
        return entry


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _labels_of_minute(minute: int) -> dict[str, str]:
    moment = time.gmtime(minute * 60)
    labels = {period: time.strftime(pattern, moment) for period, pattern in PERIODS.items()}
    labels["day_key"], labels["hour_key"] = time.strftime("%Y-%m-%d", moment), time.strftime("%Y-%m-%dT%H", moment)
    return labels


def bucket_labels(epoch: float) -> dict[str, str]:
    """The limit buckets `epoch` falls in (the same for a whole minute, so computed once per minute)."""
    labels = _labels_of_minute(int(epoch // 60))
    return {period: labels[period] for period in PERIODS}


def empty_tree() -> Tree:
    tree: Tree = dict.fromkeys(COUNTERS, 0)
    for name in BREAKDOWNS:
        tree[name] = {}
    tree["limits"] = {}
    return tree


def _add(target: dict[str, int], source: dict[str, int]) -> None:
    for name, value in source.items():
        target[name] = target.get(name, 0) + value


def merge(target: Tree, delta: Tree) -> None:
    """Add `delta`'s counts into `target`, breakdowns and limit buckets included."""
    _add(target, {k: delta.get(k, 0) for k in COUNTERS})
    for name in BREAKDOWNS:
        bucket = target.setdefault(name, {})
        for label, counters in delta.get(name, {}).items():
            _add(bucket.setdefault(label, {}), counters)
    limits = target.setdefault("limits", {})
    for key, buckets in delta.get("limits", {}).items():
        mine = limits.setdefault(key, {})
        for label, counts in buckets.items():
            _add(mine.setdefault(label, {}), counts)


def prune(tree: Tree, now: float) -> None:
    """Drop hourly counters older than a week and limit buckets of past periods."""
    oldest_hour = time.strftime("%Y-%m-%dT%H", time.gmtime(now - HOURS_KEPT * 3600))
    tree["by_hour"] = {h: c for h, c in tree.get("by_hour", {}).items() if h >= oldest_hour}
    current = set(bucket_labels(now).values())
    limits = {
        key: {b: c for b, c in buckets.items() if b in current} for key, buckets in tree.get("limits", {}).items()
    }
    tree["limits"] = {key: buckets for key, buckets in limits.items() if buckets}


def _sanitize(document: Any) -> Tree:
    """Accept what an older version (or cmdcode2apipy) wrote; missing counters are zero."""
    if not isinstance(document, dict):
        raise ValueError("usage file is not a JSON object")
    tree = empty_tree()
    for name in COUNTERS:
        value = document.get(name, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"usage counter {name!r} is not a non-negative integer")
        tree[name] = value
    for name in (*BREAKDOWNS, "limits"):
        value = document.get(name, {})
        tree[name] = value if isinstance(value, dict) else {}
    return tree


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    if sys.platform == "win32":  # one process is assumed there
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers only ever see the old or the new whole file."""
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _ledger_entries(data: bytes) -> list[dict[str, Any]]:
    entries = []
    for line in data.split(b"\n"):
        try:
            entry = loads(line) if line.strip() else None
        except JSONDecodeError:
            continue  # a line cut by a crash, or the head of a partial read
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


class UsageStore:
    def __init__(self, path: Path, *, interval: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.ledger = path.with_name(path.stem + ".requests.jsonl")
        self.interval = interval
        self.clock = clock
        self._saved: Tree = empty_tree()  # the file as of our last read or write
        self._pending: Tree = empty_tree()  # our counts not yet in the file
        self._pending_records: list[UsageRecord] = []
        self._recent: deque[UsageRecord] = deque(maxlen=_RECENT_IN_MEMORY)
        self._dirty = False
        self._flush_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    # -- reading the files (blocking; call through a thread once serving) --

    def _read(self) -> Tree:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return empty_tree()
        try:
            return _sanitize(loads(raw))
        except ValueError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.warning("usage file %s was unreadable (%s); moved it aside to %s", self.path, exc, aside)
            return empty_tree()

    def load(self) -> None:
        """Read the file once at start-up (blocking; call before serving)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path):
            self._saved = self._read()
            # Temporary files of a writer killed mid-write: every writer holds this lock, so none is live.
            for stale in (
                *self.path.parent.glob(self.path.name + ".*.tmp"),
                *self.path.parent.glob(self.ledger.name + ".*.tmp"),
            ):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def _reread(self) -> None:
        # Always re-read: a modification time can repeat within the file system's clock tick, and
        # the file is small.
        with _locked(self.path):
            self._saved = self._read()

    # -- recording (O(1), on the event loop) --

    def admit(self, key: str) -> None:
        """Count a request against its key's limit buckets as it starts."""
        buckets = self._pending["limits"].setdefault(key, {})
        for label in bucket_labels(self.clock()).values():
            _add(buckets.setdefault(label, {}), {"requests": 1})
        self._touch()

    def record(self, record: UsageRecord) -> None:
        counters = record.counters()
        _add(self._pending, counters)
        moment = _labels_of_minute(int(record.at // 60))
        labels = (
            ("by_key", record.key),
            ("by_model", record.model),
            ("by_day", moment["day_key"]),
            ("by_hour", moment["hour_key"]),
            ("by_account", record.account),
            ("by_path", record.path),
        )
        for name, label in labels:
            if label or name not in ("by_account", "by_path"):  # a request no account served has neither
                _add(self._pending[name].setdefault(label, {}), counters)
        if record.cost_micro:
            buckets = self._pending["limits"].setdefault(record.key, {})
            for label in bucket_labels(record.at).values():
                _add(buckets.setdefault(label, {}), {"cost_micro": record.cost_micro})
        self._pending_records.append(record)
        self._recent.append(record)
        self._touch()

    def _touch(self) -> None:
        self._dirty = True
        self._schedule()

    # -- views --

    def snapshot(self) -> Tree:
        """Totals: the file as last seen plus what this process has not written yet."""
        tree = empty_tree()
        merge(tree, self._saved)
        merge(tree, self._pending)
        prune(tree, self.clock())
        return tree

    async def current(self) -> Tree:
        """Like :meth:`snapshot`, after picking up what other workers wrote."""
        await asyncio.to_thread(self._reread)
        return self.snapshot()

    def window_usage(self, key: str) -> dict[str, dict[str, int]]:
        """This key's requests and cost in the current minute, hour, day and month (all workers, as
        of the last flush, plus this process's own)."""
        saved = self._saved["limits"].get(key, {})
        pending = self._pending["limits"].get(key, {})
        usage: dict[str, dict[str, int]] = {}
        for period, label in bucket_labels(self.clock()).items():
            counts = dict(saved.get(label, {}))
            _add(counts, pending.get(label, {}))
            usage[period] = counts
        return usage

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last `limit` requests, newest first (every worker's, as flushed, plus ours)."""
        entries = await asyncio.to_thread(self._ledger_tail, limit)
        ids = {e.get("request_id") for e in entries}
        entries += [r.public() for r in self._pending_records if r.request_id not in ids]
        entries.sort(key=lambda e: str(e.get("at", "")))
        return entries[::-1][:limit]

    async def lookup(self, request_id: str) -> dict[str, Any] | None:
        for record in reversed(self._recent):
            if record.request_id == request_id:
                return record.public()
        return await asyncio.to_thread(self._ledger_find, request_id)

    def _ledger_tail(self, limit: int) -> list[dict[str, Any]]:
        try:
            with self.ledger.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - limit * 1024))
                data = handle.read()
        except FileNotFoundError:
            return []
        return _ledger_entries(data)[-limit:]

    def _ledger_find(self, request_id: str) -> dict[str, Any] | None:
        try:
            data = self.ledger.read_bytes()
        except FileNotFoundError:
            return None
        needle = b'"request_id":' + dumps(request_id)
        at = data.rfind(needle)
        if at < 0:
            return None
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        found = _ledger_entries(data[start : end if end >= 0 else len(data)])
        return found[0] if found else None

    # -- flushing --

    def _schedule(self) -> None:
        # Only a pending timer counts: counts recorded while a flush runs need the next one, and
        # flushes queue on their lock.
        if self._timer is not None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: flushed at close()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.interval, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self.flush())

    def _write(self, delta: Tree, records: list[UsageRecord]) -> Tree:
        with _locked(self.path):
            current = self._read()
            merge(current, delta)
            prune(current, self.clock())
            current["updated_at"] = iso(self.clock())
            write_atomic(self.path, dumps(current))
            if records:
                try:
                    self._append_ledger(records)
                except OSError as exc:  # the counts are saved; retrying would count them twice
                    log.error("could not append to the request ledger %s: %s", self.ledger, exc)
            return current

    def _append_ledger(self, records: list[UsageRecord]) -> None:
        lines = b"".join(dumps(r.public()) + b"\n" for r in records)
        with self.ledger.open("a+b") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end:
                handle.seek(end - 1)
                if handle.read(1) != b"\n":  # a line torn by a crash: do not glue the next record onto it
                    lines = b"\n" + lines
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        if size > LEDGER_COMPACT_BYTES:
            kept = self.ledger.read_bytes().split(b"\n")[-LEDGER_KEEP - 1 :]
            write_atomic(self.ledger, b"\n".join(kept))

    async def flush(self) -> None:
        """Write pending counts now (off the event loop)."""
        async with self._flush_lock:
            if not self._dirty:
                return
            delta, self._pending, self._dirty = self._pending, empty_tree(), False
            records, self._pending_records = self._pending_records, []
            try:
                self._saved = await asyncio.to_thread(self._write, delta, records)
            except OSError as exc:
                merge(self._pending, delta)  # keep them for the next attempt
                self._pending_records = records + self._pending_records
                self._dirty = True
                log.error("could not write usage file %s: %s", self.path, exc)
        if self._dirty:
            self._schedule()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
