"""One way to run SQL on either engine: a function over a SQLAlchemy `Connection`, in one transaction.

Every query and update of the storage layer is written once, as plain synchronous SQLAlchemy Core
over a `Connection` (see :mod:`ccgw.storage.ops`), and run here:

* **SQLite** (the default, `usage.db`): with Python's `sqlite3` in one dedicated thread for writes
  and one for reads, one thread hop per transaction. Measured on this machine, a transaction of an
  insert and a 5-row upsert costs 0.17 ms this way against 0.8–1.2 ms through aiosqlite, whose
  adapter makes several thread hops per statement. WAL mode; `synchronous=NORMAL`, so a commit
  survives the process being killed (a power cut may lose the last commits); write transactions
  start with `BEGIN IMMEDIATE`, so several worker processes serialize cleanly on the file lock.
  The small commits of the hot path (:meth:`Database.commit`) run on the event loop itself: in WAL
  mode with `synchronous=NORMAL` such a commit is a few `write()`s into the WAL, no fsync, about
  0.1 ms, while handing it to the writer thread cost 0.25 ms more on a busy core (two thread
  switches). What could make it wait never happens there: it does not wait for the file lock (held
  by another process, the commit goes to the thread), and it never checkpoints (the fsyncs of a
  checkpoint run in the writer thread, every `CHECKPOINT_EVERY` commits).
* **PostgreSQL** (`storage.url: postgresql://…`): SQLAlchemy's asyncio engine over asyncpg, the
  function run with `AsyncConnection.run_sync`.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ccgw.storage.files import make_private, refuse_link

T = TypeVar("T")

SQLITE_BUSY_MS = 10_000
CHECKPOINT_EVERY = 100  # commits on the event loop between two WAL checkpoints in the writer thread
SIDE_FILES = ("-wal", "-shm", "-journal")


class StorageConfigError(Exception):
    """A storage URL or file that cannot be used, worded for a person."""


def resolve_url(url: str, default_path: Path) -> str:
    """The SQLAlchemy URL for `storage.url` (empty: SQLite at `default_path`)."""
    if not url:
        return f"sqlite:///{default_path}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageConfigError(f"storage.url {url.split('@')[-1]!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite" and parsed.database:
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    raise StorageConfigError("storage.url must be postgresql://user:password@host/database or sqlite:///path")


def describe(url: str) -> str:
    """The URL without its password, for logs and `/health`."""
    return make_url(url).render_as_string(hide_password=True)


class Database(abc.ABC):
    """Runs `fn(connection)` in a transaction (`write`) or a read-only snapshot (`read`)."""

    dialect: str
    url: str

    @abc.abstractmethod
    async def write(self, fn: Callable[[Connection], T]) -> T: ...

    @abc.abstractmethod
    async def read(self, fn: Callable[[Connection], T]) -> T: ...

    async def commit(self, fn: Callable[[Connection], T]) -> T:
        """A small transaction of the hot path (a group commit): :meth:`write`, or something cheaper."""
        return await self.write(fn)

    @abc.abstractmethod
    async def close(self) -> None: ...


def open_database(url: str) -> Database:
    if make_url(url).get_backend_name() == "sqlite":
        return SQLiteDatabase(url)
    return PostgresDatabase(url)


def prepare_sqlite_files(path: Path) -> None:
    """Refuse symlinks for the database and its side files; create it 0600 (SQLite gives its WAL and
    shared-memory files the database's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in SIDE_FILES:
        refuse_link(path.with_name(path.name + suffix))
    make_private(path)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            make_private(side)


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        path = make_url(url).database
        assert path
        prepare_sqlite_files(Path(path))
        self._writer = self._engine(immediate=True)
        self._reader = self._engine(immediate=False)
        # On the event loop: never waits for the lock, never checkpoints (see the module's docstring).
        self._now = self._engine(immediate=None, pragmas=("busy_timeout=0", "wal_autocheckpoint=0"))
        self._write_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ccgw-db-write")
        self._read_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ccgw-db-read")
        self._local = threading.local()
        self._since_checkpoint = 0
        self._checkpoint: asyncio.Future[None] | None = None

    def _engine(self, *, immediate: bool | None, pragmas: tuple[str, ...] = ()) -> Engine:
        """An engine whose transactions begin as asked (`BEGIN IMMEDIATE` or `BEGIN`), or, with
        `immediate=None`, are begun and ended by the caller on the driver (:meth:`_run_now`)."""
        engine = create_engine(self.url, poolclass=NullPool)
        settings = ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={SQLITE_BUSY_MS}", *pragmas)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, as asked
            cursor = dbapi_connection.cursor()
            for pragma in settings:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        if immediate is None:
            return engine
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.connection.driver_connection.execute(begin)  # type: ignore[union-attr]  # the driver's own: cheaper

        return engine

    def _connection(self, engine: Engine) -> Connection:
        """This thread's connection to `engine` (each thread keeps its own)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._local.conn = engine.connect()
        return conn

    def _run(self, engine: Engine, fn: Callable[[Connection], T]) -> T:
        conn = self._connection(engine)
        try:
            with conn.begin():
                return fn(conn)
        except BaseException as exc:
            self._reset(conn)
            if isinstance(exc, sqlite3.Error):  # raised by the driver itself (BEGIN): wrapped like the rest
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            raise

    def _run_now(self, fn: Callable[[Connection], T]) -> T:
        """`fn` in a transaction begun and committed on the driver: SQLAlchemy's transaction objects
        and events cost more than the statements of a small commit. A Core statement inside `fn`
        makes SQLAlchemy begin a transaction of its own (a no-op on the driver); its commit ends ours."""
        conn = self._connection(self._now)
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        try:
            driver.execute("BEGIN IMMEDIATE")
            result = fn(conn)
            if conn.in_transaction():
                conn.commit()
            else:
                driver.execute("COMMIT")
        except BaseException as exc:
            self._reset(conn)
            if isinstance(exc, sqlite3.Error):
                raise DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
            raise
        return result

    def _reset(self, conn: Connection) -> None:
        """After a failure: a fresh connection next time, whatever state this one is in."""
        conn.close()
        self._local.conn = None

    async def write(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write_thread, functools.partial(self._run, self._writer, fn))

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_thread, functools.partial(self._run, self._reader, fn))

    async def commit(self, fn: Callable[[Connection], T]) -> T:
        """On the event loop (see the module's docstring); in the writer thread while another process
        holds the write lock."""
        try:
            result = self._run_now(fn)
        except DBAPIError as exc:
            if not _busy(exc):
                raise
            return await self.write(fn)
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY and self._checkpoint is None:
            self._since_checkpoint = 0
            loop = asyncio.get_running_loop()
            self._checkpoint = loop.run_in_executor(self._write_thread, self._run_checkpoint)
            self._checkpoint.add_done_callback(self._checkpointed)
        return result

    def _run_checkpoint(self) -> None:
        driver = self._connection(self._writer).connection.driver_connection
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]  # outside a transaction

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:  # the next one tries again; commits go on
            self._since_checkpoint = CHECKPOINT_EVERY

    def _close_thread_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        self._close_thread_connection()  # the event loop's own
        for pool in (self._write_thread, self._read_thread):
            await loop.run_in_executor(pool, self._close_thread_connection)
            pool.shutdown(wait=True)
        for engine in (self._writer, self._reader, self._now):
            engine.dispose()


def _busy(exc: DBAPIError) -> bool:
    """The write lock is held (by another process): SQLite said BUSY instead of waiting."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class PostgresDatabase(Database):
    """Writes go through one connection kept open (they are serialized by the store's writer anyway),
    which saves the pool's check-out, ping and reset round trips on every commit."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine = create_async_engine(
            url, pool_size=4, max_overflow=4, pool_pre_ping=True, connect_args={"timeout": 10, "command_timeout": 30}
        )
        self._writer: AsyncConnection | None = None
        self._write_lock = asyncio.Lock()

    async def write(self, fn: Callable[[Connection], T]) -> T:
        async with self._write_lock:
            if self._writer is None or self._writer.closed or self._writer.invalidated:
                self._writer = await self._engine.connect()
            conn = self._writer
            try:
                async with conn.begin():
                    return await conn.run_sync(fn)
            except BaseException:
                self._writer = None
                with contextlib.suppress(Exception):
                    await conn.close()
                raise

    async def read(self, fn: Callable[[Connection], T]) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(fn)

    async def close(self) -> None:
        async with self._write_lock:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    await self._writer.close()
                self._writer = None
        await self._engine.dispose()
