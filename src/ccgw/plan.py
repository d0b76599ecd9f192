"""The Command Code plan as the CLI sees it: credits, the five-hour, weekly and daily windows
(`/alpha/billing/credits`), and an organisation's spend limits (`/alpha/whoami?limits=1`).

A team account's credits are the organisation's: the CLI asks `/alpha/whoami` for the org id and
passes it as `orgId`; so does :func:`fetch_plan`. The documents are cached for `ttl` seconds and
refreshed in the background; when the upstream cannot be reached the last copy is served marked stale
(never an error). While a window or a spend limit is exhausted, model requests fail fast (429
`plan_window_exhausted`, 402 `spend_cap_exceeded`) with a `Retry-After` until its reset, instead of
going to an upstream that would refuse them. An upstream 429 that names its window marks it exhausted
at once, until its reset, whatever a lagging credits document says meanwhile.

Gateways on one database share a plan (:class:`PlanPeers`, see :mod:`ccgw.shared_state`): one of them
polls billing per `ttl` and the others take its documents, and a window one of them saw refused is
refused by all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

from ccgw.errors import GatewayError, PaymentRequiredError, RateLimitError

log = logging.getLogger("ccgw.plan")

WINDOWS = {"fiveHour": "five_hour", "weekly": "weekly", "daily": "daily"}
FETCH_WAIT = 5.0  # how long /usage waits for a refresh before answering with what it has
UNKNOWN_RESET = 300.0  # a window refused without a reset time: blocked this long, then asked again

GetJson = Callable[..., Awaitable[Any]]


class PlanPeers(Protocol):
    """The other gateways that watch the same plan."""

    async def may_poll(self) -> bool:
        """Whether this gateway polls billing this period (no other one does)."""
        ...

    def fetched(self, document: Any, at: float) -> None:
        """This gateway fetched the plan's documents."""

    def noted(self, window: str, until: float) -> None:
        """An upstream 429 told this gateway that `window` is used up until `until`."""


class Alone:
    """No other gateway: poll when due, tell nobody."""

    async def may_poll(self) -> bool:
        return True

    def fetched(self, document: Any, at: float) -> None:
        pass

    def noted(self, window: str, until: float) -> None:
        pass


async def fetch_plan(get_json: GetJson, api_key: str) -> dict[str, Any]:
    """What the CLI reads: who the key belongs to (with the org's spend limits), then the credits
    of the org (team accounts) or of the user."""
    try:
        whoami = await get_json("/alpha/whoami?limits=1", api_key=api_key)
    except GatewayError as exc:
        log.warning("whoami unavailable, reading the credits without an org: %s", exc)
        whoami = None
    org = whoami.get("org") if isinstance(whoami, dict) else None
    org_id = org.get("id") if isinstance(org, dict) else None
    path = "/alpha/billing/credits" + (f"?orgId={quote(str(org_id), safe='')}" if org_id else "")
    return {"whoami": whoami, "credits": await get_json(path, api_key=api_key)}


@dataclass(slots=True)
class Window:
    used: float = 0.0
    cap: float = 0.0
    exceeded: bool = False
    resets_at: float | None = None  # epoch seconds

    def exhausted(self, now: float) -> bool:
        if self.resets_at is not None and now >= self.resets_at:
            return False
        return self.exceeded or (self.cap > 0 and self.used >= self.cap)


@dataclass(slots=True)
class OrgLimit:
    """An organisation's spend limit (`orgLimits` of `/alpha/whoami?limits=1`)."""

    spent: float = 0.0
    limit: float = 0.0
    interval: str = ""
    exceeded: bool = False
    resets_at: float | None = None

    def exhausted(self, now: float) -> bool:
        if self.resets_at is not None and now >= self.resets_at:
            return False
        return self.exceeded or (self.limit > 0 and self.spent >= self.limit)


@dataclass(slots=True)
class PlanState:
    status: Literal["ok", "stale", "unavailable"] = "unavailable"
    fetched_at: float | None = None
    monthly_credits: float | None = None
    purchased_credits: float | None = None
    free_credits: float | None = None
    org_id: str | None = None
    windows: dict[str, Window] = field(default_factory=dict)
    org_limits: list[OrgLimit] = field(default_factory=list)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _org_limits(whoami: Any) -> list[OrgLimit]:
    rows = whoami.get("orgLimits") if isinstance(whoami, dict) else None
    return [
        OrgLimit(
            spent=_number(row.get("spent")) or 0.0,
            limit=_number(row.get("limit")) or 0.0,
            interval=str(row.get("resetInterval") or ""),
            exceeded=row.get("exceeded") is True,
            resets_at=_iso(row.get("resetAt")),
        )
        for row in (rows if isinstance(rows, list) else [])
        if isinstance(row, dict)
    ]


def parse_plan(document: Any, now: float) -> PlanState:
    """The documents :func:`fetch_plan` returns (a bare credits document is read too)."""
    if isinstance(document, dict) and "credits" in document and "whoami" in document:
        state = parse_credits(document["credits"], now)
        whoami = document["whoami"]
        org = whoami.get("org") if isinstance(whoami, dict) else None
        state.org_id = str(org["id"]) if isinstance(org, dict) and org.get("id") else None
        state.org_limits = _org_limits(whoami)
        return state
    return parse_credits(document, now)


def parse_credits(document: Any, now: float) -> PlanState:
    if not isinstance(document, dict):
        raise ValueError("credits document is not an object")
    credits = document.get("credits")
    limits = document.get("windowLimits")
    credits = credits if isinstance(credits, dict) else {}
    limits = limits if isinstance(limits, dict) else {}
    windows = {}
    for upstream_name, name in WINDOWS.items():
        raw = limits.get(upstream_name)
        if isinstance(raw, dict):
            reset = _number(raw.get("resetAt"))
            windows[name] = Window(
                used=_number(raw.get("used")) or 0.0,
                cap=_number(raw.get("cap")) or 0.0,
                exceeded=raw.get("exceeded") is True,
                resets_at=reset / 1000 if reset and reset > 1e12 else reset,  # the upstream sends epoch ms
            )
    return PlanState(
        status="ok",
        fetched_at=now,
        monthly_credits=_number(credits.get("monthlyCredits")),
        purchased_credits=_number(credits.get("purchasedCredits")),
        free_credits=_number(credits.get("freeCredits")),
        windows=windows,
    )


class PlanMonitor:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[Any]],
        *,
        ttl: float,
        clock: Callable[[], float] = time.time,
        peers: PlanPeers | None = None,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._peers: PlanPeers = peers or Alone()
        self.state = PlanState()
        self._attempted_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._noted: dict[str, float] = {}  # window → until when an upstream 429 said it is used up

    async def refresh(self) -> None:
        self._attempted_at = self._clock()
        if not await self._peers.may_poll():
            return  # another gateway polls this period: its documents come through the database
        try:
            document = await self._fetch()
            self.state = parse_plan(document, self._clock())
        except (GatewayError, ValueError) as exc:
            log.warning("plan windows unavailable, keeping the last copy: %s", exc)
            self.state.status = "stale" if self.state.fetched_at is not None else "unavailable"
            return
        assert self.state.fetched_at is not None
        self._peers.fetched(document, self.state.fetched_at)

    def adopt(self, document: Any, fetched_at: float) -> bool:
        """Take the documents another gateway fetched, if newer than this copy; True if taken."""
        if self.state.fetched_at is not None and fetched_at <= self.state.fetched_at:
            return False
        try:
            self.state = parse_plan(document, fetched_at)
        except ValueError:
            return False
        self._attempted_at = max(self._attempted_at or 0.0, fetched_at)  # not due before its ttl runs out
        return True

    def adopt_exhausted(self, window: str, until: float) -> None:
        """Another gateway saw `window` (ccgw's name) refused until `until`."""
        if window in WINDOWS.values() and until > self._noted.get(window, 0.0):
            self._noted[window] = until

    def _due(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._ttl

    def refresh_soon(self) -> asyncio.Task[None] | None:
        """Start a background refresh if one is due and none is running; the refresh under way, if any."""
        if (self._task is None or self._task.done()) and self._due():
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        return self._task

    async def current(self) -> PlanState:
        """The plan as fresh as a short wait allows (stale or unavailable rather than failing).

        A refresh under way (the one started at start-up, say) is waited for too: it is not due again,
        but its answer is what the caller asks for."""
        task = self.refresh_soon()
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), FETCH_WAIT)
        return self.state

    def windows(self) -> dict[str, Window]:
        """The known windows, with what upstream 429s said overriding a lagging credits document."""
        now = self._clock()
        windows = dict(self.state.windows)
        for name, until in self._noted.items():
            if until > now:
                known = windows.get(name) or Window()
                windows[name] = Window(known.used, known.cap, True, until)
        return windows

    def guard(self) -> None:
        """Raise while a known window or spend limit is exhausted; schedule a refresh when the copy is old."""
        now = self._clock()
        for name, window in self.windows().items():
            if window.exhausted(now):
                wait = (window.resets_at - now) if window.resets_at else None
                amount = f" ({window.used:g} of {window.cap:g})" if window.cap else ""
                raise RateLimitError(
                    f"Your Command Code plan's {name.replace('_', '-')} window is used up{amount}; "
                    f"it resets at {_stamp(window.resets_at) or '?'}",
                    code="plan_window_exhausted",
                    retry_after=wait,
                )
        for limit in self.state.org_limits:
            if limit.exhausted(now):
                raise PaymentRequiredError(
                    f"Your Command Code organisation's {limit.interval or 'spend'} limit is used up "
                    f"({limit.spent:g} of {limit.limit:g} USD); it resets at {_stamp(limit.resets_at) or '?'}",
                    code="spend_cap_exceeded",
                    retry_after=(limit.resets_at - now) if limit.resets_at else None,
                )
        if self._due() and self._attempted_at is not None:
            self.refresh_soon()

    def note_exhausted(self, window: str | None, seconds: float | None) -> None:
        """An upstream 429 named its window: block it until the reset without asking again.

        Without a reset time, the credits document's reset is used, else the window is asked about
        again after a few minutes.
        """
        name = WINDOWS.get(window or "")
        if name is None:
            return
        now = self._clock()
        if seconds is None:
            known = self.state.windows.get(name)
            reset = known.resets_at if known and known.resets_at and known.resets_at > now else None
            seconds = (reset - now) if reset else UNKNOWN_RESET
        self._noted[name] = now + seconds
        self._peers.noted(name, now + seconds)

    def close(self) -> None:
        """Stop a refresh under way (the account is gone)."""
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def public(self) -> dict[str, Any]:
        state, now = self.state, self._clock()
        return {
            "status": state.status,
            "fetched_at": _stamp(state.fetched_at),
            "monthly_credits": state.monthly_credits,
            "purchased_credits": state.purchased_credits,
            "free_credits": state.free_credits,
            "org_id": state.org_id,
            "windows": {
                name: {
                    "used": w.used,
                    "cap": w.cap,
                    "exceeded": w.exhausted(now),
                    "resets_at": _stamp(w.resets_at),
                }
                for name, w in self.windows().items()
            },
            "org_limits": [
                {
                    "spent": limit.spent,
                    "limit": limit.limit,
                    "interval": limit.interval,
                    "exceeded": limit.exhausted(now),
                    "resets_at": _stamp(limit.resets_at),
                }
                for limit in state.org_limits
            ],
        }


def _stamp(epoch: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else None
