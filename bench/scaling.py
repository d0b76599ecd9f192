"""Throughput against the number of worker processes: `uvicorn app:app --workers N`, N = 1 … the cores.

    python -m bench.scaling [--seconds S] [--rounds R] [--concurrency C] [--out DIR]

The main run measures one worker pinned to its own core. This starts the fake upstream and, for each
N, a gateway with N workers that may use every core, then drives small chat requests through it with
`wrk` (C connections, closed loop) for R rounds of S seconds after a warm-up. Nothing is pinned: on a
machine as small as the gateway's cores, the fake upstream and `wrk` compete with the workers, so the
line also shows what a machine that does nothing else but serve would not. Writes `scaling.json` and
`scaling.md` to DIR (default `bench/results`): requests per second, p50/p99, errors, and requests per
gateway CPU-second (every worker's CPU, from `/proc`), which stays flat when the workers scale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import Server, cpu_seconds, free_port, spawn
from bench.run import ensure_wrk, machine
from bench.stack import HOST, Stack

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _tree_cpu(pid: int) -> float:
    """CPU seconds of the uvicorn supervisor and its live workers."""
    total = 0.0
    for each in (pid, *_children(pid)):
        with contextlib.suppress(OSError):
            total += cpu_seconds(each)
    return total


def _gateway(stack: Stack, workers: int) -> Server:
    assert stack.gateway is not None
    config = stack.workdir / "ccgw-config.yaml"  # the one the stack's own gateway was started with
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--host", HOST, "--port", str(port)]
    argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return spawn(
        f"ccgw-{workers}w", argv, port=port, workdir=stack.workdir, ready_path="/health", cores=None,
        env={"CCGW_CONFIG": str(config)},
    ).wait_ready()  # fmt: skip


def measure(stack: Stack, workers: int, *, seconds: float, rounds: int, concurrency: int) -> dict[str, Any]:
    pair = stack.ccgw_pair("chat", "text", 10, stream=False)
    server = _gateway(stack, workers)
    try:
        target = wrk.prepare(
            stack.workdir, f"scale-{workers}", f"{server.url}/v1/chat/completions", pair.proxied_body,
            pair.proxied_headers,
        )  # fmt: skip
        wrk.run(target, concurrency, 1, None)  # warm-up: every worker has connections and a warm cache
        runs = []
        for _ in range(rounds):
            cpu0 = _tree_cpu(server.pid)
            result = wrk.run(target, concurrency, seconds, None)
            result["gateway_cpu_s"] = _tree_cpu(server.pid) - cpu0
            runs.append(result)
    finally:
        server.stop()
    requests = sum(r["requests"] for r in runs)
    return {
        "workers": workers,
        "rps": statistics.median(r["rps"] for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "requests": requests,
        "requests_per_gateway_cpu_s": requests / max(1e-9, sum(r["gateway_cpu_s"] for r in runs)),
        "load_cpu_util": statistics.median(r["load_cpu_util"] for r in runs),
    }


def report(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    one = rows[0]["rps"] if rows else 0.0
    lines = [
        "# Throughput against worker processes",
        "",
        f"{meta['machine']}; `wrk` with {meta['concurrency']} connections, "
        f"{meta['rounds']} rounds of {meta['seconds']:g} s per point (median); nothing pinned: the fake upstream "
        "and `wrk` share the cores with the workers.",
        "",
        "| workers | req/s | × one worker | p50 ms | p99 ms | errors | req per gateway CPU-second |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['rps']:,.0f} | {r['rps'] / one:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['errors']} | {r['requests_per_gateway_cpu_s']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    missing = ensure_wrk()
    if missing is not None:
        log.error("%s", missing.split(";")[0])
        return 1
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="ccgw-scaling-") as tmp:
        stack = Stack(Path(tmp), with_peer=False)
        try:
            stack.start()
            rows = []
            for workers in range(1, cores + 1):
                row = measure(stack, workers, seconds=args.seconds, rounds=args.rounds, concurrency=args.concurrency)
                log.info("%d worker(s): %.0f req/s, %d errors", workers, row["rps"], row["errors"])
                rows.append(row)
        finally:
            stack.stop()
    meta = {"machine": machine(), "cores": cores, "concurrency": args.concurrency}
    meta |= {"rounds": args.rounds, "seconds": args.seconds}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (args.out / "scaling.md").write_text(report(rows, meta))
    print(report(rows, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
