"""Closed-loop load with `wrk` (C, one event loop per thread), pinned to the load generator's core.

A Lua script sets the request and prints wrk's own summary as one JSON line. The child's CPU time
comes from `wait4`, so the report can show that wrk was not the bottleneck.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import pinned

SCRIPT = """\
wrk.method = "POST"
local file = io.open("{body}", "rb")
wrk.body = file:read("*a")
file:close()
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Target:
    url: str
    script: Path


def prepare(workdir: Path, name: str, url: str, body: bytes, headers: dict[str, str]) -> Target:
    body_path = workdir / f"wrk-{name}.body"
    body_path.write_bytes(body)
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script = workdir / f"wrk-{name}.lua"
    script.write_text(SCRIPT.format(body=body_path, headers=lines))
    return Target(url, script)


def run(target: Target, concurrency: int, seconds: float, cores: str | None) -> dict[str, Any]:
    """One closed-loop run: requests/s, p50/p99 in ms, errors, and wrk's CPU use."""
    threads = 1 if concurrency < 100 else 2
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s"]
    argv += ["-s", str(target.script), target.url]
    started = time.perf_counter()
    popen = subprocess.Popen(pinned(argv, cores), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert popen.stdout is not None
    output = popen.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    duration = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / duration,
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "requests": data["requests"],
        "errors": errors,
        "load_cpu_util": (usage.ru_utime + usage.ru_stime) / wall,
        "seconds": duration,
    }
