"""The gateway's cost per request and per relayed token, for iterating on speed.

    python -m bench.cost [--cases chat,messages,...] [-n COUNT] [--rounds R] [--against DIR]
                         [--callgrind] [--profile DIR] [--storage-url URL]

Starts the fake upstream and the gateway (pinned like the main run), sends each case's request
sequentially over one keep-alive connection, and prints the gateway's CPU time per request (from
`/proc`) and the median latency. `--against DIR` starts a second gateway from another checkout (say
`git archive main | tar -x -C DIR`) and alternates rounds between the two, so a change in the
machine's load hits both alike; the difference is printed per case. With `--callgrind` each
gateway runs under valgrind and the instructions it executes per request are counted, only while
the measured requests run: deterministic to within a fraction of a percent, so two versions of the
code can be compared on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import profiles
from bench.loadgen import Connection, Request
from bench.procs import Server, cpu_seconds, pinned
from bench.stack import CORES, HOST, Stack

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Case:
    protocol: str
    marker: str
    deltas: int
    stream: bool
    per: str = "request"  # what one unit is: a request, or a relayed delta


PACED = "fake:slow(deltas=50,delay=0.02)"
CASES = {
    "chat": Case("chat", "fake:text(deltas=10)", 10, False),
    "messages": Case("messages", "fake:text(deltas=10)", 10, False),
    "responses": Case("responses", "fake:text(deltas=10)", 10, False),
    "chat-stream": Case("chat", "fake:text(deltas=10)", 10, True),
    "messages-stream": Case("messages", "fake:text(deltas=10)", 10, True),
    "responses-stream": Case("responses", "fake:text(deltas=10)", 10, True),
    "long-stream": Case("chat", "fake:text(deltas=1000)", 1000, True, per="delta"),
    "paced": Case("chat", PACED, 50, True, per="delta"),
    "paced-messages": Case("messages", PACED, 50, True, per="delta"),
    "paced-responses": Case("responses", PACED, 50, True, per="delta"),
}


@dataclass
class Side:
    name: str
    server: Server
    dumps: Path | None  # callgrind's output folder
    cpu: list[float]  # per unit, per round
    instructions: list[float]
    p50: list[float]  # ms per request, per round


def _callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def _instructions(out_dir: Path, pid: int) -> int:
    """The Ir total of the newest dump of `pid`."""
    dumps = sorted(out_dir.glob(f"callgrind.out.{pid}.*"), key=lambda p: p.stat().st_mtime)
    text = dumps[-1].read_text(errors="replace")
    found = [int(n) for n in re.findall(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)]
    assert found, f"no totals in {dumps[-1]}"
    return max(found)  # callgrind writes the count in one of the two, and 0 in the other


def _py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    spy = profiles.py_spy()
    assert spy, "py-spy is not installed (bench/requirements.txt)"
    argv = [spy, "record", "-p", str(pid), "-r", "500", "--gil", "--format", "raw", "-o", str(out), "--nonblocking"]
    return subprocess.Popen(pinned(argv, CORES["load"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _round(side: Side, request: Request, count: int, units: int, profile: Path | None) -> int:
    """`count` requests to one side; the failures."""
    pid = side.server.pid
    conn = Connection(HOST, side.server.port)
    await conn.send(request)  # the connection, and anything lazy
    if side.dumps is not None:
        await asyncio.to_thread(_callgrind, pid, "--zero")
        await asyncio.to_thread(_callgrind, pid, "--instr=on")
    spy = _py_spy(pid, profile) if profile is not None else None
    if spy is not None:
        await asyncio.sleep(1.0)  # py-spy attaches
    cpu = cpu_seconds(pid)
    results = [await conn.send(request) for _ in range(count)]
    side.cpu.append((cpu_seconds(pid) - cpu) / (count * units))
    side.p50.append(statistics.median(r.latency for r in results) * 1000)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.to_thread(spy.wait, 60)
    if side.dumps is not None:
        await asyncio.to_thread(_callgrind, pid, "--instr=off")
        await asyncio.to_thread(_callgrind, pid, "--dump")
        side.instructions.append(_instructions(side.dumps, pid) / (count * units))
    conn.close()
    return sum(not r.ok for r in results)


async def measure(stack: Stack, sides: list[Side], name: str, count: int, rounds: int, profile: Path | None) -> None:
    case = CASES[name]
    pair = stack.ccgw_pair(case.protocol, case.marker, case.deltas, stream=case.stream)
    units = case.deltas if case.per == "delta" else 1
    failed = 0
    for side in sides:
        side.cpu, side.instructions, side.p50 = [], [], []
        warm = Connection(HOST, side.server.port)
        for _ in range(min(count, 50)):
            await warm.send(_retarget(pair.proxied, stack, side))
        warm.close()
    for index in range(rounds):
        for side in sides if index % 2 == 0 else sides[::-1]:
            request = _retarget(pair.proxied, stack, side)
            out = profile / f"{name}-{side.name}-{index}.folded.txt" if profile is not None else None
            failed += await _round(side, request, count, units, out)
    for side in sides:
        line = f"{name:17} {side.name:8} {count:5}×{rounds} cpu {statistics.median(side.cpu) * 1e6:8.1f} µs/{case.per}"
        line += f"  p50 {statistics.median(side.p50):6.3f} ms"
        if side.instructions:
            line += f"  {statistics.median(side.instructions) / 1000:8.1f} k instr/{case.per}"
        print(line, flush=True)
    if len(sides) == 2:
        a, b = sides
        diffs = [(x - y) * 1e6 for x, y in zip(a.cpu, b.cpu, strict=True)]
        line = f"{name:17} {'Δ':8} cpu {statistics.median(diffs):+8.1f} µs/{case.per}"
        line += f"  p50 {statistics.median(x - y for x, y in zip(a.p50, b.p50, strict=True)):+6.3f} ms"
        if a.instructions:
            ratio = statistics.median(a.instructions) / statistics.median(b.instructions)
            line += f"  instructions × {ratio:.3f}"
        print(line, flush=True)
    if failed:
        print(f"{name}: {failed} FAILED", flush=True)


def _retarget(request: Request, stack: Stack, side: Side) -> Request:
    """The same request, for the other gateway (only the Host header differs)."""
    assert stack.gateway is not None
    if side.server.port == stack.gateway.port:
        return request
    raw = request.raw.replace(
        f"Host: {HOST}:{stack.gateway.port}".encode(), f"Host: {HOST}:{side.server.port}".encode()
    )
    return Request(raw, request.marker, request.expect)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="chat,messages,responses,chat-stream,paced", help=", ".join(CASES))
    parser.add_argument(
        "-n", "--count", type=int, default=0, help="requests per round (default 500, 20 with --callgrind)"
    )
    parser.add_argument("--rounds", type=int, default=0, help="rounds per side (default 4, 1 with --callgrind)")
    parser.add_argument("--against", type=Path, help="a second checkout whose gateway is measured side by side")
    parser.add_argument("--callgrind", action="store_true", help="count instructions with valgrind's callgrind")
    parser.add_argument("--storage-url", default="", help="the gateways' storage.url (default: SQLite)")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles (folded stacks) of each round here")
    parser.add_argument("--keep", type=Path, help="keep the callgrind dumps in this folder")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace, stack: Stack, sides: list[Side]) -> None:
    count = args.count or (20 if args.callgrind else 500)
    rounds = args.rounds or (1 if args.callgrind else 4)
    for name in args.cases.split(","):
        paced = CASES[name].per == "delta"  # a paced stream lasts a second: fewer of them
        await measure(stack, sides, name, max(2, count // 50) if paced else count, rounds, args.profile)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the servers on a plain kill too
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="ccgw-cost-") as tmp:
        workdir = Path(tmp)
        dumps = (args.keep or workdir) if args.callgrind else None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
        prefix: list[str] = []
        if dumps is not None:
            dumps.mkdir(parents=True, exist_ok=True)
            assert shutil.which("valgrind") and shutil.which("callgrind_control"), "valgrind is not installed"
            prefix = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={dumps}/callgrind.out.%p",
            ]
        stack = Stack(workdir, with_peer=False, storage_url=args.storage_url, gateway_prefix=prefix)
        try:
            stack.start()
            assert stack.gateway is not None
            sides = [Side("this", stack.gateway, dumps, [], [], [])]
            if args.against is not None:
                other = stack.spawn_gateway(args.against.resolve(), "against")
                sides.append(Side("against", other, dumps, [], [], []))
            asyncio.run(_run(args, stack, sides))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
