"""The first start on a database imports what older ccgw versions kept in files.

`usage.json` (counters and breakdowns, also as cmdcode2apipy wrote it) and `usage.requests.jsonl`
(one line per request) are read once, in the same transaction that marks them imported, so a crash
mid-import imports nothing and the next start tries again. The ledger file is then renamed
`….imported`; `usage.json` stays, rewritten from the database from then on.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from ccgw.jsonutil import JSONDecodeError, loads
from ccgw.storage import ops, schema
from ccgw.storage.files import refuse_link
from ccgw.usage import BREAKDOWNS, COUNTERS, UsageRecord


class LegacyFileError(Exception):
    """`usage.json` cannot be read or is not ccgw's; one line for the person starting ccgw."""


def read_counters(path: Path) -> dict[str, Any] | None:
    """The counters tree of `usage.json`, or None when there is none."""
    refuse_link(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LegacyFileError(f"cannot read {path} ({exc.strerror or exc})") from None
    try:
        document = loads(raw)
    except JSONDecodeError:
        raise LegacyFileError(f"{path} is not valid JSON; move it aside (its totals are not imported)") from None
    if not isinstance(document, dict):
        raise LegacyFileError(f"{path} is not a JSON object; move it aside")
    return document


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def counter_rows(tree: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"scope": "total", "label": "", **{name: _count(tree.get(name)) for name in COUNTERS}}]
    for name in BREAKDOWNS:
        breakdown = tree.get(name)
        for label, counts in (breakdown if isinstance(breakdown, dict) else {}).items():
            if isinstance(counts, dict):
                rows.append(
                    {"scope": name[3:], "label": str(label)[:200], **{c: _count(counts.get(c)) for c in COUNTERS}}
                )
    return rows


def read_ledger(path: Path) -> list[dict[str, Any]]:
    refuse_link(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise LegacyFileError(f"cannot read {path} ({exc.strerror or exc})") from None
    rows = []
    for line in data.split(b"\n"):
        try:
            entry = loads(line) if line.strip() else None
        except JSONDecodeError:
            continue  # a line torn by a crash
        if isinstance(entry, dict) and isinstance(entry.get("request_id"), str):
            rows.append(_ledger_row(entry))
    return rows


def _ledger_row(entry: dict[str, Any]) -> dict[str, Any]:
    at = entry.get("at")
    epoch = 0.0
    if isinstance(at, str):  # as `usage.iso` wrote it: 2026-11-21T21:30:10.123Z
        with contextlib.suppress(ValueError):
            epoch = calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S")) + int(at[20:23] or 0) / 1000
    record = UsageRecord(
        request_id=entry["request_id"][:64],
        key=str(entry.get("key", ""))[:200],
        endpoint=str(entry.get("endpoint", ""))[:64],
        model=str(entry.get("model", ""))[:200],
        status=str(entry.get("status", ""))[:100],
        input_tokens=_count(entry.get("input_tokens")),
        cache_read_tokens=_count(entry.get("cache_read_tokens")),
        cache_write_tokens=_count(entry.get("cache_write_tokens")),
        output_tokens=_count(entry.get("output_tokens")),
        reasoning_tokens=_count(entry.get("reasoning_tokens")),
        cost_micro=_count(entry.get("cost_micro")),
        latency_ms=float(entry.get("latency_ms") or 0.0),
        ttft_ms=float(entry["ttft_ms"]) if isinstance(entry.get("ttft_ms"), int | float) else None,
        at=epoch,
    )
    return {name: getattr(record, name) for name in ops.RECORD_FIELDS}


def marker(usage_json: Path) -> str:
    """Per machine and file: gateways sharing one PostgreSQL each import their own old files once."""
    return f"legacy_import:{socket.gethostname()}:{usage_json.resolve()}"[:300]


def import_files(conn: Connection, usage_json: Path) -> tuple[int, int] | None:
    """Import `usage_json` and its ledger unless done before; (requests counted, ledger rows) or None."""
    name = marker(usage_json)
    if conn.execute(select(schema.meta.c.value).where(schema.meta.c.name == name)).first() is not None:
        return None
    ledger = usage_json.with_name(usage_json.stem + ".requests.jsonl")
    tree = read_counters(usage_json)
    rows = read_ledger(ledger)
    if tree is not None:
        ops.upsert_add(conn, schema.counters, counter_rows(tree), ("scope", "label"))
    if rows:
        stmt = ops.insert_for(conn, schema.requests).on_conflict_do_nothing(index_elements=["request_id"])
        for start in range(0, len(rows), 1000):
            conn.execute(stmt, rows[start : start + 1000])
    conn.execute(schema.meta.insert().values(name=name, value=str(time.time())))
    return (_count((tree or {}).get("total_requests")), len(rows))


def retire_ledger(usage_json: Path) -> None:
    """After the import committed: the old ledger file is kept, renamed, never read again."""
    ledger = usage_json.with_name(usage_json.stem + ".requests.jsonl")
    if ledger.exists() and not ledger.is_symlink():
        os.replace(ledger, ledger.with_name(ledger.name + ".imported"))
