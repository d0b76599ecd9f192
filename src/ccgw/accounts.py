"""Several Command Code accounts: pick a healthy one, cool down the ones that fail, expire cooldowns.

An account that fails before the first byte is cooled down and the request moves on:

* refused key (401), other account-level refusals (403): a long cooldown, growing;
* credits exhausted (402, credit codes): until the upstream's `Retry-After`, else 30 minutes;
* `MODEL_NOT_IN_PLAN`: only that model is blocked on that account, for an hour;
* 429 naming `rateLimit.model` (a per-model limit): only that model, until its reset;
* 429 naming a plan window: until the window's reset (the plan remembers the window too);
* other 429s: until `Retry-After` / `rateLimit.reset`, else a growing backoff;
* 5xx, connection failures, timeouts: a short backoff that doubles with each failure in a row.

Cooldowns are moments on the clock, so they expire on their own. A conversation keeps using the
same account while it is healthy (the upstream's prompt cache is per account). Each change is told to
`on_change` (with the part that changed: `"cooldown"` or `"model:<id>"`), so gateways on one database
share it (:mod:`ccgw.shared_state`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ccgw import errors
from ccgw.plan import PlanMonitor
from ccgw.upstream.access import ProviderAccess

TRANSIENT_CAP = 60.0
REFUSED_BASE = 300.0
REFUSED_CAP = 3600.0
CREDITS_DEFAULT = 1800.0
MODEL_BLOCK = 3600.0


@dataclass(slots=True)
class Account:
    name: str
    api_key: str
    plan: PlanMonitor
    access: ProviderAccess  # which upstream path it takes (the Provider API or the CLI endpoint), and why
    cooldown_until: float = 0.0
    reason: str = ""
    failures: int = 0  # in a row, for the growing backoffs
    cooled_by: errors.GatewayError | None = None  # the failure behind the current (or last) cooldown
    blocked_models: dict[str, tuple[float, errors.GatewayError]] = field(default_factory=dict)

    def available(self, model: str, now: float) -> bool:
        return now >= self.recovers_at(model)

    def recovers_at(self, model: str) -> float:
        blocked = self.blocked_models.get(model)
        return max(self.cooldown_until, blocked[0] if blocked else 0.0)

    def refusal(self, model: str, now: float) -> errors.GatewayError | None:
        """Why this account cannot serve `model` now, as the error the client should see."""
        blocked = self.blocked_models.get(model)
        if blocked and now < blocked[0]:
            return blocked[1]
        return self.cooled_by if now < self.cooldown_until else None


def transient(error: errors.GatewayError) -> bool:
    """Failures worth trying again on the same account after a short wait."""
    return type(error) in (errors.UpstreamError, errors.UpstreamTimeoutError)


def account_level(error: errors.GatewayError) -> bool:
    """Failures that say something about the account (or the upstream), not about the request."""
    return transient(error) or isinstance(
        error,
        errors.UpstreamKeyRejectedError
        | errors.PaymentRequiredError
        | errors.RateLimitError
        | errors.PermissionDeniedError,
    )


def final_refusal(error: errors.GatewayError | None) -> bool:
    """A refusal that stands until a known reset (a used-up plan window or per-model limit): never
    worth waiting for on the same account, as the CLI never retries one."""
    return isinstance(error, errors.RateLimitError) and bool(error.window or error.model)


def _ignore(account: Account, part: str) -> None:
    pass


class AccountPool:
    def __init__(
        self,
        accounts: Sequence[Account],
        clock: Callable[[], float] = time.time,
        *,
        backoff: float = 1.0,
        on_change: Callable[[Account, str], None] = _ignore,
    ) -> None:
        self.accounts = list(accounts)
        self._clock = clock
        self._backoff = backoff
        self._on_change = on_change

    def candidates(self, seed: str, model: str) -> list[Account]:
        """Healthy accounts, the conversation's own first (stable while it stays healthy)."""
        if not self.accounts:
            return []
        start = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % len(self.accounts)
        ordered = self.accounts[start:] + self.accounts[:start]
        now = self._clock()
        return [a for a in ordered if a.available(model, now)]

    def earliest_recovery(self, model: str) -> float | None:
        if not self.accounts:
            return None
        return max(0.0, min(a.recovers_at(model) for a in self.accounts) - self._clock())

    def succeeded(self, account: Account) -> None:
        """The account answered: a cooldown for a transient failure is over (not one the upstream asked for).

        Only the cooldown's own cause decides: a model blocked on this account says nothing about
        whether the account as a whole is healthy, so it must not keep the backoff growing.
        """
        if not (account.failures or account.cooldown_until or account.cooled_by):
            return  # already healthy: the common case, and nothing to tell
        if account.cooled_by is None or transient(account.cooled_by) or self._clock() >= account.cooldown_until:
            account.cooldown_until = 0.0
            account.failures = 0
            account.reason = ""
            account.cooled_by = None
            self._on_change(account, "cooldown")

    def failed(self, account: Account, error: errors.GatewayError, model: str) -> None:
        """Cool `account` down as `error` deserves (nothing for errors the request itself caused)."""
        now = self._clock()
        if isinstance(error, errors.PermissionDeniedError) and error.code == "model_not_in_plan":
            account.blocked_models[model] = (now + MODEL_BLOCK, error)
            self._on_change(account, "model:" + model)
            return
        if isinstance(error, errors.RateLimitError) and error.model:
            account.blocked_models[model] = (now + (error.resets_in or error.retry_after or MODEL_BLOCK), error)
            self._on_change(account, "model:" + model)
            return
        if not account_level(error):
            return
        if transient(error) and now < account.cooldown_until:
            return  # a request that was already under way when the account cooled: no new evidence
        account.failures += 1
        growth = 2 ** (account.failures - 1)
        if transient(error):
            wait = min(TRANSIENT_CAP, self._backoff * growth)
        elif isinstance(error, errors.PaymentRequiredError):
            wait = error.retry_after or CREDITS_DEFAULT
        elif isinstance(error, errors.RateLimitError):
            wait = error.retry_after or min(TRANSIENT_CAP, 5.0 * growth)
        else:  # a refused key or another account-level refusal
            wait = min(REFUSED_CAP, REFUSED_BASE * growth)
        account.cooldown_until = max(account.cooldown_until, now + wait)
        account.reason = error.code or type(error).__name__
        account.cooled_by = error
        self._on_change(account, "cooldown")

    def states(self) -> list[dict[str, Any]]:
        """For `/health?detail=1` (never the keys)."""
        now = self._clock()
        return [
            {
                "name": a.name,
                "state": "healthy" if now >= a.cooldown_until else "cooling_down",
                "cooldown_seconds": max(0, round(a.cooldown_until - now)),
                "reason": a.reason or None,
                "failures_in_a_row": a.failures,
                "blocked_models": {m: round(u - now) for m, (u, _) in a.blocked_models.items() if u > now},
                "plan": a.plan.public(),
                "upstream": a.access.public(),
            }
            for a in self.accounts
        ]
