"""The tables, and the ordered migrations that create and change them.

A database records its version in `schema_version` (one row). On start every gateway runs the
migrations it lacks, each in one transaction that also bumps the version, under a lock on that row
(`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so gateways starting together
on one database migrate it exactly once. A database newer than this code is refused.

Version 1: the ledger, the counters, the per-key limit windows and budget reservations, the
reasoning memory. Version 2: two tables for account state, never written (version 4 replaces them).
Version 3: each ledger row names the Command Code account and the upstream path (Provider API or CLI
endpoint) that served it. Version 4: `account_state`, what gateways share about each Command Code
account (cooldowns, plan windows and document, upstream path), one row per fact.
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
LEDGER_MODEL_CHARS = 200  # longer model names are cut to this (PostgreSQL refuses a longer value)

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
    Column("model", String(LEDGER_MODEL_CHARS), nullable=False),
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

# Version 4: what gateways share about each Command Code account, one row per fact (`part`), so two
# gateways writing different facts never overwrite each other. `account` is the SHA-256 of the
# account's key (never the key), so gateways that name one account differently share its state.
# Parts: "cooldown" (the account's cooldown and the error behind it), "model:<id>" (a model blocked
# on it), "window:<name>" (a plan window an upstream 429 said is used up), "plan" (the last billing
# documents), "plan.poll" (which gateway polls billing this period), "path" (its upstream path).
# A row is replaced only by one at least as new (`updated_at`, the writer's clock): last writer wins.
account_state = Table(
    "account_state",
    metadata,
    Column("account", String(64), primary_key=True),
    Column("part", String(250), primary_key=True),
    Column("until", Float, nullable=False),  # when the fact stops holding (0: not a time-bound fact)
    Column("data", Text, nullable=False),  # JSON
    Column("updated_at", Float, nullable=False),
    Column("owner", String(64), nullable=False),  # the gateway that wrote it (`owners.owner`)
)

V1 = (meta, requests, counters, limit_windows, reservations, owners, reasoning)


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


def _unused(conn: Connection) -> None:
    """Version 2 made two tables no ccgw ever wrote; version 4 drops them (whether they are there or not)."""


def _shared_state(conn: Connection) -> None:
    """Version 4: the account state shared by gateways, in place of version 2's unused tables."""
    conn.execute(text("DROP TABLE IF EXISTS plan_state"))
    conn.execute(text("DROP TABLE IF EXISTS account_state"))
    account_state.create(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_create(V1), _unused, _served_by, _shared_state)
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
