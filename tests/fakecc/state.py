"""Mutable state of one fake Command Code server: configuration, the scenario queue and what it saw.

Tests drive the fake in-process by mutating a ``FakeState`` directly, or out-of-process through the
``/_fake/*`` control endpoints, which call ``FakeState.patch``. Billing numbers default to the Go-plan
account of the capture (upstream-protocol.md §1.2: five-hour cap 3, weekly cap 6).
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any, Final

from .catalog import PLANS

PROVIDER_KEY_PREFIX: Final = "user_provider"  # keys on the Provider plan unless `key_plans` says otherwise

REQUEST_LOG_SIZE: Final = 1000
MAX_BODY_BYTES: Final = 50 * 1024 * 1024  # §2.4: the upstream answers 413 above ≈50 MB

ScenarioSpec = str | dict[str, Any]


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
        }


@dataclass(slots=True)
class FakeStats:
    paths: dict[str, int] = field(default_factory=dict)
    generate_calls: int = 0
    provider_calls: int = 0  # model requests to /provider/v1/chat/completions and /provider/v1/messages
    streams_started: int = 0
    streams_completed: int = 0
    active_streams: int = 0
    disconnects: int = 0
    turns_completed: int = 0
    turns_failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def count_path(self, path: str) -> None:
        self.paths[path] = self.paths.get(path, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class FakeState:
    """Everything a test may set or inspect. Highlights:

    ``plan`` (go|goat|pro|provider|max) gates models for every key, except keys named in ``key_plans``
    (key → plan; a test switches a key's plan at run time there) and keys that start with
    ``user_provider``, which are on the Provider plan; every plan but Go may use the Provider API; ``default_scenario``/``default_framing`` apply when
    neither ``script`` nor a ``fake:`` marker picks one; ``strict_deepseek`` refuses DeepSeek tool
    loops without replayed reasoning; ``require_max_tokens`` makes a missing ``max_tokens`` a 400;
    ``min_cli_version`` (off by default) refuses older ``x-command-code-version`` values with 403;
    ``cache_read_tokens`` sets the reported cache hits; ``*_exceeded`` windows also make generate
    answer 429. ``requests`` and ``stats`` are what the fake observed; ``rng`` may be seeded.
    """

    plan: str = "go"
    default_scenario: str = "text"
    default_framing: str = "ndjson"
    strict_deepseek: bool = True
    require_max_tokens: bool = True
    min_cli_version: str | None = None
    unknown_model_status: int = 403
    max_body_bytes: int = MAX_BODY_BYTES
    key_plans: dict[str, str] = field(default_factory=dict)
    revoked_keys: set[str] = field(default_factory=set)
    exhausted_keys: set[str] = field(default_factory=set)
    models_down: bool = False
    billing_down: bool = False
    cache_read_tokens: int | None = None
    usage_summary_wrapped: bool = False

    user_id: str = "7d0c9a52-6a8e-4b7e-9d8f-2f1c3e4a5b6c"
    user_name: str = "fake-user"
    user_email: str = "fake-user@example.com"
    period_start: str = "2026-09-01T00:00:00.000Z"
    period_end: str = "2026-10-01T00:00:00.000Z"
    monthly_credits: float = 8.548
    purchased_credits: float = 0.0
    free_credits: float = 0.0
    five_hour_used: float = 0.025
    five_hour_cap: float = 3.0
    five_hour_exceeded: bool = False
    five_hour_reset_at: int | None = None  # epoch ms; None = five hours from now
    weekly_used: float = 1.45
    weekly_cap: float = 6.0
    weekly_exceeded: bool = False
    weekly_reset_at: int | None = None  # epoch ms; None = seven days from now
    daily_used: float | None = None  # None: the account has no daily window
    daily_cap: float = 1.0
    daily_exceeded: bool = False
    org_id: str | None = None  # team account mode: whoami names the org, credits need ?orgId=
    org_limits: list[dict[str, Any]] = field(default_factory=list)  # whoami?limits=1 `orgLimits`

    script: deque[ScenarioSpec] = field(default_factory=deque)
    requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    stats: FakeStats = field(default_factory=FakeStats)
    rng: random.Random = field(default_factory=random.Random)

    def record(self, method: str, path: str, query: str, headers: dict[str, str], body: Any) -> None:
        self.stats.count_path(path)
        self.requests.append(RecordedRequest(method, path, query, headers, body))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def plan_of(self, key: str | None) -> str:
        """The plan of the account a key belongs to."""
        if key is not None and key in self.key_plans:
            return self.key_plans[key]
        if key is not None and key.startswith(PROVIDER_KEY_PREFIX):
            return "provider"
        return self.plan

    def reset_at_ms(self, window: str) -> int:
        now_ms = int(time.time() * 1000)
        if window == "fiveHour":
            return self.five_hour_reset_at or now_ms + 5 * 3600 * 1000
        if window == "daily":
            return now_ms + 24 * 3600 * 1000
        return self.weekly_reset_at or now_ms + 7 * 24 * 3600 * 1000

    def patch(self, changes: dict[str, Any]) -> None:
        """Apply a JSON patch from ``POST /_fake/state``; raises ``ValueError`` on unknown fields."""
        for name, value in changes.items():
            if name not in PATCHABLE:
                raise ValueError(f"field {name!r} cannot be patched")
            if name == "plan" and value not in PLANS:
                raise ValueError(f"plan must be one of {', '.join(PLANS)}")
            if name == "key_plans" and not all(plan in PLANS for plan in dict(value).values()):
                raise ValueError(f"key_plans values must be one of {', '.join(PLANS)}")
            if name in {"revoked_keys", "exhausted_keys"}:
                value = set(value)
            setattr(self, name, value)

    def config_json(self) -> dict[str, Any]:
        return {name: _jsonable(getattr(self, name)) for name in PATCHABLE}


_NOT_PATCHABLE: Final = frozenset({"script", "requests", "stats", "rng"})
PATCHABLE: Final = tuple(f.name for f in fields(FakeState) if f.name not in _NOT_PATCHABLE)


def _jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, set) else value
