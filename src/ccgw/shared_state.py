"""What gateways on one database know together about each Command Code account.

Each gateway keeps its accounts' state in memory, where requests read it; this module mirrors that
state through the database (`account_state`, one row per fact, see :mod:`ccgw.storage.shared`):

* out: each change (a cooldown begun or ended, a model blocked, a plan window refused, billing
  documents fetched, an upstream path found) is one row queued on the store's group-commit writer,
  so it costs a request nothing but a dict entry;
* in: every second one small query reads the rows of this gateway's accounts, and each row newer
  than what this gateway knows is taken in (last writer wins, per fact).

So a 429 or 402 that one gateway meets cools the account on all of them within about a second; one
gateway polls billing per `plan_cache_ttl` (it holds a lease) and the others take its documents; and
an account's upstream path, found by one gateway's check or `upgrade_required`, serves all. A
cooldown or a blocked model is taken only from a gateway still running (its heartbeat), so one that
stopped takes them with it: restarting ccgw forgets cooldowns, as it always did. While the database
cannot be read or written, each gateway goes on with its own state, and `/health?detail=1` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from ccgw import errors
from ccgw.accounts import Account, AccountPool
from ccgw.jsonutil import dumps_str, loads
from ccgw.storage import Store
from ccgw.upstream.access import ProviderAccess
from ccgw.usage import iso

log = logging.getLogger("ccgw.shared")

REFRESH_SECONDS = 1.0
FIRST_READ_WAIT = 3.0  # how long start-up waits for the first read before serving with what it has
PLAN_POLL = "plan.poll"


def account_id(api_key: str) -> str:
    """An account's row key: its key's SHA-256 (the key itself is never stored)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def error_data(error: errors.GatewayError | None) -> dict[str, Any] | None:
    """The failure behind a cooldown, as plain data (its class is the nearest one of :mod:`ccgw.errors`)."""
    if error is None:
        return None
    name = next(c.__name__ for c in type(error).__mro__ if getattr(errors, c.__name__, None) is c)
    data: dict[str, Any] = {
        "class": name,
        "message": error.message,
        "code": error.code,
        "retry_after": error.retry_after,
    }
    if isinstance(error, errors.RateLimitError):
        data.update(window=error.window, model=error.model, resets_in=error.resets_in)
    return data


def error_from(data: Any) -> errors.GatewayError | None:
    if not isinstance(data, dict) or not isinstance(data.get("message"), str):
        return None
    found = getattr(errors, str(data.get("class")), None)
    cls = found if isinstance(found, type) and issubclass(found, errors.GatewayError) else errors.UpstreamError
    error = cls(data["message"], code=_text(data.get("code")), retry_after=_number(data.get("retry_after")))
    if isinstance(error, errors.RateLimitError):
        error.window, error.model = _text(data.get("window")), _text(data.get("model"))
        error.resets_in = _number(data.get("resets_in"))
    return error


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _billing_part(document: Any) -> Any:
    """What the plan is read from: of `whoami`, only the org and its limits (not the user's name or email)."""
    if isinstance(document, dict) and isinstance(document.get("whoami"), dict):
        whoami = document["whoami"]
        return {**document, "whoami": {k: whoami[k] for k in ("org", "orgLimits") if k in whoami}}
    return document


class AccountLink:
    """One account's plan and upstream path, tied to its shared rows (a :class:`ccgw.plan.PlanPeers`)."""

    def __init__(self, shared: SharedState, api_key: str, plan_ttl: float) -> None:
        self._shared = shared
        self.id = account_id(api_key)
        self._ttl = plan_ttl

    async def may_poll(self) -> bool:
        try:
            return await self._shared.store.lease(self.id, PLAN_POLL, self._ttl)
        except Exception:  # a failing database: poll as a gateway alone would
            return True

    def fetched(self, document: Any, at: float) -> None:
        self._shared.write(self.id, "plan", 0.0, _billing_part(document), at)

    def noted(self, window: str, until: float) -> None:
        self._shared.write(self.id, "window:" + window, until, {}, self._shared.clock())

    def decided(self, access: ProviderAccess) -> None:
        if access.checked_at is not None:
            data = {"path": access.path, "reason": access.reason}
            self._shared.write(self.id, "path", access.next_check, data, access.checked_at)


class SharedState:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time, *, interval: float = REFRESH_SECONDS):
        self.store = store
        self.clock = clock
        self.interval = interval
        self._pool: AccountPool | None = None
        self._ids: dict[str, str] = {}  # api key → row key, so each is hashed once
        self._seen: dict[tuple[str, str], tuple[float, str]] = {}  # (account, part) → (updated_at, owner) known
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        self._failing_since: float | None = None
        self._read_at: float | None = None

    def link(self, api_key: str, plan_ttl: float) -> AccountLink:
        return AccountLink(self, api_key, plan_ttl)

    def _id(self, api_key: str) -> str:
        found = self._ids.get(api_key)
        if found is None:
            found = self._ids[api_key] = account_id(api_key)
        return found

    # -- out -----------------------------------------------------------------------------------

    def write(self, account: str, part: str, until: float, data: Any, at: float) -> None:
        row = {"account": account, "part": part, "until": until, "data": dumps_str(data), "updated_at": at}
        self.store.share(row)
        self._seen[account, part] = (at, self.store.owner)

    def changed(self, account: Account, part: str) -> None:
        """The pool changed `part` of `account` (its `on_change`)."""
        now, key = self.clock(), self._id(account.api_key)
        if part == "cooldown":
            data = {"reason": account.reason, "failures": account.failures, "error": error_data(account.cooled_by)}
            self.write(key, part, account.cooldown_until, data, now)
        elif part.startswith("model:") and (blocked := account.blocked_models.get(part[6:])) is not None:
            self.write(key, part, blocked[0], {"error": error_data(blocked[1])}, now)

    # -- in ------------------------------------------------------------------------------------

    async def start(self, pool: AccountPool) -> None:
        """Read what other gateways know (briefly), then keep reading every `interval` seconds."""
        self._pool = pool
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.refresh(), FIRST_READ_WAIT)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()

    async def refresh(self) -> None:
        """Take in the rows other gateways wrote since this one last looked."""
        accounts: dict[str, list[Account]] = {}
        for account in self._pool.accounts if self._pool else []:
            accounts.setdefault(self._id(account.api_key), []).append(account)
        if not accounts:
            return
        try:
            rows = await self.store.shared_rows(list(accounts))
        except Exception as exc:  # the database: go on with this gateway's own state
            self._read_failed(exc)
            return
        if self._error is not None:
            log.warning("shared account state can be read again; this gateway follows the others again")
        self._error = self._failing_since = None
        self._read_at = self.clock()
        for row in rows:
            try:
                self._take(row, accounts[row["account"]])
            except Exception:  # one bad row must not stop the others
                log.exception("shared account state: cannot use the row %s of an account", row.get("part"))

    def _take(self, row: dict[str, Any], accounts: list[Account]) -> None:
        part, stamp = row["part"], (float(row["updated_at"]), str(row["owner"]))
        seen = self._seen.get((row["account"], part))
        if stamp[1] == self.store.owner or (seen is not None and (stamp[0] < seen[0] or stamp == seen)):
            return  # this gateway's own, or not newer than what it knows
        if (part == "cooldown" or part.startswith("model:")) and not row["live"]:
            return  # the gateway that met it has stopped
        data, until = loads(row["data"]), float(row["until"])
        for account in accounts:
            self._apply(account, part, data, until, stamp[0])
        self._seen[row["account"], part] = stamp

    @staticmethod
    def _apply(account: Account, part: str, data: Any, until: float, at: float) -> None:
        if part == "cooldown":
            account.cooldown_until, account.reason = until, str(data.get("reason") or "")
            account.failures, account.cooled_by = int(data.get("failures") or 0), error_from(data.get("error"))
        elif part.startswith("model:"):
            error = error_from(data.get("error"))
            if error is not None:
                account.blocked_models[part[6:]] = (until, error)
        elif part.startswith("window:"):
            account.plan.adopt_exhausted(part[7:], until)
        elif part == "plan":
            account.plan.adopt(data, at)
        elif part == "path" and data.get("path") in ("provider", "cli"):
            account.access.adopt(data["path"], str(data.get("reason") or ""), at, until)

    def _read_failed(self, exc: BaseException) -> None:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if self._error is None:
            self._failing_since = self.clock()
            log.warning(
                "shared account state cannot be read (%s): this gateway uses its own account cooldowns, plan "
                "windows and upstream paths until it can", reason,
            )  # fmt: skip
        self._error = reason

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        """For `/health?detail=1`: whether this gateway shares its accounts' state with the others now."""
        writes = self.store.status()
        error = self._error or (writes["error"] if self.store.failing else None)
        shared = {"status": "ok", "read_at": iso(self._read_at) if self._read_at else None}
        if error is None:
            return shared
        return {
            **shared,
            "status": "local",
            "error": error,
            "failing_since": iso(self._failing_since) if self._failing_since else writes["failing_since"],
            "note": "account cooldowns, plan windows and upstream paths are this gateway's own until the "
            "database works again",
        }
