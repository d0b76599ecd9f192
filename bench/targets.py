"""The issue's targets, read off a run's results: each with its measured value and pass or miss."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    unit: str
    read: Callable[[dict[str, Any]], tuple[float | None, str]]  # (value, where it was read)
    passes: Callable[[float], bool]


def _row(results: dict[str, Any], workload: str, x: int | None = None, endpoint: str = "/v1/chat/completions") -> Any:
    rows = [
        r
        for r in results.get(workload) or []
        if r["proxy"] == "ccgw" and r["endpoint"] == endpoint and (x is None or r["x"] == x)
    ]
    return rows[0] if rows else None


def _latency(key: str) -> Callable[[dict[str, Any]], tuple[float | None, str]]:
    def read(results: dict[str, Any]) -> tuple[float | None, str]:
        small = results["plan"]["small_deltas"]
        row = _row(results, "latency", small)
        if row is None:
            return None, "not run"
        return row[key][
            "added"
        ], f"chat, {small}-token answer; gateway CPU {row['proxy_cpu_ms_per_request']:.2f} ms/request"

    return read


def _ttft(results: dict[str, Any]) -> tuple[float | None, str]:
    row = _row(results, "ttft", 0)
    return (row["p50_ms"]["added"], "chat stream, p50, no history") if row else (None, "not run")


def _throughput(results: dict[str, Any]) -> tuple[float | None, str]:
    rows = [r for r in results.get("throughput") or [] if r["proxy"] == "ccgw"]
    if not rows:
        return None, "not run"
    best = max(rows, key=lambda r: r["rps"]["proxied"])
    levels = ", ".join(str(r["x"]) for r in rows)
    capacity = best["proxy_requests_per_cpu_s"]
    return best["rps"]["proxied"], f"best of c={levels} (c={best['x']}); {capacity:,.0f} req per gateway CPU-second"


def _relay(results: dict[str, Any]) -> tuple[float | None, str]:
    rows = [r for r in results.get("stream") or [] if r["proxy"] == "ccgw" and r["endpoint"] == "/v1/chat/completions"]
    if not rows:
        return None, "not run"
    longest = max(rows, key=lambda r: r["x"])
    return longest["proxy_events_per_cpu_s"], f"chat, {longest['x']:,}-delta streams, per gateway CPU-second"


def _paced(results: dict[str, Any]) -> tuple[float | None, str]:
    rows = [r for r in results.get("paced") or [] if r["proxy"] == "ccgw" and r["endpoint"] == "/v1/chat/completions"]
    if not rows:
        return None, "not run"
    slowest = max(rows, key=lambda r: r["x"])
    return (
        slowest["proxy_events_per_cpu_s"],
        f"chat, {slowest['deltas']}-delta streams, one delta per read every {slowest['x']:.0f} ms, per gateway CPU-second",
    )


def _streams(key: str) -> Callable[[dict[str, Any]], tuple[float | None, str]]:
    def read(results: dict[str, Any]) -> tuple[float | None, str]:
        row = _row(results, "memory", 1000)
        if row is None:
            return None, "not run (quick runs stop at 100 streams)"
        if key == "errors":
            return float(row["errors"]["proxied"]), "1,000 slow chat streams at once"
        peak = max(row["peak_rss_sampled_mb"], row["vm_hwm_mb"] or 0.0)
        return peak, "1,000 slow chat streams, max of sampled RSS and VmHWM"

    return read


TARGETS = [
    Target("Added latency p50, small non-streaming", "≤ 1 ms", "ms", _latency("p50_ms"), lambda v: v <= 1.0),
    Target("Added latency p99, small non-streaming", "≤ 3 ms", "ms", _latency("p99_ms"), lambda v: v <= 3.0),
    Target("Added time to first token", "≤ 1 ms", "ms", _ttft, lambda v: v <= 1.0),
    Target("Throughput, one worker, instant upstream", "≥ 1,000 req/s", "req/s", _throughput, lambda v: v >= 1000),
    Target("Relayed stream events per core", "≥ 50,000 events/s", "events/s", _relay, lambda v: v >= 50_000),
    Target("… the same, events paced as real tokens", "≥ 50,000 events/s", "events/s", _paced, lambda v: v >= 50_000),
    Target("Errors with 1,000 concurrent streams", "0", "errors", _streams("errors"), lambda v: v == 0),
    Target("Peak RSS with 1,000 concurrent streams", "< 300 MB", "MB", _streams("rss"), lambda v: v < 300),
]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        value, where = target.read(results)
        known = value is not None and not math.isnan(value)
        verdict = ("pass" if target.passes(value) else "miss") if known and value is not None else "not measured"
        out.append(
            {
                "target": target.name,
                "goal": target.goal,
                "value": value,
                "unit": target.unit,
                "where": where,
                "verdict": verdict,
            }
        )
    return out
