"""The peer: LiteLLM's proxy from PyPI, in its own venv (`bench/.venv-litellm`), in front of
`bench.openai_fake`.

Configured for speed as LiteLLM's own benchmark and production pages advise: no database (so no
spend or error logs), no logging callbacks, no retries, `LITELLM_LOG=ERROR`,
`LITELLM_MODE=PRODUCTION`, one worker (`--num_workers 1`, as ccgw runs one), and httptools installed
so uvicorn parses HTTP the way ccgw's does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Final

import yaml

from bench import procs

BENCH: Final = Path(__file__).resolve().parent
VENV: Final = BENCH / ".venv-litellm"
REQUIREMENTS: Final = BENCH / "requirements-litellm.txt"
MASTER_KEY: Final = "sk-bench-master"
SETTINGS: Final = (
    "one worker, no database, no callbacks, no retries, LITELLM_LOG=ERROR, LITELLM_MODE=PRODUCTION, httptools + uvloop"
)


def executable() -> Path:
    return VENV / "bin" / "litellm"


def install() -> str | None:
    """Create the venv and install LiteLLM if missing; the reason it failed, or None."""
    if executable().exists():
        return None
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"`{' '.join(step[:3])} …` failed: {' / '.join(tail)}"
    return None if executable().exists() else "pip finished but installed no `litellm` command"


def version() -> str:
    done = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def write_config(workdir: Path, upstream_url: str) -> Path:
    config = {
        "model_list": [
            {
                "model_name": "bench-model",
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": upstream_url + "/v1",
                    "api_key": "sk-bench-upstream",
                },
            }
        ],
        "litellm_settings": {
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
            "num_retries": 0,
            "request_timeout": 600,
            "set_verbose": False,
        },
        "general_settings": {
            "master_key": MASTER_KEY,
            "disable_spend_logs": True,
            "disable_error_logs": True,
        },
    }
    path = workdir / "litellm-config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def spawn(workdir: Path, upstream_url: str, cores: str | None) -> procs.Server:
    """Start the proxy (see :meth:`procs.Server.wait_ready`)."""
    if not executable().exists():
        raise RuntimeError("LiteLLM is not installed in bench/.venv-litellm")
    config = write_config(workdir, upstream_url)
    port = procs.free_port()
    argv = [str(executable()), "--config", str(config), "--num_workers", "1"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    env: dict[str, str | None] = {
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",
        "DATABASE_URL": None,
        "LITELLM_TELEMETRY": "False",
    }
    return procs.spawn(
        "litellm", argv, port=port, workdir=workdir, ready_path="/health/liveliness", cores=cores, env=env, timeout=180
    )
