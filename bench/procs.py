"""The processes under test: start them pinned to a core, wait until they serve, read their /proc counters."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(argv: list[str], cores: str | None) -> list[str]:
    """`argv` under `taskset -c cores` when both a core list and taskset exist."""
    if cores is None or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", cores, *argv]


@dataclass
class Server:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path
    cores: str | None
    ready_path: str
    timeout: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self) -> Server:
        """Wait until GET `ready_path` answers below 500; raise if the process exits or takes too long."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.output()[-3000:]}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready in {self.timeout:.0f} s:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def spawn(
    name: str,
    argv: list[str],
    *,
    port: int,
    workdir: Path,
    ready_path: str,
    cores: str | None,
    env: dict[str, str | None] | None = None,
    timeout: float = 90,
    cwd: Path | None = None,
) -> Server:
    """Start `argv` pinned to `cores`, without waiting (see :meth:`Server.wait_ready`).

    `env` adds variables to this process's environment; a None value removes one.
    """
    log = workdir / f"{name}.log"
    environ = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    popen = subprocess.Popen(
        pinned(argv, cores),
        cwd=cwd or ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=environ,
    )
    return Server(name, popen, port, log, cores, ready_path, timeout)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_kb(pid: int) -> int:
    """Current resident set size; reads statm, which is cheaper than status for frequent sampling."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux `clear_refs` value 5); False when not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def system_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every core, every process), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def self_cpu_seconds() -> float:
    """CPU time of this process and its reaped children (wrk, py-spy)."""
    usage = os.times()
    return usage.user + usage.system + usage.children_user + usage.children_system
