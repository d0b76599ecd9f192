"""Which upstream path an account takes: the Provider API where its plan has one, the CLI endpoint otherwise.

Per account, `upstream` is `auto` (the default), `provider` or `cli`. `auto` asks the Provider API
itself (:meth:`ProviderClient.has_access`, a request its schema refuses, so nothing is generated or
billed): a Go key gets `403 upgrade_required`, a key with access a 400. The first request waits for that
answer briefly (the CLI endpoint serves meanwhile if it is slow); it is asked again every
`provider_check_interval` seconds (a day by default) in the background, sooner when it could not be
told, and an `upgrade_required` on a real request moves the account to the CLI endpoint at once (the
plan changed). So an account whose plan changes moves paths without a restart, either way.

`path_for()` never fails: whatever the probe meets, the CLI endpoint is the answer that always works.

Gateways on one database share what they find (`on_decided`, :meth:`ProviderAccess.adopt`; see
:mod:`ccgw.shared_state`): one gateway's check or `upgrade_required` serves them all until the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from ccgw.config import UpstreamMode

log = logging.getLogger("ccgw.access")

Path = Literal["provider", "cli"]
FIRST_WAIT = 5.0  # how long the first request waits for the first answer
UNSURE_RETRY = 300.0  # a probe that could not tell is asked again this soon (or at the interval, if sooner)

Probe = Callable[[], Awaitable[bool | None]]  # True: access, False: upgrade_required, None: cannot tell


class ProviderAccess:
    def __init__(
        self,
        mode: UpstreamMode,
        probe: Probe,
        *,
        interval: float,
        clock: Callable[[], float] = time.time,
        name: str = "default",
        on_decided: Callable[[ProviderAccess], None] | None = None,
    ) -> None:
        self.name = name  # the account's, for the log
        self.on_decided = on_decided  # told of each check's outcome and each move (`auto` only)
        self.mode = mode
        self._probe = probe
        self._interval = interval
        self._clock = clock
        self.path: Path = "provider" if mode == "provider" else "cli"
        self.reason = {"provider": "forced by upstream: provider", "cli": "forced by upstream: cli"}.get(
            mode, "not checked yet"
        )
        self.checked_at: float | None = None
        self._next_check = 0.0
        self._task: asyncio.Task[None] | None = None

    def check_soon(self) -> asyncio.Task[None] | None:
        """Start a check in the background if one is due (`auto` only) and none is running."""
        if self.mode != "auto":
            return None
        if (self._task is None or self._task.done()) and self._clock() >= self._next_check:
            self._task = asyncio.get_running_loop().create_task(self._check())
        return self._task

    async def _check(self) -> None:
        try:
            found = await self._probe()
        except Exception as exc:  # a probe must never break a request; the CLI endpoint still works
            log.warning("account %s: could not check Provider API access: %s", self.name, exc)
            found = None
        now = self._clock()
        self.checked_at = now
        if found is None:
            self.reason = "could not tell whether the plan has the Provider API (checked again soon)"
            self._next_check = now + min(UNSURE_RETRY, self._interval)
        else:
            self._next_check = now + self._interval
            before = self.path
            self.path = "provider" if found else "cli"
            self.reason = (
                "the plan has the Provider API" if found else "no Provider API on this plan (upgrade_required)"
            )
            if before != self.path:
                log.info("account %s now uses the %s path: %s", self.name, self.path, self.reason)
        if self.on_decided is not None:
            self.on_decided(self)

    async def path_for(self) -> Path:
        """The path for the next request (the first one waits briefly for the first check)."""
        task = self.check_soon()
        if task is not None and self.checked_at is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), FIRST_WAIT)
        return self.path

    def no_access(self) -> bool:
        """A request met `upgrade_required`: move to the CLI endpoint (`auto` only); True if it moved."""
        if self.mode != "auto" or self.path == "cli":
            return False
        now = self._clock()
        self.path, self.checked_at, self._next_check = "cli", now, now + self._interval
        self.reason = "the Provider API answered upgrade_required (the plan has no API access)"
        log.info("account %s now uses the cli path: %s", self.name, self.reason)
        if self.on_decided is not None:
            self.on_decided(self)
        return True

    @property
    def next_check(self) -> float:
        return self._next_check

    def adopt(self, path: Path, reason: str, checked_at: float, next_check: float) -> bool:
        """Take what another gateway found for this account, if newer (`auto` only); True if taken."""
        if self.mode != "auto" or (self.checked_at is not None and checked_at <= self.checked_at):
            return False
        if path != self.path:
            log.info("account %s now uses the %s path (found by another gateway): %s", self.name, path, reason)
        self.path, self.reason, self.checked_at, self._next_check = path, reason, checked_at, next_check
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def public(self) -> dict[str, Any]:
        """For `/health?detail=1`, `/usage` and the dashboard."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.checked_at)) if self.checked_at else None
        return {"mode": self.mode, "path": self.path, "reason": self.reason, "checked_at": stamp}
