"""Run every workload against the fake upstreams on this machine and write bench/results/.

.venv/bin/pip install -r bench/requirements.txt && .venv/bin/python -m bench [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvloop

from bench import load, peer_litellm, plots, profiles, report, targets, workloads
from bench.config import FULL, QUICK, Plan
from bench.procs import ROOT, cpu_seconds, self_cpu_seconds, system_busy_seconds
from bench.stack import CORES, Stack

log = logging.getLogger("bench")
WORKLOADS = ("latency", "ttft", "stream", "paced", "size", "throughput", "memory", "profiles")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="ccgw against the direct upstream and LiteLLM")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (under two minutes)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--no-peer", action="store_true", help="skip LiteLLM")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite results.md and the plots from results.json, run nothing"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="results folder")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keep ccgw's usage in a PostgreSQL server this run starts (Debian's postgresql), not in SQLite",
    )
    return parser.parse_args(argv)


def ensure_wrk() -> str | None:
    """Install Debian's wrk when missing (as root); the reason it is unavailable, or None."""
    if shutil.which("wrk"):
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(step, capture_output=True, timeout=600, check=False)
    return None if shutil.which("wrk") else "wrk is not installed and could not be; the asyncio load generator is used"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines() if "model name" in ln), "?")
    mem = next((ln.split()[1] for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal")), "0")
    return f"{os.cpu_count()} cores ({model}), {int(mem) / 1048576:.0f} GiB, Linux {platform.release()}"


def core_share(seconds: float = 1.0) -> dict[str, float]:
    """The share of each core a CPU-bound process gets right now: 1.0 on an idle machine."""
    before = os.sched_getaffinity(0)
    shares = {}
    try:
        for core in sorted(before | {int(c) for c in CORES.values()}):
            os.sched_setaffinity(0, {core})
            wall0, cpu0 = time.perf_counter(), time.process_time()
            while time.perf_counter() - wall0 < seconds:
                pass
            shares[str(core)] = round((time.process_time() - cpu0) / (time.perf_counter() - wall0), 2)
    finally:
        os.sched_setaffinity(0, before)
    return shares


def core_speed(additions: int = 2_000_000) -> dict[str, float]:
    """CPU milliseconds a fixed pure-Python loop takes on each core: the machine's speed right now.

    A shared machine's cores can be several times slower at one hour than at another (busy
    hyperthread siblings, the host's own load), and every CPU-time figure scales with it; this is
    the yardstick for comparing runs.
    """
    before = os.sched_getaffinity(0)
    speeds = {}
    try:
        for core in sorted(before | {int(c) for c in CORES.values()}):
            os.sched_setaffinity(0, {core})
            cpu0, total = time.process_time(), 0
            for i in range(additions):
                total += i
            speeds[str(core)] = round(1000 * (time.process_time() - cpu0), 1)
    finally:
        os.sched_setaffinity(0, before)
    return speeds


def _postgres() -> Any:
    """A PostgreSQL server for the run, started the way the tests start theirs."""
    from tests.postgres import start_postgres

    return start_postgres()


def loadavg() -> str:
    return " ".join(_read("/proc/loadavg").split()[:3])


def code_version() -> str:
    """The commit, and a digest of the gateway's source as run (the work tree may differ from it)."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(path.read_bytes())
    return f"commit {done.stdout.strip() or '?'}, src/ sha256 {digest.hexdigest()[:12]}"


def prepare(args: argparse.Namespace, failures: list[str]) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    os.sched_setaffinity(0, {int(CORES["load"])})
    if (reason := ensure_wrk()) is not None:
        failures.append(reason)
    peer: dict[str, Any] = {"running": False}
    if args.no_peer:
        peer["reason"] = "skipped (--no-peer)"
    elif (reason := peer_litellm.install()) is not None:
        peer["reason"] = f"installing LiteLLM failed: {reason}"
        failures.append(peer["reason"])
    return peer


async def run(args: argparse.Namespace) -> int:
    plan: Plan = QUICK if args.quick else FULL
    main_task = asyncio.current_task()
    assert main_task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the servers are stopped in `finally`
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)
    chosen = set(args.only.split(",")) if args.only else set(WORKLOADS)
    failures: list[str] = []
    started, wall0 = time.strftime("%Y-%m-%d %H:%M:%S %Z"), time.monotonic()
    load_start, share_start, speed_start = loadavg(), core_share(), core_speed()
    peer = prepare(args, failures)
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = args.out / "raw" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    database = _postgres() if args.postgres else None
    stack = Stack(workdir, with_peer="reason" not in peer, storage_url=database.new_database() if database else "")
    results, earlier = _previous(args.out / "results.json", plan, chosen)
    foreign: dict[str, float] = {}
    try:
        stack.start()
        if stack.peer_error:
            peer["reason"] = f"LiteLLM did not start: {stack.peer_error}"
            failures.append(peer["reason"])
        elif stack.litellm is not None:
            peer.update(running=True, version=peer_litellm.version(), settings=peer_litellm.SETTINGS)
        steps: dict[str, Callable[[], Awaitable[Any]]] = {
            "latency": lambda: workloads.latency(stack, plan),
            "ttft": lambda: workloads.ttft(stack, plan),
            "stream": lambda: workloads.stream_rate(stack, plan),
            "paced": lambda: workloads.paced_stream(stack, plan),
            "size": lambda: workloads.request_size(stack, plan),
            "throughput": lambda: load.throughput(stack, plan),
            "memory": lambda: _fresh(stack, lambda: load.memory(stack, plan)),
            "profiles": lambda: profiles.profiles(stack, plan, args.out),
        }
        for name in WORKLOADS:
            if name not in chosen:
                continue
            log.info("== %s", name)
            before = _load_mark(stack)
            try:
                results[name] = await steps[name]()
            except Exception as exc:  # one broken workload must not lose the others' results
                log.exception("workload %s failed", name)
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
            foreign[name] = _foreign_cores(before, _load_mark(stack))
            log.info("   other processes on the machine used %.2f cores on average", foreign[name])
    finally:
        stack.stop()
        if database is not None:
            database.stop()
    results["meta"] = {
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "mode": plan.name,
        "storage": "PostgreSQL (local server, --postgres)" if args.postgres else "SQLite (usage.db)",
        "started": started,
        "duration_s": time.monotonic() - wall0,
        "machine": machine(),
        "pinning": (
            f"`taskset`: the proxy under test (ccgw or LiteLLM) alone on core {CORES['proxy']}; the fake upstreams, "
            f"the load generator (this process, asyncio + uvloop + httptools) and wrk on core {CORES['load']}."
        ),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "core_share_start": share_start,
        "core_share_end": core_share(),
        "core_speed_start": speed_start,
        "core_speed_end": core_speed(),
        "foreign_cores": foreign,
        "ccgw_version": code_version(),
        "python": platform.python_version(),
        "wrk": shutil.which("wrk") is not None,
        "peer": peer,
        "failures": failures,
    }
    if earlier is not None:
        results["meta"]["earlier_run"] = earlier
        if not peer.get("running") and earlier["peer"].get("running"):
            results["meta"]["peer"] = earlier["peer"]
    results["targets"] = targets.evaluate(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    write_report(results, args.out)
    log.info("wrote %s and %s (%.0f s)", args.out / "results.md", args.out / "results.json", time.monotonic() - wall0)
    for target in results["targets"]:
        log.info("%-45s %-18s %s", target["target"], f"{target['value']} {target['unit']}", target["verdict"])
    return 1 if failures and not any(k in results for k in WORKLOADS) else 0


Mark = tuple[float, float, float, dict[int, float]]


def _load_mark(stack: Stack) -> Mark:
    """(wall, machine busy CPU, this process's CPU, each server's CPU) now: two marks give the CPU that
    other processes used between them."""
    return time.monotonic(), system_busy_seconds(), self_cpu_seconds(), {p: cpu_seconds(p) for p in stack.pids()}


def _foreign_cores(before: Mark, after: Mark) -> float:
    """Cores' worth of CPU used by processes not of this run (a server started in between counts whole)."""
    wall = after[0] - before[0]
    ours = after[2] - before[2] + sum(cpu - before[3].get(pid, 0.0) for pid, cpu in after[3].items())
    return max(0.0, (after[1] - before[1] - ours) / wall) if wall > 0 else 0.0


def _previous(path: Path, plan: Plan, chosen: set[str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """With `--only`, the other workloads' results of the last run of the same plan are kept."""
    fresh: dict[str, Any] = {"plan": asdict(plan)}
    if chosen >= set(WORKLOADS) or not path.exists():
        return fresh, None
    previous = json.loads(path.read_text())
    if previous.get("plan", {}).get("name") != plan.name:
        return fresh, None
    kept = {k: v for k, v in previous.items() if k in WORKLOADS and k not in chosen}
    if not kept:
        return fresh, None
    meta = previous["meta"]
    keys = ("command", "started", "loadavg_start", "core_share_start", "peer", "ccgw_version")
    earlier = {k: meta.get(k) for k in keys}
    earlier["foreign_cores"] = {k: v for k, v in (meta.get("foreign_cores") or {}).items() if k in kept}
    return {**fresh, **kept}, {**earlier, "workloads": sorted(kept)}


async def _fresh(stack: Stack, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run `work` on a freshly started gateway, so its memory reflects only that work."""
    stack.restart_gateway()
    return await work()


def write_report(results: dict[str, Any], out: Path) -> None:
    names = plots.render(results, out)
    (out / "results.md").write_text(report.markdown(results, names))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report_only:
        write_report(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    try:
        return uvloop.run(run(args))
    except asyncio.CancelledError:
        log.warning("interrupted; every server was stopped")
        return 130
