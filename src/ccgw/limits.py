"""Per-key limits: allowed models, request rates and caps, and spending budgets.

Limits count in fixed UTC periods (the current minute, hour, day and month), so each one resets at
a well-defined moment, which the refusal names and `Retry-After` gives in seconds. The counts come
from the storage layer, counted at admission in one transaction with the check, so every gateway
and worker on one database sees them exactly.

Budgets are checked against the cost already settled plus what running requests hold: each request
of a key with a budget reserves an estimate of its cost when it is admitted (its prompt's estimated
tokens plus `max_tokens`, at the highest cost per token seen for the model) until it is recorded.
A request is admitted while spent + held < budget, so concurrency overshoots a budget by at most
one request's estimate (if no request costs more than its estimate).
"""

from __future__ import annotations

import calendar
import fnmatch
import math
import time
from collections.abc import Mapping

from ccgw.config import LocalKey
from ccgw.errors import PaymentRequiredError, PermissionDeniedError, RateLimitError

_LENGTHS = {"minute": 60, "hour": 3600, "day": 86400}


def period_end(period: str, now: float) -> float:
    """When the UTC `period` containing `now` ends (epoch seconds)."""
    if period in _LENGTHS:
        length = _LENGTHS[period]
        return (now // length + 1) * length
    moment = time.gmtime(now)
    year, month = (moment.tm_year + 1, 1) if moment.tm_mon == 12 else (moment.tm_year, moment.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def _reset_phrase(period: str, now: float) -> tuple[float, str]:
    end = period_end(period, now)
    return end - now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))


def model_allowed(key: LocalKey, model: str) -> bool:
    lowered = model.lower()
    return not key.models or any(fnmatch.fnmatchcase(lowered, p.lower()) for p in key.models)


def has_request_limits(key: LocalKey) -> bool:
    return any((key.rpm, key.requests_per_hour, key.requests_per_day, key.requests_per_month))


def has_budgets(key: LocalKey) -> bool:
    return key.budget_usd_per_day is not None or key.budget_usd_per_month is not None


def estimate_micro(rate: float, prompt_tokens: int, max_tokens: int) -> int:
    """A request's cost estimate in micro-USD: `rate` (micro-USD per token) over every token it may use."""
    return max(1, math.ceil(rate * (prompt_tokens + max_tokens)))


def check(key: LocalKey, model: str, usage: Mapping[str, Mapping[str, int]], now: float) -> None:
    """Raise the refusal for the first limit this request would break (403, 429 or 402)."""
    if not model_allowed(key, model):
        raise PermissionDeniedError(
            f"The key {key.name!r} may not use {model!r} (allowed: {', '.join(key.models)})", code="model_not_allowed"
        )
    caps = (
        ("minute", key.rpm, "requests per minute"),
        ("hour", key.requests_per_hour, "requests per hour"),
        ("day", key.requests_per_day, "requests per day"),
        ("month", key.requests_per_month, "requests per month"),
    )
    for period, cap, what in caps:
        if cap is not None and usage.get(period, {}).get("requests", 0) >= cap:
            wait, when = _reset_phrase(period, now)
            raise RateLimitError(
                f"The key {key.name!r} reached its limit of {cap} {what}; it resets at {when}",
                code="key_rate_limited",
                retry_after=wait,
            )
    budgets = (("day", key.budget_usd_per_day), ("month", key.budget_usd_per_month))
    for period, budget in budgets:
        spent = usage.get(period, {}).get("cost_micro", 0) / 1_000_000
        held = usage.get(period, {}).get("reserved_micro", 0) / 1_000_000
        if budget is not None and spent + held >= budget:
            wait, when = _reset_phrase(period, now)
            running = f" (and ${held:.4f} is held by its requests still running)" if held else ""
            raise PaymentRequiredError(
                f"The key {key.name!r} spent ${spent:.4f} of its ${budget:g} budget per {period}{running}; "
                f"it resets at {when}",
                code="budget_exceeded",
                retry_after=wait,
            )
