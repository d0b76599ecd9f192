"""The `/alpha/generate` request: body envelope and headers (upstream-protocol.md §1.4, §2, §11).

ccgw sends what the real CLI sends, minus what would describe the machine: no device fingerprint,
no telemetry, no invented machine data. The `config` block must have all nine keys or the upstream
answers 400; since a gateway has no working directory or repository, it says so plainly (no repo,
empty structure) rather than faking one. The CLI's own platform name is real and harmless. The
headers are the CLI's, with a neutral project slug and taste learning off (API traffic should not
train the user's taste profile).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import time
import uuid
from datetime import datetime
from typing import Any

PLACEHOLDER_SYSTEM = "You are a helpful assistant."
PROJECT_SLUG = "ccgw"  # the CLI sends a slug of its working directory; a gateway has none

_PLATFORM = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "linux")


def thread_id(seed: str | None = None) -> str:
    """A UUID v4 (the upstream checks version and variant bits).

    With a seed, the id is derived from it, so every turn of one conversation reuses the
    same thread, as the CLI does within a session.
    """
    if seed is None:
        return str(uuid.uuid4())
    digest = bytearray(hashlib.sha256(seed.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def build_envelope(params: dict[str, Any], *, thread: str, today: datetime | None = None) -> dict[str, Any]:
    """Wrap generation `params` (model, messages, tools, system, max_tokens, ...) for the upstream.

    A missing or blank system prompt is replaced, because the upstream would otherwise inject its
    own ~7.4k-token agent prompt and bill it (§2.2).
    """
    if _blank(params.get("system")):
        params = {**params, "system": [{"type": "text", "text": PLACEHOLDER_SYSTEM}]}
    day = today.strftime("%Y-%m-%d") if today is not None else _utc_day(int(time.time() // 86400))
    return {
        "config": {
            "workingDir": "/",
            "date": day,
            "environment": _PLATFORM,
            "structure": [],
            "isGitRepo": False,
            "currentBranch": "",
            "mainBranch": "",
            "gitStatus": "",
            "recentCommits": [],
        },
        "memory": None,
        "taste": None,
        "skills": None,
        "permissionMode": "standard",
        "threadId": thread,
        "params": {**params, "stream": True},
    }


@functools.lru_cache(maxsize=2)
def _utc_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def _blank(system: Any) -> bool:
    if isinstance(system, str):
        return not system.strip()
    if isinstance(system, list):
        return not any(isinstance(b, dict) and str(b.get("text") or "").strip() for b in system)
    return True


def traceparent() -> str:
    """A fresh W3C trace context, as the CLI sends one per request (random ids, sampled flag)."""
    ids = os.urandom(24).hex()  # what secrets.token_hex reads, in one call
    return f"00-{ids[:32]}-{ids[32:]}-01"


def build_headers(api_key: str, cli_version: str, thread: str, *, zdr: bool = False) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cli",
        "x-command-code-version": cli_version,
        "x-cli-environment": "production",
        "x-project-slug": PROJECT_SLUG,
        "x-taste-learning": "false",
        "x-session-id": thread,
        "Authorization": f"Bearer {api_key}",
        "traceparent": traceparent(),
        "Accept": "*/*",
        "Accept-Encoding": "identity",  # no compression: it would hold deltas back
    }
    if zdr:
        headers["x-cmd-zdr"] = "1"
    return headers
