"""Sampling profiles of the gateway with py-spy, under the throughput and the stream-relay workloads.

Each workload is recorded twice: as an SVG flame graph to look at, and as folded stacks (`raw`,
which speedscope also opens) that :func:`hot_spots` ranks by self and inclusive samples.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.config import Plan
from bench.load import Runner
from bench.loadgen import Connection, for_duration
from bench.procs import pinned
from bench.stack import CORES, HOST, Stack
from bench.workloads import make_pair

log = logging.getLogger("bench")
WAITS = ("epoll_wait", "epoll_pwait", "pthread_cond_wait", "pthread_cond_timedwait", "_queue_SimpleQueue_get")
PACED_MARKER = "fake:slow(deltas=400,delay=0.005)"
PACED_STREAMS = 8
FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _frame(frame: str) -> tuple[str, str]:
    """`func (path:line)` → (`func (path)`, package), lines merged."""
    match = FRAME_RE.match(frame)
    if match is None:
        return frame, frame
    path = match["file"]
    package = path.split("/", 1)[0] if "/" in path else path.rsplit(".", 1)[0]
    return f"{match['func']} ({path})", package


def _samples(folded: Path) -> Iterator[tuple[list[str], int]]:
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def hot_spots(folded: Path, top: int = 15) -> dict[str, Any]:
    """Rank functions by self and inclusive share of samples (the frames every sample shares left
    out), and packages by self share."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for stack, count in _samples(folded):
        total += count
        frames = [_frame(f) for f in stack]
        leaf, package = frames[-1]
        own[leaf] += count
        packages[package] += count
        for name in {name for name, _ in frames}:
            inclusive[name] += count
    roots = {name for name, count in inclusive.items() if count >= 0.97 * total}

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        ranked = [(k, v) for k, v in counter.most_common() if k not in roots][:top]
        return [{"function": k, "pct": round(100 * v / total, 1)} for k, v in ranked] if total else []

    return {
        "samples": total,
        "self": share(own),
        "inclusive": share(inclusive),
        "packages": [{"package": d["function"], "pct": d["pct"]} for d in share(packages)],
    }


def gc_share(native_folded: Path) -> float | None:
    """Share of the busy samples of a `--native` profile spent in CPython's cyclic garbage collector.

    Native stacks show waits as work, so samples that wait (`WAITS`) are left out of the total.
    """
    total = collecting = 0
    for stack, count in _samples(native_folded):
        if any(frame.startswith(WAITS) for frame in stack):
            continue
        total += count
        if any(frame.startswith("gc_collect") for frame in stack):
            collecting += count
    return round(100 * collecting / total, 1) if total else None


async def _record(
    pid: int, seconds: float, out: Path, fmt: str, workload: Callable[[float], Awaitable[int]], *, native: bool = False
) -> tuple[str | None, int]:
    """Run `workload` for `seconds` while py-spy samples `pid`: (py-spy's error or None, failed requests).

    Python stacks are taken from the thread holding the GIL only (`--gil`), so idle threads (the
    executor's workers waiting for work) stay out. `--native` stacks cannot be filtered that way and
    serve only to measure the garbage collector's share; unwinding them stalls the gateway, so they
    are recorded last.
    """
    binary = py_spy()
    if binary is None:
        return "py-spy is not installed (pip install -r bench/requirements.txt)", 0
    argv = [binary, "record", "--pid", str(pid), "--duration", f"{max(1, round(seconds))}", "--rate", "250"]
    argv += ["--format", fmt, "-o", str(out)] + (["--native"] if native else ["--gil"])
    spy = await asyncio.create_subprocess_exec(
        *pinned(argv, CORES["load"]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    await asyncio.sleep(0.5)
    failed = await workload(seconds + 0.5)
    output, _ = await spy.communicate()
    if spy.returncode == 0 and await asyncio.to_thread(out.exists):
        return None, failed
    error = (output.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    log.warning("py-spy %s%s failed: %s", fmt, " --native" if native else "", error)
    return error, failed


async def profiles(stack: Stack, plan: Plan, outdir: Path) -> dict[str, Any]:
    """Profile the throughput and the stream-relay workloads (Python stacks, then an SVG of each); last,
    with `plan.profile_extras`, a `--native` profile of the stream relay for the collector's share."""
    assert stack.gateway is not None
    small = make_pair(stack, "ccgw", "chat", f"fake:text(deltas={plan.small_deltas})", plan.small_deltas, False)
    runner = Runner(small, stack.workdir)
    deltas = max(plan.stream_deltas)
    long = make_pair(stack, "ccgw", "chat", f"fake:text(deltas={deltas})", deltas, True)

    async def saturate(seconds: float) -> int:
        return int((await runner.run("proxied", 100, seconds))["errors"])

    paced = make_pair(stack, "ccgw", "chat", PACED_MARKER, 400, True)

    async def relay(seconds: float) -> int:
        conn = Connection(HOST, long.proxied_port)
        try:
            return sum(not r.ok for r in await for_duration(conn, long.proxied, seconds))
        finally:
            conn.close()

    async def paced_relay(seconds: float) -> int:
        conns = [Connection(HOST, paced.proxied_port) for _ in range(PACED_STREAMS)]
        try:
            runs = await asyncio.gather(*(for_duration(c, paced.proxied, seconds) for c in conns))
            return sum(not r.ok for run in runs for r in run)
        finally:
            for conn in conns:
                conn.close()

    workloads = {
        "throughput": (saturate, "wrk -c100, small non-streaming chat requests"),
        "stream": (relay, f"back-to-back chat streams of {deltas:,} deltas"),
        "paced": (paced_relay, f"{PACED_STREAMS} concurrent chat streams, one delta per read every 5 ms"),
    }
    pid, seconds = stack.gateway.pid, plan.profile_seconds
    found: dict[str, Any] = {}
    for name, (workload, what) in workloads.items():
        svg, folded = outdir / f"profile-{name}.svg", outdir / f"profile-{name}.folded.txt"
        runs = [await _record(pid, seconds, folded, "raw", workload)]
        entry: dict[str, Any] = {"workload": what, "folded": folded.name}
        if plan.profile_extras:
            runs.append(await _record(pid, seconds, svg, "flamegraph", workload))
            entry["svg"] = svg.name
        entry.update(_outcome(runs))
        if folded.exists():
            entry.update(hot_spots(folded))
        found[name] = entry
        log.info("profile %s: %s samples, %d failed requests", name, entry.get("samples", 0), entry["failed_requests"])
    if plan.profile_extras:
        native = stack.workdir / "profile-stream.native.folded.txt"
        outcome = _outcome([await _record(pid, seconds, native, "raw", relay, native=True)])
        if native.exists() and not outcome["failed_requests"]:
            found["stream"]["gc_pct"] = gc_share(native)
    return found


def _outcome(runs: list[tuple[str | None, int]]) -> dict[str, Any]:
    errors = [e for e, _ in runs if e]
    return {"failed_requests": sum(f for _, f in runs), **({"error": errors[0]} if errors else {})}
