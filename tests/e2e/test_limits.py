"""Safe by default, over real sockets and real processes: server limits, hang-ups in every phase,
quiet aborts, start-up checks, and SDKs that do not retry what cannot succeed (issue 11)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import yaml
from tests.e2e.harness import (
    LOCAL_KEY,
    ROOT,
    FakeControl,
    Process,
    free_port,
    start_gateway,
    write_config,
)

pytestmark = pytest.mark.e2e

HEADERS = {"Authorization": f"Bearer {LOCAL_KEY}"}
LIMITS = {"max_connections": 40, "max_header_bytes": 8192, "header_timeout": 0.5, "keepalive_timeout": 1}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, fake: Process) -> Iterator[Process]:
    workdir = tmp_path_factory.mktemp("limited")
    process = start_gateway(workdir, write_config(workdir, fake.url, server=LIMITS, timeouts={"keepalive": 0.3}))
    yield process
    process.stop()


def _connect(gateway: Process) -> socket.socket:
    host, port = gateway.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closes `sock` within `seconds`, and what it sent first."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
        return True, received
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


# --- 5. Server limits ------------------------------------------------------------------------------


def test_server_oversized_head_is_431_and_closed_while_health_stays_fast(limited: Process) -> None:
    sock = _connect(limited)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
    for _ in range(64):  # far past the cap; the server must stop reading long before the end
        try:
            sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            break
        assert httpx.get(limited.url + "/health", timeout=5).status_code == 200
    closed, answer = _closed_within(sock, 2)
    assert closed
    assert answer.startswith(b"HTTP/1.1 431")
    assert b'"code":"headers_too_large"' in answer


def test_server_trickled_head_and_idle_connection_are_closed(limited: Process) -> None:
    idle = _connect(limited)
    trickle = _connect(limited)
    started = time.monotonic()
    trickle.sendall(b"GET /health HTTP/1.1\r\n")
    for _ in range(3):
        time.sleep(0.1)
        trickle.sendall(b"X-A: b\r\n")
    assert _closed_within(trickle, 3)[0]
    assert _closed_within(idle, 3)[0]
    assert time.monotonic() - started < 2  # header_timeout 0.5 s, not forever


def test_server_connection_cap_answers_503_and_closes(limited: Process) -> None:
    held = [_connect(limited) for _ in range(LIMITS["max_connections"])]
    try:
        extra = _connect(limited)
        closed, answer = _closed_within(extra, 2)
        assert closed
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"too_many_connections" in answer
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(limited.url + "/health", timeout=5).status_code == 200


def test_server_limits_leave_long_streams_alone(limited: Process) -> None:
    body = {
        "model": "deepseek-v4-pro",
        "stream": True,
        "messages": [{"role": "user", "content": "fake:slow(deltas=12,delay=0.25)"}],
    }
    started = time.monotonic()
    with httpx.stream("POST", limited.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=30) as r:
        text = r.read().decode()
    assert time.monotonic() - started > 2.5  # longer than header_timeout and keepalive_timeout together
    assert "tok11" in text and "[DONE]" in text


# --- 13. Hang-ups before the upstream said anything ---------------------------------------------------


def _seconds_until_upstream_closed(gateway: Process, control: FakeControl, stream: bool) -> float:
    before = control.stats()["disconnects"]
    body = {
        "model": "deepseek-v4-pro",
        "stream": stream,
        "messages": [{"role": "user", "content": "fake:hang_headers(delay=3)"}],
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.url + "/v1/chat/completions", headers=HEADERS, json=body, timeout=0.5)
    hung_up = time.monotonic()
    while control.stats()["disconnects"] == before:
        assert time.monotonic() - hung_up < 5
        time.sleep(0.005)
    return time.monotonic() - hung_up


@pytest.mark.parametrize("stream", [False, True])
def test_hangup_while_upstream_silent_closes_upstream_at_once(
    gateway: Process, control: FakeControl, stream: bool
) -> None:
    waited = _seconds_until_upstream_closed(gateway, control, stream)
    print(f"upstream closed {waited * 1000:.0f} ms after the client hung up (stream={stream})")
    assert waited < 0.3  # the fake would only speak after 3 s; 100 ms plus the polling's own time


# --- 14. A client aborting an upload -----------------------------------------------------------------


def test_aborted_upload_is_one_quiet_line_not_tracebacks(gateway: Process) -> None:
    sock = _connect(gateway)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + LOCAL_KEY.encode() + b'\r\nContent-Length: 100000\r\n\r\n{"model": '
    )
    time.sleep(0.2)
    sock.close()
    time.sleep(0.5)
    log = gateway.output()
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log


# --- 12. SDKs do not retry a gateway without an upstream key ---------------------------------------


def test_no_upstream_key_sdks_give_up_at_once(tmp_path: Path, fake: Process) -> None:
    config = write_config(tmp_path, fake.url)
    data = yaml.safe_load(config.read_text())
    data["commandcode"]["api_key"] = ""
    config.write_text(yaml.safe_dump(data))
    env = {"COMMANDCODE_API_KEY": "", "COMMAND_CODE_API_KEY": "", "HOME": str(tmp_path)}
    gateway = start_gateway(tmp_path, config, env=env)
    try:
        with openai.OpenAI(base_url=gateway.url + "/v1", api_key=LOCAL_KEY) as sdk:  # default: 2 retries
            started = time.monotonic()
            with pytest.raises(openai.InternalServerError) as raised:
                sdk.chat.completions.create(model="deepseek-v4-pro", messages=[{"role": "user", "content": "hi"}])
            assert time.monotonic() - started < 0.4
            assert raised.value.status_code == 503
        with anthropic.Anthropic(base_url=gateway.url, api_key=LOCAL_KEY) as claude:
            started = time.monotonic()
            with pytest.raises(anthropic.InternalServerError) as refused:
                claude.messages.create(
                    model="deepseek-v4-pro", max_tokens=8, messages=[{"role": "user", "content": "x"}]
                )
            assert time.monotonic() - started < 0.4
            assert refused.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    finally:
        gateway.stop()


# --- 11. Start-up -------------------------------------------------------------------------------------


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_startup_taken_port_is_one_line_and_exit_2(tmp_path: Path, fake: Process) -> None:
    config = write_config(tmp_path, fake.url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(
            str(ROOT / "app.py"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path
        )
    assert result.returncode == 2
    assert result.stderr.strip() == f"ccgw: port {port} is already in use; pass --port"
    assert "listening" not in result.stdout + result.stderr


@pytest.mark.parametrize(("flag", "value", "key"), [("--port", "99999", "port")])
def test_startup_command_line_overrides_validated_like_the_config(
    tmp_path: Path, fake: Process, flag: str, value: str, key: str
) -> None:
    config = write_config(tmp_path, fake.url)
    result = _run(str(ROOT / "app.py"), "--config", str(config), flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"ccgw: command line: {key}:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_startup_missing_config_path_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    missing = tmp_path / "confg.yaml"
    result = _run(str(ROOT / "app.py"), "--config", str(missing), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert "no such file" in result.stderr and "--init" in result.stderr
    assert not missing.exists()


def test_startup_uvicorn_with_bad_config_stops_with_the_same_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("prot: 1\n")
    result = _run(
        "-m", "uvicorn", "app:app", "--app-dir", str(ROOT), "--port", str(free_port()),
        cwd=tmp_path, env={"CCGW_CONFIG": str(tmp_path / "config.yaml")},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"ccgw: {tmp_path / 'config.yaml'}: unknown key 'prot'"


def test_config_environment_variables_expanded_or_refused(tmp_path: Path, fake: Process) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('api_key: "${CCGW_TEST_LOCAL_KEY}"\nport: 11434\n')
    assert "CCGW_TEST_LOCAL_KEY" not in os.environ
    result = _run(str(ROOT / "app.py"), "--config", str(config), "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ccgw: {config}: api_key: environment variable CCGW_TEST_LOCAL_KEY is not set "
        "(write ${CCGW_TEST_LOCAL_KEY:-} to allow empty)"
    )
    written = write_config(tmp_path, fake.url)
    data = yaml.safe_load(written.read_text())
    data["api_key"] = "${CCGW_TEST_LOCAL_KEY}"
    written.write_text(yaml.safe_dump(data))
    gateway = start_gateway(tmp_path, written, env={"CCGW_TEST_LOCAL_KEY": "ccgw-from-the-environment-123"})
    try:
        models = httpx.get(
            gateway.url + "/v1/models", headers={"Authorization": "Bearer ccgw-from-the-environment-123"}
        )
        assert models.status_code == 200
        literal = httpx.get(gateway.url + "/v1/models", headers={"Authorization": "Bearer ${CCGW_TEST_LOCAL_KEY}"})
        assert literal.status_code == 401
    finally:
        gateway.stop()
