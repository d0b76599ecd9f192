"""What one model request cost: the :class:`UsageRecord`, its counters, and the UTC periods of limits.

Records are kept by the storage layer (:mod:`ccgw.storage`); this module is plain data.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

COUNTERS = (
    "total_requests",
    "failed_requests",
    "rejected_requests",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_micro",
)
BREAKDOWNS = ("by_key", "by_model", "by_day", "by_hour", "by_account", "by_path")
HOURS_KEPT = 7 * 24

# Limit buckets: period → strftime pattern of its label (UTC).
PERIODS = {"minute": "m%Y-%m-%dT%H:%M", "hour": "h%Y-%m-%dT%H", "day": "d%Y-%m-%d", "month": "M%Y-%m"}


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One request, as accounted.

    `upstream` is False for a request ccgw refused itself before anything went upstream (a local
    limit, a bad request ...): it counts only as `rejected_requests`, never as a request, tokens or
    cost, nor in a key's request-limit windows.
    """

    request_id: str
    key: str
    endpoint: str
    model: str
    status: str  # "ok" or the error code
    input_tokens: int = 0  # includes cache reads and writes
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micro: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    at: float = 0.0
    upstream: bool = True  # False: refused by ccgw itself before anything went to Command Code
    account: str = ""  # the Command Code account that served it ("" when none did)
    path: str = ""  # its upstream path: "provider" (the Provider API) or "cli" (the CLI endpoint)

    def counters(self) -> dict[str, int]:
        if not self.upstream:
            return {"rejected_requests": 1}  # neither an upstream request nor a cost
        return {
            "total_requests": 1,
            "failed_requests": 0 if self.status == "ok" else 1,
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_micro": self.cost_micro,
        }

    def public(self) -> dict[str, Any]:
        """The ledger entry as the API shows it (`at` as ISO 8601 UTC)."""
        entry = {name: getattr(self, name) for name in self.__slots__}  # asdict() deep-copies: slow
        entry["at"] = iso(self.at)
        return entry


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _labels_of_minute(minute: int) -> dict[str, str]:
    moment = time.gmtime(minute * 60)
    labels = {period: time.strftime(pattern, moment) for period, pattern in PERIODS.items()}
    labels["day_key"], labels["hour_key"] = time.strftime("%Y-%m-%d", moment), time.strftime("%Y-%m-%dT%H", moment)
    return labels


def bucket_labels(epoch: float) -> dict[str, str]:
    """The limit buckets `epoch` falls in (the same for a whole minute, so computed once per minute)."""
    labels = _labels_of_minute(int(epoch // 60))
    return {period: labels[period] for period in PERIODS}


def breakdown_labels(epoch: float) -> tuple[str, str]:
    """The `by_day` and `by_hour` labels of `epoch`."""
    labels = _labels_of_minute(int(epoch // 60))
    return labels["day_key"], labels["hour_key"]


def empty_tree() -> dict[str, Any]:
    tree: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    for name in BREAKDOWNS:
        tree[name] = {}
    return tree
