"""PNG plots of a run: one figure per workload, log axes where the range spans decades."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.report import size_fit

COLORS = {
    "ccgw chat": "tab:blue",
    "ccgw messages": "tab:orange",
    "ccgw responses": "tab:green",
    "litellm chat": "tab:red",
}
DIRECT = {"ccgw": ("direct to fake Command Code", "dimgray"), "litellm": ("direct to OpenAI fake", "lightcoral")}
SHORT = {"/v1/chat/completions": "chat", "/v1/messages": "messages", "/v1/responses": "responses"}


def _series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(f"{row['proxy']} {SHORT.get(row['endpoint'], row['endpoint'])}", []).append(row)
    return {k: sorted(v, key=lambda r: r["x"]) for k, v in out.items()}


def _plot(
    ax: Axes, rows: list[dict[str, Any]], value: Callable[[dict[str, Any]], float], label: str, **kw: Any
) -> None:
    """One series; on a log axis, points that are not positive (no data) are left out."""
    points = [(r["x"], value(r)) for r in rows]
    if ax.get_yscale() == "log":
        points = [(x, y) for x, y in points if y is not None and y > 0]
    kw.setdefault("color", COLORS.get(label))
    ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label, **kw)


def _pick(key: str, side: str) -> Callable[[dict[str, Any]], float]:
    return lambda row: float(row[key][side])


def _target(ax: Axes, y: float, text: str) -> None:
    ax.axhline(y, color="crimson", linestyle="--", linewidth=1)
    ax.annotate(text, (0.01, y), xycoords=("axes fraction", "data"), color="crimson", fontsize=8, va="bottom")


def _finish(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _added(rows: list[dict[str, Any]], xlabel: str, title: str, targets: dict[str, float]) -> Figure:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, q in ((axes[0], "p50_ms", "p50"), (axes[1], "p99_ms", "p99")):
        for name, series in _series(rows).items():
            _plot(ax, series, _pick(key, "added"), name)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("symlog", linthresh=1)
        if q in targets:
            _target(ax, targets[q], f"target ≤ {targets[q]:g} ms")
        _finish(ax, f"{title}: added {q}", xlabel, f"added {q} latency (ms, proxied − direct)")
    return fig


def _log_log_pair() -> tuple[Figure, tuple[Axes, Axes]]:
    """Two side-by-side plots, both axes logarithmic."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
    return fig, (left, right)


def _throughput(rows: list[dict[str, Any]]) -> Figure:
    fig, (left, right) = _log_log_pair()
    for name, series in _series(rows).items():
        upstream, shade = DIRECT[name.split()[0]]
        for ax, key in ((left, "rps"), (right, "p99_ms")):
            _plot(ax, series, _pick(key, "direct"), upstream, linestyle=":", color=shade)
            _plot(ax, series, _pick(key, "proxied"), name)
    _target(left, 1000, "target ≥ 1,000 req/s")
    _finish(left, "Throughput, small non-streaming chat", "concurrent connections", "requests / s")
    _finish(right, "p99 latency under load", "concurrent connections", "p99 latency (ms)")
    return fig


def _stream(rows: list[dict[str, Any]]) -> Figure:
    fig, (left, right) = _log_log_pair()
    direct_drawn: set[str] = set()
    for name, series in _series(rows).items():
        proxy = name.split()[0]
        if proxy not in direct_drawn:
            upstream, shade = DIRECT[proxy]
            _plot(left, series, lambda r: r["events_per_s"]["direct"], upstream, linestyle=":", color=shade)
            direct_drawn.add(proxy)
        _plot(left, series, lambda r: r["events_per_s"]["proxied"], name)
        _plot(right, series, lambda r: r["proxy_cpu_us_per_event"], name)
    _finish(left, "Stream relay rate (wall clock, end to end)", "deltas per stream", "delta events / s")
    _target(right, 20, "target: 20 µs = 50,000 events/s per core")
    _finish(right, "Proxy CPU per relayed delta", "deltas per stream", "proxy CPU µs per delta")
    return fig


def _paced(rows: list[dict[str, Any]]) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.set_xscale("log")
    ax.set_yscale("log")
    for name, series in _series(rows).items():
        _plot(ax, series, lambda r: r["proxy_cpu_us_per_event"], name)
    _target(ax, 20, "20 µs = 50,000 deltas/s per core")
    deltas = rows[0]["deltas"]
    _finish(ax, f"Paced streams ({deltas} deltas): proxy CPU per delta", "ms between events", "proxy CPU µs per delta")
    return fig


def _memory(rows: list[dict[str, Any]]) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = sorted(rows, key=lambda r: r["x"])
    _plot(ax, rows, lambda r: r["peak_rss_sampled_mb"], "ccgw peak RSS (sampled every 20 ms)", color="tab:blue")
    _plot(ax, rows, lambda r: r["idle_rss_mb"], "ccgw RSS before the streams", linestyle=":", color="dimgray")
    ax.set_xscale("log")
    ax.set_ylim(0, max(330.0, 1.15 * max(r["peak_rss_sampled_mb"] for r in rows)))
    _target(ax, 300, "target < 300 MB")
    _finish(ax, "Gateway memory with concurrent slow streams", "concurrent streams", "resident memory (MB)")
    return fig


def _size(rows: list[dict[str, Any]]) -> Figure:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.set_xscale("log")
    left.set_yscale("log")
    right.set_xscale("log")
    rows = sorted(rows, key=lambda r: r["x"])
    fit = size_fit(rows)
    xs = [r["x"] for r in rows]
    _plot(left, rows, lambda r: r["p50_ms"]["added"], "added p50 (measured)", color="tab:blue")
    _plot(left, rows, lambda r: r["p50_ms"]["direct"], "direct p50", linestyle=":", color="dimgray")
    _plot(left, rows, lambda r: r["proxy_cpu_ms_per_request"], "gateway CPU per request", color="tab:purple")
    left.plot(xs, [fit["slope"] * x / 1e6 + fit["intercept"] for x in xs], color="gray", linestyle="--",
              label=f"linear fit: {fit['slope']:.1f} ms/MB + {fit['intercept']:.2f} ms (R²={fit['r2']:.3f})")  # fmt: skip
    _finish(left, "Cost against request size (chat, image data URL)", "request size (bytes)", "latency or CPU (ms)")
    base = rows[0]
    _plot(
        right,
        rows[1:],
        lambda r: (r["p50_ms"]["added"] - base["p50_ms"]["added"]) / ((r["x"] - base["x"]) / 1e6),
        f"(added p50 − added p50 at {base['x']:,} B) per MB",
        color="tab:blue",
    )
    right.axhline(0, color="black", linewidth=0.5)
    _finish(right, "Marginal added latency per MB (flat = linear growth)", "request size (bytes)", "added ms per MB")
    return fig


def render(results: dict[str, Any], outdir: Path) -> list[str]:
    """Write every plot this run has data for; their file names."""
    figures: dict[str, Callable[[], Figure]] = {}
    if results.get("latency"):
        figures["latency.png"] = lambda: _added(
            results["latency"], "answer tokens", "Non-streaming", {"p50": 1, "p99": 3}
        )
    if results.get("ttft"):
        figures["ttft.png"] = lambda: _added(
            results["ttft"], "earlier messages in the request", "Time to first token", {"p50": 1}
        )
    if results.get("throughput"):
        figures["throughput.png"] = lambda: _throughput(results["throughput"])
    if results.get("stream"):
        figures["stream.png"] = lambda: _stream(results["stream"])
    if results.get("paced"):
        figures["paced.png"] = lambda: _paced(results["paced"])
    if results.get("memory"):
        figures["memory.png"] = lambda: _memory(results["memory"])
    if results.get("size"):
        figures["size.png"] = lambda: _size(results["size"])
    for name, make in figures.items():
        fig = make()
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
    return list(figures)
