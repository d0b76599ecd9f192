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


def whoami(state: FakeState) -> dict[str, Any]:
    user = {
        "id": state.user_id,
        "name": state.user_name,
        "email": state.user_email,
        "userName": state.user_name,
    }
    return {"success": True, "user": user, "org": None}


def subscription(state: FakeState) -> dict[str, Any]:
    data = {
        "id": "sub_fake0000000000000001",
        "status": "active",
        "userId": state.user_id,
        "orgId": None,
        "createdAt": state.period_start,
        "priceId": f"price_{PLAN_IDS[state.plan].replace('-', '_')}",
        "metadata": {"commandCode": "true", "commandCodeUserId": state.user_id},
        "quantity": 1,
        "cancelAtPeriodEnd": False,
        "currentPeriodStart": state.period_start,
        "currentPeriodEnd": state.period_end,
        "endedAt": None,
        "cancelAt": None,
        "canceledAt": None,
        "planId": PLAN_IDS[state.plan],
        "pendingPhase": None,
    }
    return {"success": True, "data": data}


def exceeded_window(state: FakeState) -> str | None:
    if state.five_hour_exceeded:
        return "fiveHour"
    if state.weekly_exceeded:
        return "weekly"
    return None


def credits(state: FakeState) -> dict[str, Any]:
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
