"""The tables, and the ordered migrations that create and change them.

A database records its version in `schema_version` (one row). On start every gateway runs the
migrations it lacks, each in one transaction that also bumps the version, under a lock on that row
(`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so gateways starting together
on one database migrate it exactly once. A database newer than this code is refused.

Version 1: the ledger, the counters, the per-key limit windows and budget reservations, the
reasoning memory. Version 2: shared account cooldowns and plan-window state (used from the next
phase on; see the README's "Storage"). Version 3: each ledger row names the Command Code account
and the upstream path (Provider API or CLI endpoint) that served it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
    update,
)

from ccgw.usage import COUNTERS

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata, Column("id", Integer, primary_key=True), Column("version", Integer, nullable=False)
)

meta = Table("meta", metadata, Column("name", String(300), primary_key=True), Column("value", Text, nullable=False))

# One row per request (what `/usage/recent` and `/v1/usage/{id}` show); kept `storage.ledger_days`.
requests = Table(
    "requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("at", Float, nullable=False),
    Column("key", String(200), nullable=False),
    Column("endpoint", String(64), nullable=False),
    Column("model", String(200), nullable=False),
    Column("status", String(100), nullable=False),
    Column("upstream", Boolean, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost_micro", BigInteger, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float),
    Column("account", String(64), nullable=False, server_default=""),  # version 3
    Column("path", String(16), nullable=False, server_default=""),  # version 3
    Index("requests_at", "at"),
)

# Totals (scope "total"), and by key, model, day and hour: the `usage.json` tree. Never compacted
# (hours are pruned after a week), so totals survive the ledger's retention.
counters = Table(
    "counters",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("label", String(200), primary_key=True),
    *(Column(name, BigInteger, nullable=False, default=0) for name in COUNTERS),
)

# Per key and UTC period: requests admitted (counted at admission) and cost settled.
limit_windows = Table(
    "limit_windows",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("bucket", String(32), primary_key=True),
    Column("ends_at", Float, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("cost_micro", BigInteger, nullable=False),
)

# A running request's estimated cost, held against its key's budgets until it is recorded. Held by
# a live gateway (`owners.seen_at` recent); a killed gateway's reservations stop counting.
reservations = Table(
    "reservations",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("key", String(200), nullable=False),
    Column("day", String(32), nullable=False),
    Column("month", String(32), nullable=False),
    Column("micro", BigInteger, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Index("reservations_key", "key", "day"),
)

owners = Table(
    "owners",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("seen_at", Float, nullable=False),
    Column("host", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
)

# The reasoning that preceded each tool call ccgw returned (client-notes 5), shared by gateways.
reasoning = Table(
    "reasoning",
    metadata,
    Column("call_id", String(300), primary_key=True),
    Column("text", Text, nullable=False),
    Column("at", Float, nullable=False),
    Index("reasoning_at", "at"),
)

# Version 2 (phase 2 of issue 12): keyed by the SHA-256 of the account's key, so gateways that name
# one account differently still share its state.
account_state = Table(
    "account_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("cooldown_until", Float, nullable=False),
    Column("reason", String(100), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("cooled_by", Text),  # the error behind the cooldown, as JSON (class, message, code, retry_after)
    Column("blocked_models", Text, nullable=False),  # JSON: model → [until, error]
    Column("updated_at", Float, nullable=False),
)

plan_state = Table(
    "plan_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("document", Text),  # the last `/alpha/billing/credits` document, as JSON
    Column("fetched_at", Float),
    Column("exhausted", Text, nullable=False),  # JSON: window → reset epoch, from upstream 429s
    Column("updated_at", Float, nullable=False),
)

V1 = (meta, requests, counters, limit_windows, reservations, owners, reasoning)
V2 = (account_state, plan_state)


def _create(tables: Sequence[Table]) -> Callable[[Connection], None]:
    def migrate(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return migrate


def _served_by(conn: Connection) -> None:
    """Version 3: the account and path columns, on a ledger that version 1 made without them."""
    present = {column["name"] for column in inspect(conn).get_columns("requests")}
    for name in ("account", "path"):
        if name not in present:
            column = requests.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE requests ADD COLUMN {name} {kind} NOT NULL DEFAULT ''"))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_create(V1), _create(V2), _served_by)
LATEST = len(MIGRATIONS)


class SchemaTooNew(Exception):
    """The database was written by a newer ccgw."""


def current_version(conn: Connection, *, lock: bool = False) -> int:
    query = select(schema_version.c.version).where(schema_version.c.id == 1)
    version = conn.execute(query.with_for_update() if lock else query).scalar()
    return int(version or 0)


def migrate(conn: Connection, target: int = LATEST) -> tuple[int, int]:
    """Bring the database to `target` inside the caller's transaction; returns (from, to)."""
    schema_version.create(conn, checkfirst=True)
    if conn.execute(select(schema_version.c.id)).first() is None:
        conn.execute(schema_version.insert().values(id=1, version=0))
    found = current_version(conn, lock=True)
    if found > LATEST:
        raise SchemaTooNew(f"the database has schema version {found}; this ccgw knows up to {LATEST}")
    for version in range(found + 1, target + 1):
        MIGRATIONS[version - 1](conn)
    if target > found:
        conn.execute(update(schema_version).where(schema_version.c.id == 1).values(version=target))
    return found, max(found, target)
