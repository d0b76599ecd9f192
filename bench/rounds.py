"""ABAB rounds: the same work sent directly (A) and through the proxy (B), alternately, on keep-alive
connections; each side's round records its results and the CPU time every process spent on it.

Several pairs (ccgw's endpoints and LiteLLM at one curve point) take their turns within each round,
so a change in the machine's load hits them all alike, not just whichever was measured last.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import stats
from bench.loadgen import Connection, Request, Result, for_duration, sequential
from bench.procs import cpu_seconds
from bench.stack import HOST, Pair


@dataclass
class SideRound:
    results: list[Result]
    wall: float
    proxy_cpu: float
    upstream_cpu: float
    load_cpu: float

    @property
    def errors(self) -> int:
        return sum(not r.ok for r in self.results)

    def ok(self) -> list[Result]:
        return [r for r in self.results if r.ok]


async def side_round(
    conn: Connection, request: Request, pair: Pair, *, count: int = 0, seconds: float = 0.0
) -> SideRound:
    """`count` requests back to back, or as many as fit in `seconds` (at least one)."""
    proxy0, upstream0 = cpu_seconds(pair.proxy_pid), cpu_seconds(pair.upstream_pid)
    load0, wall0 = time.process_time(), time.perf_counter()
    if count:
        results = await sequential(conn, request, count)
    else:
        results = await for_duration(conn, request, seconds)
    wall = time.perf_counter() - wall0
    return SideRound(
        results,
        wall,
        cpu_seconds(pair.proxy_pid) - proxy0,
        cpu_seconds(pair.upstream_pid) - upstream0,
        time.process_time() - load0,
    )


Rounds = tuple[list[SideRound], list[SideRound]]


async def abab(
    pairs: Sequence[Pair], rounds: int, *, count: int = 0, seconds: float = 0.0, warmup: int = 5
) -> list[Rounds]:
    """`rounds` × (for each pair: direct round, proxied round), after `warmup` unmeasured requests on
    each side; per pair, its direct and proxied rounds."""
    conns = [(Connection(HOST, p.direct_port), Connection(HOST, p.proxied_port)) for p in pairs]
    out: list[Rounds] = [([], []) for _ in pairs]
    try:
        for (direct, proxied), pair in zip(conns, pairs, strict=True):
            await sequential(direct, pair.direct, warmup)
            await sequential(proxied, pair.proxied, warmup)
        for _ in range(rounds):
            for (direct, proxied), pair, (a, b) in zip(conns, pairs, out, strict=True):
                a.append(await side_round(direct, pair.direct, pair, count=count, seconds=seconds))
                b.append(await side_round(proxied, pair.proxied, pair, count=count, seconds=seconds))
        return out
    finally:
        for direct, proxied in conns:
            direct.close()
            proxied.close()


def per_round(rounds: Sequence[SideRound], metric: Callable[[SideRound], float]) -> list[float]:
    return [metric(r) for r in rounds]


def pctl_ms(q: float, attr: str = "latency") -> Callable[[SideRound], float]:
    def metric(side: SideRound) -> float:
        values = [getattr(r, attr) for r in side.ok()]
        return stats.ms(stats.percentile([v for v in values if not math.isnan(v)], q))

    return metric


def timing_summary(a: Sequence[SideRound], b: Sequence[SideRound], attr: str = "latency") -> dict[str, Any]:
    """p50 and p99 of `attr` per round for both sides, paired; plus the proxy's CPU per request."""
    requests_b = sum(len(r.results) for r in b)
    return {
        "p50_ms": stats.paired(per_round(a, pctl_ms(50, attr)), per_round(b, pctl_ms(50, attr))),
        "p99_ms": stats.paired(per_round(a, pctl_ms(99, attr)), per_round(b, pctl_ms(99, attr))),
        "proxy_cpu_ms_per_request": stats.ms(sum(r.proxy_cpu for r in b) / max(1, requests_b)),
        "requests_per_side": requests_b,
        "errors": {"direct": sum(r.errors for r in a), "proxied": sum(r.errors for r in b)},
        "load_cpu_util": max(r.load_cpu / r.wall for r in (*a, *b)),
    }
