"""The floor under the paced-stream figures: what one relayed event costs a process that does nothing else.

    python -m bench.wakeup [--events N] [--gaps 1,5,20]

When tokens arrive one per read, every token wakes the relaying process from idle. This measures, on
this machine and pinned like the main run (the relay alone on core 1, the rest on core 0), the CPU
per event of:

* `sleep`: an asyncio (uvloop) loop that only wakes up every gap, with nothing to read or write;
* `relay`: a bare uvloop `Protocol` pair that forwards each read from an upstream socket to a client
  socket unchanged (no HTTP, no parsing): the least any proxy can do per streamed token;

each at the same gaps as the main run's paced workload, with 100-event streams back to back. Prints
a table; CPU comes from `/proc/PID/stat` (10 ms ticks, so runs are long enough to make them many).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import cpu_seconds, free_port, pinned
from bench.stack import CORES, HOST

ROOT = Path(__file__).resolve().parent.parent
STREAM = 100  # events per stream, as the paced workload's
LINE = b'{"type":"text-delta","id":"0","text":"tok"}\n'


async def _upstream(port: int, gap: float) -> None:
    """Each connection: read one byte (the request), then STREAM lines, one per gap, then close."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        for _ in range(STREAM):
            await asyncio.sleep(gap)
            writer.write(LINE)
        writer.close()

    server = await asyncio.start_server(serve, HOST, port)
    async with server:
        await server.serve_forever()


class _Pipe(asyncio.Protocol):
    """Forwards what it reads to `peer` as it arrives."""

    def __init__(self) -> None:
        self.peer: asyncio.Transport | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and not self.peer.is_closing():
            self.peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()


async def _relay(port: int, upstream: int) -> None:
    loop = asyncio.get_running_loop()

    class Front(_Pipe):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.opening = loop.create_task(self.open())  # held: a task nobody holds may be collected

        async def open(self) -> None:
            _, back = await loop.create_connection(_Pipe, HOST, upstream)
            back.peer, self.peer = self.transport, back.transport
            assert back.transport is not None
            back.transport.write(b"x")

    server = await loop.create_server(Front, HOST, port)
    async with server:
        await server.serve_forever()


def _child(role: str, *args: str) -> None:
    import uvloop

    if role == "upstream":
        uvloop.run(_upstream(int(args[0]), float(args[1])))
    else:
        uvloop.run(_relay(int(args[0]), int(args[1])))


def _spawn(core: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(pinned([sys.executable, "-m", "bench.wakeup", "--child", *args], core), cwd=ROOT)


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def measure_relay(gap: float, events: int) -> float:
    upstream_port, relay_port = free_port(), free_port()
    upstream = _spawn(CORES["upstream"], "upstream", str(upstream_port), str(gap))
    relay = _spawn(CORES["proxy"], "relay", str(relay_port), str(upstream_port))
    try:
        _wait_port(upstream_port)
        _wait_port(relay_port)
        before = cpu_seconds(relay.pid)
        streams = max(1, events // STREAM)
        for _ in range(streams):
            with socket.create_connection((HOST, relay_port)) as client:
                received = 0
                while received < STREAM * len(LINE):
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    received += len(chunk)
        return (cpu_seconds(relay.pid) - before) / (streams * STREAM)
    finally:
        for process in (relay, upstream):
            process.terminate()
            process.wait()


def _sleep_cost(gap: float, events: int) -> float:
    """CPU per wake-up of a loop that only sleeps: the whole run's CPU less an empty run's."""

    def total(n: int) -> float:
        code = (
            "import asyncio, os, uvloop\n"
            f"async def main():\n    for _ in range({n}):\n        await asyncio.sleep({gap})\n"
            "uvloop.run(main())\n"
            "t = os.times()\nprint(t.user + t.system)"
        )
        out = subprocess.run(pinned([sys.executable, "-c", code], CORES["proxy"]), capture_output=True, check=True)
        return float(out.stdout.decode().strip())

    return (total(events) - total(0)) / events


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--child":
        _child(*args[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.wakeup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per point (default 2000)")
    parser.add_argument("--gaps", default="1,5,20", help="milliseconds between events")
    options = parser.parse_args(args)
    print("| gap | loop that only sleeps: CPU per wake-up | bare relay: CPU per event |")
    print("|---|---|---|")
    for gap_ms in (float(g) for g in options.gaps.split(",")):
        gap = gap_ms / 1000
        events = min(options.events, int(20 / gap))  # at most about 20 s per point
        sleep = _sleep_cost(gap, events)
        relay = measure_relay(gap, events)
        print(f"| {gap_ms:g} ms | {sleep * 1e6:.0f} µs | {relay * 1e6:.0f} µs |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
