"""Usage stays exact when the gateway runs as several worker processes (`uvicorn --workers 2`) on one SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.harness import LOCAL_KEY, ROOT, Process, free_port, ledger, write_config

pytestmark = pytest.mark.e2e


def test_two_workers_count_every_request_once(tmp_path: Path, fake: Process) -> None:
    config = write_config(tmp_path, fake.url, usage_flush_interval=0.2)
    port = free_port()
    log = (tmp_path / "workers.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, "CCGW_CONFIG": str(config)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

        async def fire(count: int) -> list[int]:
            headers = {"Authorization": f"Bearer {LOCAL_KEY}"}
            body = {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                responses = await asyncio.gather(
                    *(client.post("/v1/chat/completions", json=body) for _ in range(count))
                )
            return [r.status_code for r in responses]

        statuses = asyncio.run(fire(200))
        assert statuses == [200] * 200
        assert httpx.get(url + "/usage").json()["total_requests"] == 200  # committed before each answer
    finally:
        server.terminate()
        server.wait(30)
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["total_requests"] == 200
    assert usage["failed_requests"] == 0
    assert usage["by_key"]["default"]["total_requests"] == 200
    rows = ledger(tmp_path)
    assert len(rows) == 200
    assert len({row["request_id"] for row in rows}) == 200
    assert "Started parent process" in (tmp_path / "workers.log").read_text()
