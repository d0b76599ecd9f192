"""Usage counters, persisted to `usage.json`.

Recording is O(1) and in memory; a flusher merges the counts into the file at most once per
`interval` and at shutdown. The file is shared safely by several worker processes: a flush takes
an exclusive lock on `usage.json.lock`, re-reads the file, adds only this process's counts since
its last flush, and replaces the file atomically (temporary file in the same folder, flush, fsync,
`os.replace`). A crash therefore never corrupts the file, never double-counts, and loses at most
the last `interval` of counts. A corrupt file found at start-up is set aside with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ccgw.jsonutil import dumps, loads

if sys.platform != "win32":
    import fcntl

log = logging.getLogger("ccgw.usage")

COUNTERS = (
    "total_requests",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micro",
)
BREAKDOWNS = ("by_key", "by_model", "by_day")

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
    at: float = 0.0

    def counters(self) -> dict[str, int]:
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


def empty_tree() -> Tree:
    tree: Tree = dict.fromkeys(COUNTERS, 0)
    for name in BREAKDOWNS:
        tree[name] = {}
    return tree


def _add_counters(target: dict[str, int], source: dict[str, int]) -> None:
    for name, value in source.items():
        target[name] = target.get(name, 0) + value


def merge(target: Tree, delta: Tree) -> None:
    """Add `delta`'s counters into `target`, breakdowns included."""
    _add_counters(target, {k: delta.get(k, 0) for k in COUNTERS})
    for name in BREAKDOWNS:
        bucket = target.setdefault(name, {})
        for label, counters in delta.get(name, {}).items():
            _add_counters(bucket.setdefault(label, {}), counters)


def add_record(tree: Tree, record: UsageRecord) -> None:
    counters = record.counters()
    _add_counters(tree, counters)
    day = time.strftime("%Y-%m-%d", time.gmtime(record.at or time.time()))
    for name, label in (("by_key", record.key), ("by_model", record.model), ("by_day", day)):
        _add_counters(tree[name].setdefault(label, {}), counters)


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
    for name in BREAKDOWNS:
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


class UsageStore:
    def __init__(self, path: Path, *, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._saved: Tree = empty_tree()  # the file as of our last read or write
        self._pending: Tree = empty_tree()  # our counts not yet in the file
        self._dirty = False
        self._flush_lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

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
            log.warning(
                "usage file %s was unreadable (%s); moved it to %s and started from zero",
                self.path,
                exc,
                aside,
            )
            return empty_tree()

    def load(self) -> None:
        """Read the file once at start-up (blocking; call before serving)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path):
            self._saved = self._read()

    def record(self, record: UsageRecord) -> None:
        add_record(self._pending, record)
        self._dirty = True
        self._schedule()

    def snapshot(self) -> Tree:
        """Totals: the file as last seen plus what this process has not written yet."""
        tree = empty_tree()
        merge(tree, self._saved)
        merge(tree, self._pending)
        return tree

    def _schedule(self) -> None:
        if self._timer is not None or (self._task is not None and not self._task.done()):
            return
        with contextlib.suppress(RuntimeError):  # no running loop: flushed at close()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.interval, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self.flush())

    def _merge_into_file(self, delta: Tree) -> Tree:
        with _locked(self.path):
            current = self._read()
            merge(current, delta)
            write_atomic(self.path, dumps(current))
            return current

    async def flush(self) -> None:
        """Write pending counts now (off the event loop)."""
        async with self._flush_lock:
            if not self._dirty:
                return
            delta, self._pending, self._dirty = self._pending, empty_tree(), False
            try:
                self._saved = await asyncio.to_thread(self._merge_into_file, delta)
            except OSError as exc:
                merge(self._pending, delta)  # keep them for the next attempt
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
