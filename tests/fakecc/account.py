"""Account endpoints of the fake Command Code API: identity, plan, credits and usage.

Bodies follow upstream-protocol.md §1.2, which quotes the captured CLI traffic: ``/alpha/whoami`` and
``/alpha/billing/subscriptions`` carry ``success``; ``/alpha/billing/credits`` does not, and its
``resetAt`` values are epoch milliseconds; ``/alpha/usage/summary`` was not captured, so its shape is
the union the known normalisers read (optionally wrapped in ``data``).
"""

from __future__ import annotations

from typing import Any

from .catalog import PLAN_IDS
from .state import FakeState


def whoami(state: FakeState, limits: bool = False) -> dict[str, Any]:
    """With `limits` (`?limits=1`, §11) a team account's `orgLimits` are added."""
    user = {
        "id": state.user_id,
        "name": state.user_name,
        "email": state.user_email,
        "userName": state.user_name,
    }
    org = {"id": state.org_id, "name": "Fake Team", "role": "member"} if state.org_id else None
    body: dict[str, Any] = {"success": True, "user": user, "org": org}
    if limits and state.org_id:
        body["orgLimits"] = state.org_limits
    return body


def subscription(state: FakeState, key: str | None = None) -> dict[str, Any]:
    plan = state.plan_of(key)
    data = {
        "id": "sub_fake0000000000000001",
        "status": "active",
        "userId": state.user_id,
        "orgId": None,
        "createdAt": state.period_start,
        "priceId": f"price_{PLAN_IDS[plan].replace('-', '_')}",
        "metadata": {"commandCode": "true", "commandCodeUserId": state.user_id},
        "quantity": 1,
        "cancelAtPeriodEnd": False,
        "currentPeriodStart": state.period_start,
        "currentPeriodEnd": state.period_end,
        "endedAt": None,
        "cancelAt": None,
        "canceledAt": None,
        "planId": PLAN_IDS[plan],
        "pendingPhase": None,
    }
    return {"success": True, "data": data}


def exceeded_window(state: FakeState) -> str | None:
    if state.five_hour_exceeded:
        return "fiveHour"
    if state.weekly_exceeded:
        return "weekly"
    if state.daily_exceeded and state.daily_used is not None:
        return "daily"
    return None


def credits(state: FakeState, org_id: str | None = None) -> dict[str, Any]:
    """A team account's credits and windows belong to its org: asked without the right `orgId`, the
    fake answers for the member alone (no credits, no windows), so a client must pass it."""
    if state.org_id and org_id != state.org_id:
        balances = {"belowThreshold": False, "creditThreshold": 0, "monthlyCredits": 0, "purchasedCredits": 0}
        return {"credits": {**balances, "freeCredits": 0}, "windowLimits": {"limited": False, "exceeded": None}}
    balances = {
        "belowThreshold": False,
        "creditThreshold": 0,
        "monthlyCredits": state.monthly_credits,
        "purchasedCredits": state.purchased_credits,
        "freeCredits": state.free_credits,
    }
    five_hour = {
        "used": state.five_hour_used,
        "cap": state.five_hour_cap,
        "exceeded": state.five_hour_exceeded,
        "resetAt": state.reset_at_ms("fiveHour"),
    }
    weekly = {
        "used": state.weekly_used,
        "cap": state.weekly_cap,
        "exceeded": state.weekly_exceeded,
        "resetAt": state.reset_at_ms("weekly"),
    }
    limits = {"limited": True, "exceeded": exceeded_window(state), "fiveHour": five_hour, "weekly": weekly}
    if state.daily_used is not None:
        limits["daily"] = {
            "used": state.daily_used,
            "cap": state.daily_cap,
            "exceeded": state.daily_exceeded,
            "resetAt": state.reset_at_ms("daily"),
        }
    return {"credits": balances, "windowLimits": limits}


def usage_summary(state: FakeState) -> dict[str, Any]:
    stats = state.stats
    count = stats.turns_completed + stats.turns_failed
    summary = {
        "totalCount": count,
        "totalCost": round(stats.cost_usd, 9),
        "averageCost": round(stats.cost_usd / count, 9) if count else 0,
        "successRate": stats.turns_completed / count if count else 1,
        "completedCount": stats.turns_completed,
        "failedCount": stats.turns_failed,
        "totalTokensIn": stats.tokens_in,
        "totalTokensOut": stats.tokens_out,
        "totalCredits": round(stats.cost_usd, 9),
        "periodBasis": "billing-period",
    }
    return {"success": True, "data": summary} if state.usage_summary_wrapped else summary
