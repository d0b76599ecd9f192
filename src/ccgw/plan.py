"""The Command Code plan: credits and the five-hour and weekly windows (`/alpha/billing/credits`).

The document is cached for `ttl` seconds and refreshed in the background; when the upstream cannot be
reached the last copy is served marked stale (never an error). While a window is exhausted, model
requests fail fast with 429 and a `Retry-After` until its reset, instead of going to an upstream that
would refuse them. An upstream 429 that names its window marks it exhausted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ccgw.errors import GatewayError, RateLimitError

log = logging.getLogger("ccgw.plan")

WINDOWS = {"fiveHour": "five_hour", "weekly": "weekly"}
FETCH_WAIT = 5.0  # how long /usage waits for a refresh before answering with what it has


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
class PlanState:
    status: Literal["ok", "stale", "unavailable"] = "unavailable"
    fetched_at: float | None = None
    monthly_credits: float | None = None
    purchased_credits: float | None = None
    free_credits: float | None = None
    windows: dict[str, Window] = field(default_factory=dict)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
        self, fetch: Callable[[], Awaitable[Any]], *, ttl: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self.state = PlanState()
        self._attempted_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self._attempted_at = self._clock()
        try:
            document = await self._fetch()
            self.state = parse_credits(document, self._clock())
        except (GatewayError, ValueError) as exc:
            log.warning("plan windows unavailable, keeping the last copy: %s", exc)
            self.state.status = "stale" if self.state.fetched_at is not None else "unavailable"

    def _due(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= self._ttl

    def refresh_soon(self) -> asyncio.Task[None]:
        """Start a background refresh if one is due and none is running."""
        if (self._task is None or self._task.done()) and self._due():
            self._task = asyncio.get_running_loop().create_task(self.refresh())
        assert self._task is not None
        return self._task

    async def current(self) -> PlanState:
        """The plan as fresh as a short wait allows (stale or unavailable rather than failing)."""
        if self._due():
            task = self.refresh_soon()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), FETCH_WAIT)
        return self.state

    def guard(self) -> None:
        """Raise 429 while a known window is exhausted; schedule a refresh when the copy is old."""
        now = self._clock()
        for name, window in self.state.windows.items():
            if window.exhausted(now):
                wait = (window.resets_at - now) if window.resets_at else None
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window.resets_at)) if window.resets_at else "?"
                amount = f" ({window.used:g} of {window.cap:g})" if window.cap else ""
                raise RateLimitError(
                    f"Your Command Code plan's {name.replace('_', '-')} window is used up{amount}; it resets at {when}",
                    code="plan_window_exhausted",
                    retry_after=wait,
                )
        if self._due() and self._attempted_at is not None:
            self.refresh_soon()

    def note_exhausted(self, window: str | None, retry_after: float | None) -> None:
        """An upstream 429 named its window: block it until the reset without asking again."""
        name = WINDOWS.get(window or "")
        if name is None or retry_after is None:
            return
        known = self.state.windows.get(name) or Window()
        self.state.windows[name] = Window(known.used, known.cap, True, self._clock() + retry_after)

    def close(self) -> None:
        """Stop a refresh under way (the account is gone)."""
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def public(self) -> dict[str, Any]:
        state, now = self.state, self._clock()

        def stamp(epoch: float | None) -> str | None:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch else None

        return {
            "status": state.status,
            "fetched_at": stamp(state.fetched_at),
            "monthly_credits": state.monthly_credits,
            "purchased_credits": state.purchased_credits,
            "free_credits": state.free_credits,
            "windows": {
                name: {
                    "used": w.used,
                    "cap": w.cap,
                    "exceeded": w.exhausted(now),
                    "resets_at": stamp(w.resets_at),
                }
                for name, w in state.windows.items()
            },
        }
