"""`results.md`: the targets, one table per workload, the peer's status and the profiles' hot spots."""

from __future__ import annotations

import math
from typing import Any


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least squares y = slope·x + intercept, with R²."""
    n = len(xs)
    if n < 2:
        return {"slope": math.nan, "intercept": math.nan, "r2": math.nan}
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else math.nan
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else math.nan}


def size_fit(rows: list[dict[str, Any]], *, cpu: bool = False) -> dict[str, float]:
    """Added p50 latency (or, with `cpu`, the gateway's CPU per request), in ms, against request size in MB."""
    ys = [r["proxy_cpu_ms_per_request"] if cpu else r["p50_ms"]["added"] for r in rows]
    return linear_fit([r["x"] / 1e6 for r in rows], ys)


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _errors(row: dict[str, Any]) -> str:
    return f"{row['errors']['direct']} / {row['errors']['proxied']}"


def _timing_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        p50, p99 = r["p50_ms"], r["p99_ms"]
        iqr = p50["added_iqr"]
        out.append(
            [r["proxy"], r["endpoint"], _f(r["x"]), _f(p50["direct"]), _f(p50["proxied"]),
             f"**{_f(p50['added'])}** ({_f(iqr[0])}…{_f(iqr[1])})", _f(p99["direct"]), _f(p99["proxied"]),
             f"**{_f(p99['added'])}**", _f(r["proxy_cpu_ms_per_request"]), _errors(r)]
        )  # fmt: skip
    return out


TIMING_HEADER = [
    "proxy", "endpoint", "{x}", "direct p50", "proxied p50", "added p50 (IQR of rounds)",
    "direct p99", "proxied p99", "added p99", "proxy CPU ms/req", "errors d/p",
]  # fmt: skip


def _sections(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if results.get("latency"):
        lines += ["", "## Added latency: small non-streaming requests, sequential (ms)", ""]
        header = [h.format(x="answer tokens") for h in TIMING_HEADER]
        lines += _table(header, _timing_rows(results["latency"]))
    if results.get("ttft"):
        lines += ["", "## Added time to first token: streaming, first token paced (ms)", ""]
        header = [h.format(x="history messages") for h in TIMING_HEADER]
        lines += _table(header, _timing_rows(results["ttft"]))
    if results.get("throughput"):
        lines += ["", "## Throughput and added p99, upstream answering at once", ""]
        rows = [
            [r["proxy"], _f(r["x"]), _f(r["rps"]["direct"], 0), f"**{_f(r['rps']['proxied'], 0)}**",
             _f(r["rps"]["ratio"]), _f(r["p99_ms"]["direct"]), _f(r["p99_ms"]["proxied"]),
             f"**{_f(r['p99_ms']['added'])}**", f"{100 * r['proxy_cpu_util']:.0f}%",
             _f(r["proxy_cpu_ms_per_request"]), _f(r["proxy_requests_per_cpu_s"], 0),
             f"{100 * r['load_cpu_util']:.0f}%", r["loadgen"], _errors(r)]
            for r in results["throughput"]
        ]  # fmt: skip
        header = ["proxy", "concurrency", "direct req/s", "proxied req/s", "ratio", "direct p99 ms",
                  "proxied p99 ms", "added p99 ms", "proxy CPU", "proxy CPU ms/req", "req per proxy CPU-s",
                  "load gen CPU", "load gen",
                  "errors d/p"]  # fmt: skip
        lines += _table(header, rows)
    if results.get("stream"):
        lines += ["", "## Stream relay rate (unpaced upstream) and CPU per relayed event", ""]
        rows = [
            [r["proxy"], r["endpoint"], _f(r["x"]), _f(r["events_per_s"]["direct"], 0),
             f"**{_f(r['events_per_s']['proxied'], 0)}**", _f(r["events_per_s"]["ratio"]),
             _f(r["proxy_cpu_us_per_event"]), f"**{_f(r['proxy_events_per_cpu_s'], 0)}**",
             f"{100 * r['proxy_cpu_util']:.0f}%", f"{100 * r['load_cpu_util']:.0f}%", _errors(r)]
            for r in results["stream"]
        ]  # fmt: skip
        header = ["proxy", "endpoint", "deltas", "direct events/s", "proxied events/s", "ratio",
                  "proxy CPU µs/event", "events per proxy CPU-s", "proxy CPU", "load gen CPU (max)", "errors d/p"]  # fmt: skip
        lines += _table(header, rows)
    lines += _paced(results)
    if results.get("memory"):
        lines += ["", "## Gateway memory with concurrent slow streams (20 deltas, paced)", ""]
        rows = [
            [_f(r["x"]), _f(r["idle_rss_mb"], 1), f"**{_f(r['peak_rss_sampled_mb'], 1)}**", _f(r["vm_hwm_mb"], 1),
             _f(r["added_mb"], 1), _f(r["wall_s"]["direct"], 1), _f(r["wall_s"]["proxied"], 1),
             _f(r.get("proxy_cpu_us_per_delta")), _errors(r)]
            for r in results["memory"]
        ]  # fmt: skip
        header = ["streams", "RSS before MB", "peak RSS (sampled) MB", "VmHWM MB", "added MB", "direct s",
                  "through ccgw s", "proxy CPU µs/delta", "errors d/p"]  # fmt: skip
        lines += _table(header, rows)
    if results.get("size"):
        fit = size_fit(results["size"])
        lines += ["", "## Request size (image data URL in the user message), non-streaming chat", ""]
        lines += _table([h.format(x="request bytes") for h in TIMING_HEADER], _timing_rows(results["size"]))
        cpu = size_fit(results["size"], cpu=True)
        lines += ["", f"Linear fit of added p50 against size: **{_f(fit['slope'])} ms per MB** "
                  f"+ {_f(fit['intercept'])} ms, R² = {_f(fit['r2'], 4)}; of the gateway's CPU per request: "
                  f"**{_f(cpu['slope'])} ms per MB** + {_f(cpu['intercept'])} ms, R² = {_f(cpu['r2'], 4)}."]  # fmt: skip
    return lines


def _paced(results: dict[str, Any]) -> list[str]:
    rows = results.get("paced")
    if not rows:
        return []
    lines = ["", f"## Paced streams: one event per read, as real tokens arrive ({rows[0]['deltas']} deltas)", ""]
    table = [
        [r["proxy"], r["endpoint"], _f(r["x"], 0), f"**{_f(r['proxy_cpu_us_per_event'])}**",
         _f(r["proxy_events_per_cpu_s"], 0), _errors(r)]
        for r in rows
    ]  # fmt: skip
    header = ["proxy", "endpoint", "ms between events", "proxy CPU µs per delta (request included)",
              "deltas per proxy CPU-s", "errors d/p"]  # fmt: skip
    return [*lines, *_table(header, table)]


def _peer(results: dict[str, Any]) -> list[str]:
    peer = results["meta"]["peer"]
    if peer.get("running"):
        return ["", f"**Peer:** LiteLLM {peer['version']} (`litellm[proxy]`), {peer['settings']}."]
    return ["", f"**Peer:** LiteLLM was not measured: {peer.get('reason', 'unknown reason')}."]


def _profiles(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, prof in (results.get("profiles") or {}).items():
        lines += ["", f"### Profile: {name} ({prof['workload']}, {prof.get('samples', 0)} samples)", ""]
        if prof.get("error"):
            lines.append(f"py-spy: {prof['error']}")
        svg = f"Flame graph: [{prof['svg']}]({prof['svg']}); " if prof.get("svg") else ""
        lines.append(
            f"{svg}folded stacks: `{prof['folded']}` beside it after a run (git-ignored: large; speedscope opens them). "
            "Shares are of the samples in which a gateway thread held the GIL."
        )
        if prof.get("failed_requests"):
            lines.append(
                f"**{prof['failed_requests']} requests failed while this profile was recorded**: it shows the "
                "gateway's error path rather than the workload."
            )
        if prof.get("gc_pct") is not None:
            lines.append(
                f"CPython's cyclic garbage collector: {prof['gc_pct']:.1f}% of the busy samples of a `--native` profile "
                "(approximate: unwinding native stacks slows the gateway several-fold while it records)."
            )
        rows = [[f"`{s['function']}`", _f(s["pct"], 1)] for s in prof.get("self", [])[:12]]
        lines += ["", *_table(["function (self)", "% samples"], rows)]
        rows = [[f"`{s['function']}`", _f(s["pct"], 1)] for s in prof.get("inclusive", [])[:15]]
        lines += ["", *_table(["function (inclusive)", "% samples"], rows)]
        rows = [[s["package"], _f(s["pct"], 1)] for s in prof.get("packages", [])[:10]]
        lines += ["", *_table(["package (self)", "% samples"], rows)]
    return ["", "## Profiles of the gateway (py-spy)", *lines] if lines else []


def _earlier(meta: dict[str, Any]) -> list[str]:
    earlier = meta.get("earlier_run")
    if not earlier:
        return []
    return [
        f"This file merges two runs: {', '.join(earlier['workloads'])} come from `{earlier['command']}` started "
        f"{earlier['started']} (ccgw {earlier.get('ccgw_version') or 'version not recorded'}; load average "
        f"{earlier['loadavg_start']}, core shares {_shares(earlier['core_share_start'])}); the rest from the run above.",
        "",
    ]


def _foreign(meta: dict[str, Any]) -> str:
    cores = {**((meta.get("earlier_run") or {}).get("foreign_cores") or {}), **(meta.get("foreign_cores") or {})}
    return ", ".join(f"{v:.2f} ({k})" for k, v in cores.items()) or "–"


def _speed(meta: dict[str, Any]) -> list[str]:
    if "core_speed_start" not in meta:  # results written before the yardstick existed
        return []
    ms = " / ".join(f"{v:.0f}" for _, v in sorted(meta["core_speed_start"].items()))
    end = " / ".join(f"{v:.0f}" for _, v in sorted(meta["core_speed_end"].items()))
    return [
        f"Machine speed: a fixed pure-Python loop (two million additions) took {ms} ms of CPU on core 0 / 1 at the "
        f"start and {end} ms at the end; every CPU-time and "
        "latency figure scales with it, so compare runs by it."
    ]


def _shares(shares: dict[str, float]) -> str:
    return " / ".join(f"{100 * v:.0f}%" for _, v in sorted(shares.items()))


def markdown(results: dict[str, Any], plots: list[str]) -> str:
    meta = results["meta"]
    lines = [
        "# ccgw benchmark results",
        "",
        f"`{meta['command']}` — {meta['mode']} run, {meta['started']}, {meta['duration_s']:.0f} s.",
        "",
        f"ccgw: {meta['ccgw_version']}; Python {meta['python']}. Machine: {meta['machine']}. {meta['pinning']}",
        f"Load average {meta['loadavg_start']} at the start, {meta['loadavg_end']} at the end; a CPU-bound process "
        f"pinned to core 0 / 1 got {_shares(meta['core_share_start'])} of it at the start and "
        f"{_shares(meta['core_share_end'])} at the end. **Other processes on this shared machine** (other sessions' "
        f"test suites) used, on average, {_foreign(meta)} of its 2 cores during each workload: wall-clock figures were "
        "measured alongside that load. CPU-time figures (proxy CPU per request or per event) are not diluted by "
        "waiting, but do grow when the other hyperthread or the caches are busy.",
        *_speed(meta),
        "",
        *_earlier(meta),
        "Every figure pairs the same work sent directly to the fake upstream and through the proxy, in",
        "alternating (ABAB) rounds, ccgw's endpoints and LiteLLM taking their turns within each round; a figure is",
        "the median over rounds of the per-round value (p50, p99, req/s, events/s), and *added* is the median of",
        "the per-round differences.",
        "",
        "## Targets",
        "",
    ]
    rows = [
        [t["target"], t["goal"], f"{_f(t['value'])} {t['unit']}", t["where"],
         {"pass": "✅ pass", "miss": "❌ miss"}.get(t["verdict"], t["verdict"])]
        for t in results["targets"]
    ]  # fmt: skip
    lines += _table(["target", "goal", "measured", "where", "verdict"], rows)
    lines += _peer(results)
    lines += _sections(results)
    lines += _profiles(results)
    if meta.get("failures"):
        lines += ["", "## What failed", "", *[f"- {f}" for f in meta["failures"]]]
    lines += ["", "## Plots", "", *[f"![{p}]({p})" for p in plots], ""]
    return "\n".join(lines)
