"""The sequential workloads, each a curve of ABAB-paired points: added latency, added time to first
token, stream relay rate and CPU per relayed event, and cost against request size."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from bench import stats
from bench.config import Plan
from bench.rounds import SideRound, abab, per_round, timing_summary
from bench.stack import Pair, Stack

log = logging.getLogger("bench")

CCGW_PROTOCOLS = ("chat", "messages", "responses")


def subjects(stack: Stack) -> Iterator[tuple[str, str]]:
    """(proxy, protocol) of every proxied endpoint in this run."""
    for protocol in CCGW_PROTOCOLS:
        yield "ccgw", protocol
    if stack.litellm is not None:
        yield "litellm", "openai"


def make_pair(stack: Stack, proxy: str, protocol: str, marker: str, deltas: int, stream: bool, **shape: Any) -> Pair:
    if proxy == "litellm":
        return stack.peer_pair(marker, deltas, stream=stream, **shape)
    return stack.ccgw_pair(protocol, marker, deltas, stream=stream, **shape)


def _row(proxy: str, pair: Pair, x: int, **fields: Any) -> dict[str, Any]:
    return {"proxy": proxy, "endpoint": pair.proxied_path, "x": x, **fields}


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {"/v1/chat/completions": 0, "/v1/messages": 1, "/v1/responses": 2}
    return sorted(rows, key=lambda r: (r["proxy"] != "ccgw", order.get(r["endpoint"], 9), r["x"]))


async def latency(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Small non-streaming requests, sequential, for answers of `plan.latency_deltas` tokens."""
    rows = []
    for deltas in plan.latency_deltas:
        marker = f"fake:text(deltas={deltas})"
        cases = [
            (proxy, make_pair(stack, proxy, protocol, marker, deltas, False)) for proxy, protocol in subjects(stack)
        ]
        measured = await abab([pair for _, pair in cases], plan.rounds, count=plan.per_round)
        for (proxy, pair), (a, b) in zip(cases, measured, strict=True):
            rows.append(_row(proxy, pair, deltas, **timing_summary(a, b)))
            log.info("latency %-8s %-21s deltas=%-5d %s", proxy, pair.proxied_path, deltas, _brief(rows[-1]))
    return _sorted(rows)


async def ttft(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Streaming requests whose first token arrives on its own, with growing conversation history."""
    marker = f"fake:slow(deltas=3,delay={plan.ttft_delay})"
    rows = []
    for history in plan.ttft_history:
        cases = [
            (proxy, make_pair(stack, proxy, protocol, marker, 3, True, history=history))
            for proxy, protocol in subjects(stack)
        ]
        measured = await abab([pair for _, pair in cases], plan.rounds, count=plan.ttft_per_round)
        for (proxy, pair), (a, b) in zip(cases, measured, strict=True):
            rows.append(_row(proxy, pair, history, **timing_summary(a, b, attr="ttft")))
            log.info("ttft    %-8s %-21s history=%-4d %s", proxy, pair.proxied_path, history, _brief(rows[-1]))
    return _sorted(rows)


def _stream_row(proxy: str, pair: Pair, deltas: int, a: list[SideRound], b: list[SideRound]) -> dict[str, Any]:
    def rate(side: SideRound) -> float:
        return deltas * len(side.ok()) / side.wall

    relayed_b = deltas * sum(len(r.results) for r in b)
    relayed_a = deltas * sum(len(r.results) for r in a)
    proxy_cpu = sum(r.proxy_cpu for r in b)
    return _row(
        proxy,
        pair,
        deltas,
        events_per_s=stats.paired(per_round(a, rate), per_round(b, rate)),
        proxy_cpu_us_per_event=1e6 * proxy_cpu / max(1, relayed_b),
        proxy_events_per_cpu_s=relayed_b / proxy_cpu if proxy_cpu else None,
        upstream_cpu_us_per_event=1e6 * sum(r.upstream_cpu for r in a) / max(1, relayed_a),
        proxy_cpu_util=stats.median([r.proxy_cpu / r.wall for r in b]),
        requests_per_side=sum(len(r.results) for r in b),
        errors={"direct": sum(r.errors for r in a), "proxied": sum(r.errors for r in b)},
        load_cpu_util=max(r.load_cpu / r.wall for r in (*a, *b)),
    )


async def stream_rate(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Unpaced streams of `plan.stream_deltas` deltas: events/s end to end, CPU per relayed event."""
    rows = []
    for deltas in plan.stream_deltas:
        marker = f"fake:text(deltas={deltas})"
        cases = [
            (proxy, make_pair(stack, proxy, protocol, marker, deltas, True))
            for proxy, protocol in subjects(stack)
            if proxy != "litellm" or deltas <= plan.peer_stream_max
        ]
        warmup = 2 if deltas <= 10_000 else 1
        measured = await abab([p for _, p in cases], plan.stream_rounds, seconds=plan.stream_seconds, warmup=warmup)
        for (proxy, pair), (a, b) in zip(cases, measured, strict=True):
            row = _stream_row(proxy, pair, deltas, a, b)
            rows.append(row)
            log.info(
                "stream  %-8s %-21s deltas=%-6d %.0f → %.0f ev/s, %.2f µs CPU/event, errors %s",
                proxy, pair.proxied_path, deltas, row["events_per_s"]["direct"], row["events_per_s"]["proxied"],
                row["proxy_cpu_us_per_event"], row["errors"],
            )  # fmt: skip
    return _sorted(rows)


async def paced_stream(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Streams whose events arrive one per read, `gap` apart, as an LLM's tokens do: the proxy's CPU per
    delta then includes its per-read cost, which unpaced streams (hundreds of events per read) hide."""
    rows = []
    deltas = plan.paced_deltas
    for gap in plan.paced_gaps:
        marker = f"fake:slow(deltas={deltas},delay={gap})"
        cases = [
            (proxy, make_pair(stack, proxy, protocol, marker, deltas, True)) for proxy, protocol in subjects(stack)
        ]
        measured = await abab([p for _, p in cases], plan.paced_rounds, count=1, warmup=1)
        for (proxy, pair), (a, b) in zip(cases, measured, strict=True):
            row = _stream_row(proxy, pair, deltas, a, b)
            row.update(x=gap * 1000, deltas=deltas)
            rows.append(row)
            log.info(
                "paced   %-8s %-21s gap=%-4.0f ms  %.1f µs proxy CPU per delta (%d deltas, request included), errors %s",
                proxy, pair.proxied_path, gap * 1000, row["proxy_cpu_us_per_event"], deltas, row["errors"],
            )  # fmt: skip
    return _sorted(rows)


async def request_size(stack: Stack, plan: Plan) -> list[dict[str, Any]]:
    """Non-streaming chat requests carrying an image data URL, from 1 KB to 10 MB."""
    rows = []
    for size in plan.sizes:
        image_chars = max(0, size - 400)
        pair = make_pair(stack, "ccgw", "chat", "fake:text(deltas=10)", 10, False, image_chars=image_chars)
        count = max(2, min(plan.per_round, plan.size_bytes_per_round // size))
        [(a, b)] = await abab([pair], plan.size_rounds, count=count, warmup=2)
        stack.clear_fake_log()
        row = _row("ccgw", pair, len(pair.proxied_body), **timing_summary(a, b))
        row["upstream_bytes"] = len(pair.direct_body)
        rows.append(row)
        log.info("size    ccgw     %-21s bytes=%-9d %s", pair.proxied_path, len(pair.proxied_body), _brief(row))
    return rows


def _brief(row: dict[str, Any]) -> str:
    p50, p99 = row["p50_ms"], row["p99_ms"]
    return (
        f"p50 {p50['direct']:.2f} → {p50['proxied']:.2f} ms (+{p50['added']:.2f}), "
        f"p99 {p99['direct']:.2f} → {p99['proxied']:.2f} ms (+{p99['added']:.2f}), "
        f"cpu {row['proxy_cpu_ms_per_request']:.2f} ms/req, errors {row['errors']}"
    )
