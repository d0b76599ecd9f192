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


ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/messages": "messages", "/v1/responses": "responses"}


def _latency(key: str) -> Callable[[dict[str, Any]], tuple[float | None, str]]:
    """The worst of the three endpoints' added latency for a small answer."""

    def read(results: dict[str, Any]) -> tuple[float | None, str]:
        small = results["plan"]["small_deltas"]
        rows = [row for endpoint in ENDPOINTS if (row := _row(results, "latency", small, endpoint))]
        if not rows:
            return None, "not run"
        worst = max(rows, key=lambda r: r[key]["added"])
        each = ", ".join(f"{ENDPOINTS[r['endpoint']]} {r[key]['added']:.2f}" for r in rows)
        cpu = worst["proxy_cpu_ms_per_request"]
        return worst[key][
            "added"
        ], f"worst endpoint, {small}-token answer ({each} ms); gateway CPU {cpu:.2f} ms/request"

    return read


def _versus_litellm(results: dict[str, Any]) -> tuple[float | None, str]:
    small = results["plan"]["small_deltas"]
    ours = _latency("p50_ms")(results)[0]
    peer = [r for r in results.get("latency") or [] if r["proxy"] == "litellm" and r["x"] == small]
    if ours is None or not peer:
        return None, "LiteLLM not run"
    theirs = peer[0]["p50_ms"]["added"]
    return theirs / ours, f"added p50: LiteLLM {theirs:.2f} ms, ccgw {ours:.2f} ms (worst endpoint)"


def _ttft(results: dict[str, Any]) -> tuple[float | None, str]:
    rows = [row for endpoint in ENDPOINTS if (row := _row(results, "ttft", 0, endpoint))]
    if not rows:
        return None, "not run"
    worst = max(rows, key=lambda r: r["p50_ms"]["added"])
    each = ", ".join(f"{ENDPOINTS[r['endpoint']]} {r['p50_ms']['added']:.2f}" for r in rows)
    return worst["p50_ms"]["added"], f"worst endpoint, p50, stream with no history ({each} ms)"


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
    """The worst pacing: tokens that arrive one per read, 1, 5 and 20 ms apart."""
    rows = [r for r in results.get("paced") or [] if r["proxy"] == "ccgw" and r["endpoint"] == "/v1/chat/completions"]
    if not rows:
        return None, "not run"
    worst = min(rows, key=lambda r: r["proxy_events_per_cpu_s"])
    each = ", ".join(f"{r['x']:.0f} ms: {r['proxy_events_per_cpu_s']:,.0f}" for r in sorted(rows, key=lambda r: r["x"]))
    return worst["proxy_events_per_cpu_s"], f"chat, {worst['deltas']}-delta streams, one delta per read ({each})"


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


TARGETS = [  # issue 13's goals
    Target("Added latency p50, small non-streaming", "≤ 1 ms", "ms", _latency("p50_ms"), lambda v: v <= 1.0),
    Target("Added latency p99, small non-streaming", "≤ 2 ms", "ms", _latency("p99_ms"), lambda v: v <= 2.0),
    Target("Added time to first token", "≤ 1 ms", "ms", _ttft, lambda v: v <= 1.0),
    Target("Paced relay, tokens one per read", "≥ 20,000 events/CPU-s", "events/CPU-s", _paced, lambda v: v >= 20_000),
    Target("Throughput, one worker, instant upstream", "≥ 2,000 req/s", "req/s", _throughput, lambda v: v >= 2000),
    Target("Less added latency than LiteLLM", "≥ 15×", "×", _versus_litellm, lambda v: v >= 15),
    Target("Relayed stream events per core (unpaced)", "≥ 50,000 events/s", "events/s", _relay, lambda v: v >= 50_000),
    Target("Errors with 1,000 concurrent streams", "0", "errors", _streams("errors"), lambda v: v == 0),
    Target("Peak RSS with 1,000 concurrent streams", "< 200 MB", "MB", _streams("rss"), lambda v: v < 200),
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
