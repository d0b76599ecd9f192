"""SQL for the account state that gateways share (`account_state`): save, read, and the polling lease.

Rows are plain dicts with the table's columns; what a row means is :mod:`ccgw.shared_state`'s
business. Saving is last-writer-wins per row: a row replaces the stored one only if it is at least
as new (`updated_at`), so a slow commit never undoes a later fact.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select

from ccgw.storage import schema
from ccgw.storage.ops import OWNER_TTL, insert_for

COLUMNS = tuple(str(c.name) for c in schema.account_state.columns)
KEYS = ("account", "part")

_SAVE: dict[str, Any] = {}


def _save_statement(conn: Connection) -> Any:
    stmt = _SAVE.get(conn.dialect.name)
    if stmt is None:
        table = schema.account_state
        base = insert_for(conn, table)
        stmt = _SAVE[conn.dialect.name] = base.on_conflict_do_update(
            index_elements=list(KEYS),
            set_={name: base.excluded[name] for name in COLUMNS if name not in KEYS},
            where=table.c.updated_at <= base.excluded.updated_at,
        )
    return stmt


def save(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert `rows`, each only over an older stored row."""
    if rows:
        conn.execute(_save_statement(conn), list(rows))


@functools.cache
def _rows_query() -> Any:
    """Built once: it runs every second, and building it costs more than running it."""
    table, owners = schema.account_state, schema.owners
    live = select(owners.c.owner).where(owners.c.seen_at >= bindparam("since"))
    accounts: Any = bindparam("accounts", expanding=True)
    return select(table, table.c.owner.in_(live).label("live")).where(table.c.account.in_(accounts))


def rows_for(conn: Connection, accounts: Sequence[str], now: float) -> list[dict[str, Any]]:
    """Every row of `accounts`, each with `live`: whether the gateway that wrote it is still running."""
    found = conn.execute(_rows_query(), {"since": now - OWNER_TTL, "accounts": list(accounts)}).mappings()
    return [{**row, "live": bool(row["live"])} for row in found]


def lease(conn: Connection, account: str, part: str, owner: str, now: float, seconds: float) -> bool:
    """Take `part` of `account` for `seconds` unless another gateway holds it now; True if this one does."""
    table = schema.account_state
    base = insert_for(conn, table).values(
        account=account, part=part, until=now + seconds, data="{}", updated_at=now, owner=owner
    )
    stmt = base.on_conflict_do_update(
        index_elements=list(KEYS),
        set_={"until": base.excluded.until, "updated_at": base.excluded.updated_at, "owner": base.excluded.owner},
        where=(table.c.until <= now) | (table.c.owner == owner),
    ).returning(table.c.owner)
    return conn.execute(stmt).scalar() == owner


def retire(conn: Connection, owner: str) -> None:
    """A gateway stops: its heartbeat goes, so the cooldowns it wrote no longer bind gateways starting later."""
    conn.execute(delete(schema.owners).where(schema.owners.c.owner == owner))


def compact(conn: Connection, now: float, days: float = 7.0) -> None:
    """Facts that ended, untouched for `days` (accounts no longer used, models long unblocked)."""
    table = schema.account_state
    conn.execute(delete(table).where(table.c.updated_at < now - days * 86400, table.c.until < now))
