"""Run the real Command Code CLI once against the fake, inside a network namespace of its own.

Started by :mod:`tests.oracle.harness` as ``unshare -n python -m tests.oracle.launch RUN.json``, so the
only network this process and its children have is a loopback that it brings up itself: the CLI can
reach the fake it starts here and nothing else (its update check and telemetry fail harmlessly).

``RUN.json`` says what to do; the result (the CLI's exit code and output, and every request the fake
saw) is written to ``RUN.json``'s ``out`` path as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from tests.fakecc import FakeState, create_fake_app

CLI_KEY = "user_oracle_0123456789abcdefghijklmnopqrstuvwxyz"


def bring_up_loopback() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_fake(state: FakeState, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        create_fake_app(state), host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake did not start")
        time.sleep(0.02)
    return server, thread


def run_cli(run: dict[str, Any], url: str) -> dict[str, Any]:
    home = Path(run["home"])
    env = {
        "PATH": f"{Path(run['node']).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "COMMANDCODE_SANDBOX": "true",
        "COMMANDCODE_API_URL": url,
        "COMMAND_CODE_API_KEY": CLI_KEY,
        "NO_COLOR": "1",
        "CI": "1",
        **run.get("env", {}),
    }
    args = [run["node"], run["cli"], "-p", run["prompt"], "--skip-onboarding", "--trust", "--output-format", "json"]
    args += ["--max-turns", str(run.get("max_turns", 3)), *run.get("args", [])]
    process = subprocess.Popen(
        args,
        cwd=run["cwd"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a timeout kills everything it started
    )
    try:
        stdout, stderr = process.communicate(timeout=run.get("timeout", 60))
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything it left behind
    return {"exit_code": process.returncode, "stdout": stdout, "stderr": stderr, "timed_out": timed_out}


def main(path: str) -> None:
    run = json.loads(Path(path).read_text())
    bring_up_loopback()
    state = FakeState(**run.get("state", {}))
    state.script.extend(run.get("script", []))
    port = free_port()
    server, thread = serve_fake(state, port)
    try:
        result = run_cli(run, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
    result["requests"] = [r.to_json() for r in state.requests]
    result["queued_left"] = len(state.script)
    Path(run["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # no interpreter teardown: nothing is left to clean up, and it cannot crash the run
