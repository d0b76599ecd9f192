"""Concurrent workloads: closed-loop throughput at several concurrencies (wrk, else the asyncio load
generator), and the gateway's memory with many slow streams open at once."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from bench import stats, wrk
from bench.config import Plan
from bench.loadgen import Request, burst, closed_loop
from bench.procs import cpu_seconds, reset_peak_rss, rss_kb, status_kb
from bench.stack import CORES, HOST, Pair, Stack
from bench.workloads import make_pair

log = logging.getLogger("bench")


async def _asyncio_run(port: int, request: Request, concurrency: int, seconds: float) -> dict[str, Any]:
    load0, wall0 = time.process_time(), time.perf_counter()
    results = await closed_loop(HOST, port, request, concurrency, seconds)
    wall = time.perf_counter() - wall0
    latencies = [r.latency for r in results if r.ok]
    return {
        "rps": len(latencies) / wall,
        "p50_ms": stats.ms(stats.percentile(latencies, 50)),
        "p99_ms": stats.ms(stats.percentile(latencies, 99)),
        "requests": len(results),
        "errors": sum(not r.ok for r in results),
        "load_cpu_util": (time.process_time() - load0) / wall,
        "seconds": wall,
    }


async def settle(pid: int, limit: float = 30.0) -> None:
    """Wait until `pid` is nearly idle (below 10% of a core over 0.2 s): requests abandoned by the
    load generator at the end of a run must not spill into the next one."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.2)
        if cpu_seconds(pid) - before < 0.02:
            return


class Runner:
    """Runs one side of a pair at a concurrency, measuring the proxy's and upstream's CPU alongside."""

    def __init__(self, pair: Pair, workdir: Path) -> None:
        self.pair = pair
        self.use_wrk = wrk.available()
        self.targets: dict[str, wrk.Target] = {}
        if self.use_wrk:
            tag = pair.name.split()[0]
            self.targets["direct"] = wrk.prepare(
                workdir, f"{tag}-direct", f"http://{HOST}:{pair.direct_port}{pair.direct_path}",
                pair.direct_body, pair.direct_headers,
            )  # fmt: skip
            self.targets["proxied"] = wrk.prepare(
                workdir, f"{tag}-proxied", f"http://{HOST}:{pair.proxied_port}{pair.proxied_path}",
                pair.proxied_body, pair.proxied_headers,
            )  # fmt: skip

    async def run(self, side: str, concurrency: int, seconds: float) -> dict[str, Any]:
        pair = self.pair
        proxy0, upstream0, wall0 = cpu_seconds(pair.proxy_pid), cpu_seconds(pair.upstream_pid), time.perf_counter()
        if self.use_wrk:
            result = await asyncio.to_thread(wrk.run, self.targets[side], concurrency, seconds, CORES["load"])
        else:
            port, request = (pair.direct_port, pair.direct) if side == "direct" else (pair.proxied_port, pair.proxied)
            result = await _asyncio_run(port, request, concurrency, seconds)
        wall = time.perf_counter() - wall0
        proxy_cpu = cpu_seconds(pair.proxy_pid) - proxy0
        result["proxy_cpu_util"] = proxy_cpu / wall
        result["upstream_cpu_util"] = (cpu_seconds(pair.upstream_pid) - upstream0) / wall
        await settle(pair.proxy_pid)
        result["proxy_cpu_s"] = proxy_cpu
        result["proxy_cpu_ms_per_request"] = stats.ms(proxy_cpu / max(1, result["requests"]))
        return result


def _throughput_row(
    proxy: str, runner: Runner, concurrency: int, seconds: float, a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> dict[str, Any]:
    def both(key: str) -> dict[str, Any]:
        return stats.paired([r[key] for r in a], [r[key] for r in b])

    return {
        "proxy": proxy,
        "endpoint": runner.pair.proxied_path,
        "x": concurrency,
        "loadgen": "wrk" if runner.use_wrk else "asyncio",
        "seconds_per_run": seconds,
        "rps": both("rps"),
        "p50_ms": both("p50_ms"),
        "p99_ms": both("p99_ms"),
        "proxy_cpu_util": stats.median([r["proxy_cpu_util"] for r in b]),
        "upstream_cpu_util": stats.median([r["upstream_cpu_util"] for r in b]),
        "proxy_cpu_ms_per_request": stats.median([r["proxy_cpu_ms_per_request"] for r in b]),
        "proxy_requests_per_cpu_s": stats.median([r["requests"] / r["proxy_cpu_s"] for r in b if r["proxy_cpu_s"]]),
        "load_cpu_util": max(r["load_cpu_util"] for r in (*a, *b)),
        "errors": {"direct": sum(r["errors"] for r in a), "proxied": sum(r["errors"] for r in b)},
    }


async def throughput(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Small non-streaming chat requests, upstream answering at once, at each concurrency: ABAB rounds,
    ccgw's and LiteLLM's turns interleaved within each round."""
    marker = f"fake:text(deltas={plan.small_deltas})"
    proxies = [("ccgw", "chat")] + ([("litellm", "openai")] if stack.litellm is not None else [])
    runners = {
        proxy: Runner(make_pair(stack, proxy, protocol, marker, plan.small_deltas, False), stack.workdir)
        for proxy, protocol in proxies
    }
    last_rps = dict.fromkeys(runners, 0.0)
    rows = []
    for concurrency in plan.concurrency:
        # a run must outlast a few rounds of every connection's request, or a slow proxy serves none
        seconds = {
            proxy: max(plan.throughput_seconds, min(plan.throughput_max_seconds, 3 * concurrency / rps))
            if rps
            else plan.throughput_seconds
            for proxy, rps in last_rps.items()
        }
        if plan.throughput_warmup:
            for runner in runners.values():
                for side in ("direct", "proxied"):
                    await runner.run(side, concurrency, 1.0)
        runs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {proxy: ([], []) for proxy in runners}
        for _ in range(plan.throughput_rounds):
            for proxy, runner in runners.items():
                runs[proxy][0].append(await runner.run("direct", concurrency, seconds[proxy]))
                runs[proxy][1].append(await runner.run("proxied", concurrency, seconds[proxy]))
        for proxy, runner in runners.items():
            row = _throughput_row(proxy, runner, concurrency, seconds[proxy], *runs[proxy])
            last_rps[proxy] = row["rps"]["proxied"]
            rows.append(row)
            log.info(
                "thruput %-8s c=%-4d %.0f → %.0f req/s, p99 %.1f → %.1f ms, proxy cpu %.0f%%, errors %s",
                proxy, concurrency, row["rps"]["direct"], row["rps"]["proxied"], row["p99_ms"]["direct"],
                row["p99_ms"]["proxied"], 100 * row["proxy_cpu_util"], row["errors"],
            )  # fmt: skip
    return sorted(rows, key=lambda r: (r["proxy"] != "ccgw", r["x"]))


async def _sampled_burst(port: int, request: Request, count: int, pid: int | None) -> tuple[list[Any], int, float]:
    """`count` streams at once; the peak RSS of `pid` sampled every 20 ms meanwhile."""
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            if pid is not None:
                peak = max(peak, rss_kb(pid))
            await asyncio.sleep(0.02)

    started = time.perf_counter()
    results = await burst(HOST, port, request, count, during=sample)
    return results, peak, time.perf_counter() - started


async def memory(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """The gateway's resident memory with N slow streams open at once, N = `plan.memory_levels`."""
    marker = f"fake:slow(deltas=20,delay={plan.memory_delay})"
    pair = make_pair(stack, "ccgw", "chat", marker, 20, True)
    rows = []
    for level in plan.memory_levels:
        direct, _, direct_wall = await _sampled_burst(pair.direct_port, pair.direct, level, None)
        idle_kb = rss_kb(pair.proxy_pid)
        hwm_reset = reset_peak_rss(pair.proxy_pid)
        cpu0 = cpu_seconds(pair.proxy_pid)
        proxied, peak_kb, wall = await _sampled_burst(pair.proxied_port, pair.proxied, level, pair.proxy_pid)
        cpu = cpu_seconds(pair.proxy_pid) - cpu0
        row = {
            "proxy": "ccgw",
            "endpoint": pair.proxied_path,
            "x": level,
            "idle_rss_mb": idle_kb / 1024,
            "peak_rss_sampled_mb": peak_kb / 1024,
            "vm_hwm_mb": status_kb(pair.proxy_pid, "VmHWM") / 1024 if hwm_reset else None,
            "added_mb": (peak_kb - idle_kb) / 1024,
            "errors": {"direct": sum(not r.ok for r in direct), "proxied": sum(not r.ok for r in proxied)},
            "wall_s": {"direct": direct_wall, "proxied": wall},
            "ttft_p99_ms": stats.ms(stats.percentile([r.ttft for r in proxied if r.ok], 99)),
            "proxy_cpu_s": cpu,
            "proxy_cpu_util": cpu / wall,
            "proxy_cpu_us_per_delta": 1e6 * cpu / (level * 20),
        }
        rows.append(row)
        log.info(
            "memory  ccgw     streams=%-5d idle %.0f MB, peak %.0f MB (HWM %s), errors %s, %.1f s vs %.1f s direct",
            level, row["idle_rss_mb"], row["peak_rss_sampled_mb"], row["vm_hwm_mb"], row["errors"], wall, direct_wall,
        )  # fmt: skip
    return rows
