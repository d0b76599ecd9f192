"""Prometheus metrics (`GET /metrics`), via prometheus-client.

Each app has its own registry (several apps can live in one test process). The counters are this
process's own: with `uvicorn --workers N` or several gateways, a scrape sees the process that
answered it (`ccgw_metrics_scope_info` says so); for totals across all of them use `GET /usage`,
which reads the shared database.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ccgw.usage import UsageRecord

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "ccgw_requests", "Model requests by endpoint, model and outcome", ["endpoint", "model", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "ccgw_request_duration_seconds", "Whole request duration", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "ccgw_time_to_first_token_seconds", "Request start to the first answer token", ["endpoint"],
            buckets=_TTFT_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.tokens = Counter(
            "ccgw_tokens", "Tokens as the upstream reports them", ["model", "kind"], registry=self.registry
        )
        self.cost = Counter(
            "ccgw_cost_usd", "Cost in USD as the upstream reports it", ["model"], registry=self.registry
        )
        self.upstream_errors = Counter(
            "ccgw_upstream_errors", "Upstream failures by kind (error code)", ["kind"], registry=self.registry
        )
        self.rejected = Counter(
            "ccgw_rejected_requests", "Model requests ccgw refused before calling the upstream", ["endpoint", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge("ccgw_streams_in_flight", "Upstream generations currently open", registry=self.registry)
        scope = Gauge(
            "ccgw_metrics_scope_info",
            "These metrics count this gateway process only; GET /usage has the totals of every gateway",
            ["scope", "pid"],
            registry=self.registry,
        )
        scope.labels("process", str(os.getpid())).set(1)

    def _child(self, metric: Any, *labels: str) -> Any:
        # `labels()` validates and hashes on every call; children are cached per label values.
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe(self, record: UsageRecord) -> None:
        if not record.upstream:
            self._child(self.rejected, record.endpoint, record.status).inc()
            return
        self._child(self.requests, record.endpoint, record.model, record.status).inc()
        self._child(self.latency, record.endpoint).observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self._child(self.ttft, record.endpoint).observe(record.ttft_ms / 1000)
        for kind, value in (
            ("prompt", record.input_tokens),
            ("completion", record.output_tokens),
            ("cache_read", record.cache_read_tokens),
            ("cache_write", record.cache_write_tokens),
            ("reasoning", record.reasoning_tokens),
        ):
            if value:
                self._child(self.tokens, record.model, kind).inc(value)
        if record.cost_micro:
            self._child(self.cost, record.model).inc(record.cost_micro / 1_000_000)

    def observe_amend(self, recorded: UsageRecord, final: UsageRecord) -> None:
        """A record corrected after the answer's end (its cost arrived late)."""
        if final.cost_micro > recorded.cost_micro:
            self._child(self.cost, final.model).inc((final.cost_micro - recorded.cost_micro) / 1_000_000)

    def upstream_error(self, kind: str) -> None:
        self.upstream_errors.labels(kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
