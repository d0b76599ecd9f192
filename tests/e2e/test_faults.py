"""Fault injection against the fake Command Code server: what the client sees, and that usage stays exact.

Each case asserts the client-visible status or frame and the request's own ledger entry
(`GET /v1/usage/{request_id}`), so a failure is never booked as a success and nothing is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.harness import (
    LOCAL_KEY,
    PROVIDER_KEY,
    UPSTREAM_KEY,
    FakeControl,
    Process,
    free_port,
    start_gateway,
    write_config,
)

pytestmark = pytest.mark.e2e

BACKUP_KEY = "user_e2e_backup_0123456789abcdefghij"
HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}


def _tight(tmp_path_factory: pytest.TempPathFactory, fake: Process, upstream_key: str) -> Iterator[Process]:
    workdir = tmp_path_factory.mktemp("tight")
    config = write_config(
        workdir,
        fake.url,
        upstream_key=upstream_key,
        timeouts={"connect": 2, "first_event": 1.5, "idle": 1.5, "keepalive": 0.4},
        retries={"attempts": 1},
    )
    process = start_gateway(workdir, config)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, fake: Process) -> Iterator[Process]:
    """Short timeouts and keep-alives, so hangs and silences show within seconds."""
    yield from _tight(tmp_path_factory, fake, UPSTREAM_KEY)


@pytest.fixture(scope="module", params=["cli", "provider"])
def tight_paths(
    request: pytest.FixtureRequest, tight: Process, tmp_path_factory: pytest.TempPathFactory, fake: Process
) -> Iterator[Process]:
    """`tight` on either upstream path: the Provider API's streams get the same timeouts and keep-alives."""
    if request.param == "cli":
        yield tight
    else:
        yield from _tight(tmp_path_factory, fake, PROVIDER_KEY)


def chat(
    gateway: Process, text: str, *, stream: bool = False, timeout: float = 30, model: str = "deepseek-v4-pro"
) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    return httpx.post(gateway.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=timeout)


def ledger(gateway: Process, response: httpx.Response) -> dict[str, Any]:
    """The request's ledger entry (recorded as its upstream stream closes, a moment after the client's)."""
    url = gateway.url + "/v1/usage/" + response.headers["x-request-id"]
    deadline = time.monotonic() + 3
    while True:
        found = httpx.get(url, headers=HEADERS)
        if found.status_code == 200 or time.monotonic() > deadline:
            entry: dict[str, Any] = found.json()
            return entry
        time.sleep(0.05)


def sse(text: str) -> list[Any]:
    return [
        json.loads(line[6:]) if line[6:] != "[DONE]" else "[DONE]"
        for line in text.splitlines()
        if line.startswith("data: ")
    ]


def test_connection_refused_is_502_and_recorded(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = start_gateway(tmp_path, write_config(tmp_path, dead, retries={"backoff": 0.05}))
    try:
        started = time.monotonic()
        response = chat(gateway, "hi")
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unreachable"
        assert time.monotonic() - started < 10  # bounded retries
        entry = ledger(gateway, response)
        assert entry["status"] == "upstream_unreachable"
        assert entry["output_tokens"] == 0
    finally:
        gateway.stop()


def test_hang_before_headers_is_504(tight_paths: Process) -> None:
    started = time.monotonic()
    response = chat(tight_paths, "fake:hang_headers(delay=30)")
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout"
    assert time.monotonic() - started < 8
    assert ledger(tight_paths, response)["status"] == "upstream_timeout"


def test_hang_mid_stream_is_one_error_frame_after_keepalives(tight_paths: Process) -> None:
    response = chat(tight_paths, "fake:stall(delay=30)", stream=True)
    assert response.status_code == 200
    assert ": keep-alive" in response.text  # the silence was bridged until the idle timeout
    frames = sse(response.text)
    assert frames[-1]["error"]["code"] == "upstream_idle_timeout"
    assert "[DONE]" not in frames
    assert ledger(tight_paths, response)["status"] == "upstream_idle_timeout"


def test_keepalives_while_silent_openai_and_anthropic(tight: Process) -> None:
    slow = chat(tight, "fake:slow(deltas=3,delay=1.0)", stream=True)
    assert slow.text.count(": keep-alive") >= 2
    frames = sse(slow.text)
    assert frames[-1] == "[DONE]"
    assert ledger(tight, slow)["status"] == "ok"
    body = {
        "model": "deepseek-v4-pro",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "fake:slow(deltas=3,delay=1.0)"}],
    }
    anthropic = httpx.post(tight.url + "/v1/messages", headers={"x-api-key": LOCAL_KEY}, json=body, timeout=30)
    assert anthropic.text.count("event: ping") >= 2
    assert anthropic.text.rstrip().endswith('data: {"type":"message_stop"}')


@pytest.mark.parametrize(
    ("scenario", "status", "code"),
    [
        ("truncated", "upstream_truncated", "upstream_truncated"),
        ("network_error_finish", "upstream_error", "upstream_error"),
        ("inband_error(status=503)", "upstream_error", "upstream_error"),
    ],
)
def test_broken_streams_are_failures_with_exact_usage(gateway: Process, scenario: str, status: str, code: str) -> None:
    response = chat(
        gateway,
        f"fake:{scenario}(delay=0.1)" if "(" not in scenario else f"fake:{scenario[:-1]},delay=0.1)",
        stream=True,
    )
    frames = sse(response.text)
    assert frames[-1]["error"]["code"] == code
    assert not any(f != "[DONE]" and f.get("choices") and f["choices"][0]["finish_reason"] for f in frames)
    entry = ledger(gateway, response)
    assert entry["status"] == status
    if scenario == "network_error_finish":
        assert entry["output_tokens"] > 0  # what the upstream reported is counted, even for a failure


def test_429_with_reset_and_fail_fast(isolated: Process, control: FakeControl) -> None:
    response = chat(isolated, "fake:http_429_no_header(retry_after=300,window=minute)")
    assert response.status_code == 429
    assert 290 <= int(response.headers["retry-after"]) <= 301  # from rateLimit.reset alone
    calls = control.stats()["generate_calls"]
    again = chat(isolated, "hello")
    assert again.status_code == 429
    assert control.stats()["generate_calls"] == calls
    # "usage limit for your plan" is a plan window to the CLI even when `window` names none it knows.
    assert ledger(isolated, again)["status"] == "plan_window_exhausted"


def test_failover_to_the_second_account_over_the_network(tmp_path: Path, fake: Process, control: FakeControl) -> None:
    config = write_config(
        tmp_path,
        fake.url,
        commandcode={
            "base_url": fake.url,
            "accounts": [{"name": "main", "api_key": UPSTREAM_KEY}, {"name": "backup", "api_key": BACKUP_KEY}],
        },
    )
    gateway = start_gateway(tmp_path, config)
    control.state(revoked_keys=[UPSTREAM_KEY])
    try:
        answers = [chat(gateway, f"question {i}") for i in range(6)]
        assert [r.status_code for r in answers] == [200] * 6
        keys = {r["headers"].get("authorization") for r in control.requests()[-6:]}
        assert keys == {f"Bearer {BACKUP_KEY}"}  # after the refusal, main is not asked again
        detail = httpx.get(gateway.url + "/health?detail=1", headers=HEADERS).json()
        states = {a["name"]: a["state"] for a in detail["accounts"]}
        assert states == {"main": "cooling_down", "backup": "healthy"}
        assert detail["status"] == "degraded"
    finally:
        control.state(revoked_keys=[])
        gateway.stop()
