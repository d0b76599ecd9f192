"""Usage, limits, budgets and the reasoning memory on SQLite (default) or PostgreSQL.

:func:`open_store` opens the database, migrates its schema, imports the files of older versions
on the first start, and returns a running :class:`Store`. :func:`check` does the same start-up work
once and reports any problem as one line (the command line runs it before serving).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import DatabaseError, DBAPIError, IntegrityError, ProgrammingError, SQLAlchemyError

from ccgw.config import StorageSettings
from ccgw.storage import legacy, schema
from ccgw.storage.database import Database, StorageConfigError, describe, open_database, resolve_url
from ccgw.storage.store import StorageUnavailable, Store

__all__ = ["StorageStartError", "StorageUnavailable", "Store", "check", "database_url", "open_store"]

log = logging.getLogger("ccgw.storage")


class StorageStartError(Exception):
    """The storage cannot be used at start-up; the message is one line for a person."""


def database_url(settings: StorageSettings, usage_json: Path) -> str:
    return resolve_url(settings.url, usage_json.with_name("usage.db"))


async def _migrate(db: Database) -> tuple[int, int]:
    for attempt in range(5):
        try:
            return await db.write(schema.migrate)
        except (IntegrityError, ProgrammingError):  # another gateway created the same table just now
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def _prepare(db: Database, usage_json: Path) -> None:
    found, version = await _migrate(db)
    if found != version:
        log.info("usage storage %s: schema version %d → %d", describe(db.url), found, version)
    imported = await db.write(functools.partial(legacy.import_files, usage_json=usage_json))
    if imported is not None:
        legacy.retire_ledger(usage_json)
        if imported != (0, 0):
            log.info("imported %s: %d requests counted, %d ledger rows", usage_json, *imported)


def _one_line(db_url: str, exc: BaseException) -> str:
    where = describe(db_url)
    if isinstance(exc, schema.SchemaTooNew | legacy.LegacyFileError | StorageConfigError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"usage storage {where}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    orig = getattr(exc, "orig", None)
    reason = str(orig if orig is not None else exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, DatabaseError) and "not a database" in reason:
        return f"{where} is not a SQLite database ({reason}); move it aside or restore it from a backup"
    return f"usage storage {where} cannot be used: {reason}"


def _open(settings: StorageSettings, usage_json: Path) -> tuple[str, Database]:
    """The database's URL and the database opened on it (raises :class:`StorageStartError` when it cannot be)."""
    url = database_url(settings, usage_json)
    try:
        return url, open_database(url)
    except (OSError, StorageConfigError, SQLAlchemyError) as exc:
        raise StorageStartError(_one_line(url, exc)) from None


async def open_store(
    settings: StorageSettings,
    usage_json: Path,
    *,
    snapshot_interval: float = 1.0,
    clock: Callable[[], float] = time.time,
) -> Store:
    """The running store (raises :class:`StorageStartError` with one line when it cannot be opened)."""
    url, db = _open(settings, usage_json)
    try:
        await _prepare(db, usage_json)
        store = Store(
            db,
            snapshot=usage_json,
            snapshot_interval=snapshot_interval,
            ledger_days=settings.ledger_days,
            default_rate=settings.default_price_usd_per_mtok,
            commit_timeout=settings.commit_timeout,
            clock=clock,
        )
        await store.start()
    except (OSError, SQLAlchemyError, DBAPIError, schema.SchemaTooNew, legacy.LegacyFileError) as exc:
        await db.close()
        raise StorageStartError(_one_line(url, exc)) from None
    return store


def check(settings: StorageSettings, usage_json: Path) -> None:
    """Open, migrate and import once, in a thread of its own (callable with or without a running loop)."""

    async def run() -> None:
        url, db = _open(settings, usage_json)
        try:
            await _prepare(db, usage_json)
        except (OSError, SQLAlchemyError, schema.SchemaTooNew, legacy.LegacyFileError) as exc:
            raise StorageStartError(_one_line(url, exc)) from None
        finally:
            await db.close()

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
