"""Keys never leak: not into logs, error messages, response bodies or headers, `/usage`, nor upstream.

Checked in three layers:

- in process: the app (upstream mocked with respx) is driven through successes on every model
  endpoint, every upstream failure, wrong and malformed keys and bad requests, while every log
  record of every logger is captured at DEBUG; every response (headers and body) and every request
  the gateway sent upstream is searched for the keys;
- the command line: `keys add` and the first run print a new key once (the only legitimate place),
  `keys list`/`revoke` and config errors never do;
- real processes: a gateway at `log_level: debug` behind the fake Command Code server, and every
  gateway log file the end-to-end tests of this pytest session wrote (`leaks_in_logs` is meant for a
  session-finish hook too).

A leak is any 16-character piece of a key, so a truncated key counts too (a short display prefix,
like `keys list`'s 9 characters, does not).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from tests.conftest import CATALOG, LOCAL_KEY, UPSTREAM_KEY, chunked, make_settings, ndjson, text_answer
from tests.e2e import harness

from ccgw import cli
from ccgw.auth import RELOAD_CHECK_SECONDS
from ccgw.config import ConfigError, load_settings, parse_settings

WINDOW = 16
SECOND_KEY = "ccgw-second-client-key-5e6f7a8b9c0d"
BACKUP_UPSTREAM_KEY = "user_backup_account_key_0a1b2c3d4e5f6g7h"
UPSTREAM_KEYS = {"upstream key": UPSTREAM_KEY, "backup upstream key": BACKUP_UPSTREAM_KEY}
WRONG_KEYS = (
    "ccgw-wrong-key-0f1e2d3c4b5a69788796",
    LOCAL_KEY + "-suffix",  # a near miss: the real key with something appended
    "user_wrong_upstream_style_key_ZYXWVUTSRQ",  # an upstream-style key sent to the gateway
    "sk-ant-wrong-anthropic-style-key-abcdef0123",
)
E2E_SECRETS = {
    "e2e local key": harness.LOCAL_KEY,
    "e2e probe key": harness.PROBE_KEY,
    "e2e upstream key": harness.UPSTREAM_KEY,
    "e2e provider upstream key": harness.PROVIDER_KEY,
    "e2e backup upstream key": "user_e2e_backup_9876543210zyxwvutsrqponm",
}
SECRETS = {
    "local key": LOCAL_KEY,
    "second local key": SECOND_KEY,
    **UPSTREAM_KEYS,
    **{f"wrong key {i}": key for i, key in enumerate(WRONG_KEYS)},
}


def pieces(secret: str) -> set[str]:
    if len(secret) <= WINDOW:
        return {secret}
    return {secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1)}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets a piece of which occurs in `text`."""
    return [name for name, secret in secrets.items() if any(piece in text for piece in pieces(secret))]


def leaks_in_logs(root: Path, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Gateway log files under `root` (the e2e harness writes `gateway-<port>.log`) → leaked secret names."""
    found: dict[str, list[str]] = {}
    for path in sorted({*root.rglob("gateway-*.log"), *root.rglob("workers.log")}):
        names = leaks(path.read_text(errors="replace"), secrets)
        if names:
            found[str(path)] = names
    return found


# ---------------------------------------------------------------------------------------------------
# In process


CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
ENDPOINTS = (
    ("/v1/chat/completions", CHAT),
    ("/v1/messages", {**CHAT, "max_tokens": 64}),
    ("/v1/responses", {"model": "deepseek-v4-pro", "input": "hi"}),
)
USAGE = {"inputTokens": 10, "outputTokens": 2, "totalTokens": 12}
JSON = {"content-type": "application/json"}


def upstream_failures() -> list[Any]:
    """respx answers for /alpha/generate: every HTTP error status and body shape, and in-band failures."""
    answers: list[Any] = [
        httpx.Response(status, json={"error": {"message": f"upstream says {status}", "code": "SOMETHING"}})
        for status in (400, 401, 402, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529)
    ]
    answers += [
        httpx.Response(403, json={"error": {"message": "MODEL_NOT_IN_PLAN: nope", "code": "MODEL_NOT_IN_PLAN"}}),
        httpx.Response(403, json={"code": "upgrade_required", "message": "upgrade to GOAT"}),
        httpx.Response(400, json={"success": False, "error": "prompt is too long for the context window"}),
        httpx.Response(400, text="Invalid input: expected number, received undefined at max_tokens"),
        httpx.Response(401, text="<401> unauthorized"),
        httpx.Response(200, content=ndjson({"type": "start"}, {"type": "error", "error": {"message": "<429> slow"}})),
        httpx.Response(200, content=ndjson({"type": "start"}, {"type": "error", "error": "some string"})),
        httpx.Response(200, content=ndjson({"type": "text-delta", "text": "x"})),  # truncated
        httpx.Response(200, content=b"{not json\n"),
    ]
    after_first_byte = chunked(
        text_answer("partial")[:120], ndjson({"type": "error", "error": {"message": "capacity", "statusCode": 503}})
    )
    network_error = ndjson(
        {"type": "start"},
        {"type": "text-start", "id": "t"},
        {"type": "text-delta", "id": "t", "text": "Partial"},
        {"type": "finish", "finishReason": "stop", "rawFinishReason": "network-error", "totalUsage": USAGE},
    )
    return [*answers, after_first_byte, httpx.Response(200, content=network_error)]


class Capture:
    """Every response the client got, for the leak search."""

    def __init__(self, client: TestClient, config: Path | None = None) -> None:
        self.client = client
        self.config = config or Path("/nonexistent")
        self.seen: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.last = self.client.request(method, url, **kwargs)
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
        self.seen.append((f"{method} {url} → {response.status_code}", f"{headers}\n\n{response.text}"))
        return response


@pytest.fixture
def capture(app_factory: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> Capture:
    caplog.set_level(logging.DEBUG)
    config = tmp_path / "config.yaml"
    config.write_text(f"api_key: {LOCAL_KEY}\n")
    settings = make_settings(api_keys=[{"name": "second", "key": SECOND_KEY}])
    accounts = [("primary", UPSTREAM_KEY), ("backup", BACKUP_UPSTREAM_KEY)]  # failover reaches both
    return Capture(app_factory(settings, accounts=accounts, config_path=config), config)


def assert_no_leaks(
    capture: Capture, caplog: pytest.LogCaptureFixture, upstream: respx.MockRouter, secrets: dict[str, str]
) -> None:
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    # `httpx2` is the TestClient's own request log (it shows the URLs this test sends), not the gateway's.
    records = [(f"log {r.name}", formatter.format(r)) for r in caplog.records if r.name != "httpx2"]
    found = [(where, names) for where, text in [*capture.seen, *records] if (names := leaks(text, secrets))]
    local = {name: key for name, key in secrets.items() if name not in UPSTREAM_KEYS}
    allowed = {"", *(f"Bearer {key}" for key in UPSTREAM_KEYS.values())}
    for call in upstream.calls:
        request = call.request
        where = f"upstream {request.method} {request.url.path}"
        headers = {k.lower(): v for k, v in request.headers.multi_items()}
        if names := leaks(str(headers) + request.content.decode(errors="replace"), local):
            found.append((where, names))
        if headers.get("authorization", "") not in allowed:
            found.append((where, ["an authorization header other than one account's key"]))
        rest = {k: v for k, v in headers.items() if k != "authorization"}
        if names := leaks(str(rest) + request.content.decode(errors="replace"), UPSTREAM_KEYS):
            found.append((where + " (outside the authorization header)", names))
    assert not found, f"keys leaked ({len(found)} places): {sorted(set(map(str, found)))[:12]}"
    assert len(caplog.records) > 0 and len(capture.seen) > 0


def test_no_key_in_logs_responses_or_upstream_requests(
    capture: Capture, caplog: pytest.LogCaptureFixture, upstream: respx.MockRouter
) -> None:
    call = capture
    # Successes, streamed and not, with either local key and either header.
    for path, body in ENDPOINTS:
        for stream in (False, True):
            assert call("POST", path, json={**body, "stream": stream}).status_code == 200
    request_id = capture.last.headers["x-request-id"]
    other = {"Authorization": "", "x-api-key": SECOND_KEY}
    assert call("POST", "/v1/chat/completions", json=CHAT, headers=other).status_code == 200
    assert call("POST", "/v1/messages/count_tokens", json=CHAT).status_code == 200
    assert call("GET", "/v1/models").status_code == 200
    assert call("GET", "/v1/models/deepseek-v4-pro").status_code == 200

    # Every upstream failure, on every endpoint, streamed and not.
    for answer in upstream_failures():
        effect = answer if callable(answer) else None
        upstream.routes["generate"].mock(return_value=None if effect else answer, side_effect=effect)
        for path, body in ENDPOINTS:
            for stream in (False, True):
                assert call("POST", path, json={**body, "stream": stream}).status_code >= 200
    for failure in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut")):
        upstream.routes["generate"].mock(side_effect=failure)
        for path, body in ENDPOINTS:
            assert call("POST", path, json=body).status_code >= 400
    upstream.routes["generate"].mock(side_effect=RuntimeError("boom"))
    with contextlib.suppress(RuntimeError):  # if the app answers 500 and logs it, the test client re-raises
        call("POST", "/v1/chat/completions", json=CHAT)
    upstream.routes["generate"].mock(return_value=httpx.Response(200, content=text_answer("ok")), side_effect=None)

    # Wrong, malformed and misplaced keys, on every route that checks one.
    routes = [("POST", path, body) for path, body in ENDPOINTS]
    routes += [("POST", "/v1/messages/count_tokens", CHAT), ("GET", "/v1/models", None), ("GET", "/v1/usage/x", None)]
    for wrong in WRONG_KEYS:
        variants = [
            {"Authorization": f"Bearer {wrong}"},
            {"Authorization": f"bearer   {wrong}  "},
            {"Authorization": f"Basic {wrong}"},
            {"Authorization": wrong},
            {"Authorization": "", "x-api-key": wrong},
            {"Authorization": f"Bearer {wrong}", "x-api-key": wrong},
        ]
        for headers in variants:
            for method, path, body in routes:
                response = call(method, f"{path}?api_key={wrong}", json=body, headers=headers)
                assert response.status_code in (400, 401, 404), response.text
    assert call("POST", "/v1/chat/completions", json=CHAT, headers={"Authorization": ""}).status_code == 401

    # Bad requests, sent with the right key.
    bad_bodies: list[dict[str, Any]] = [
        {"model": "deepseek-v4-pro"},
        {"model": "deepseek-v4-pro", "messages": "hi"},
        {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]},
        {**CHAT, "max_tokens": "lots"},
    ]
    for path, _ in ENDPOINTS:
        for body in bad_bodies:
            assert call("POST", path, json=body).status_code >= 400
        assert call("POST", path, content=b'{"model": "x", "messages": [', headers=JSON).status_code == 400
    assert call("GET", "/v1/nowhere").status_code == 404
    assert call("DELETE", "/v1/models").status_code == 405

    # A config edit the key ring cannot read is logged, and the previous keys stay.
    capture.config.write_text(f"api_key: {LOCAL_KEY}\napi_keys: [{{name: x, key: {SECOND_KEY}, rpm: many}}]\n")
    time.sleep(RELOAD_CHECK_SECONDS + 0.1)
    assert call("POST", "/v1/messages/count_tokens", json=CHAT).status_code == 200
    assert any(r.name == "ccgw.auth" for r in caplog.records)

    # The usage pages and metrics, after all that.
    pages = ("/usage", "/usage/recent?limit=1000", f"/v1/usage/{request_id}", "/metrics", "/health?detail=1")
    for path in pages:
        assert call("GET", path).status_code == 200, path
    assert call("GET", "/dashboard").status_code in (200, 404)

    assert_no_leaks(capture, caplog, upstream, SECRETS)
    assert {c.request.headers.get("authorization") for c in upstream.calls} >= {
        f"Bearer {key}" for key in UPSTREAM_KEYS.values()
    }, "both accounts should have been used"


def test_upstream_echoing_its_key_is_not_passed_on(
    app_factory: Any, caplog: pytest.LogCaptureFixture, upstream: respx.MockRouter
) -> None:
    """An upstream error that quotes the gateway's key back must not hand it to clients or the log."""
    caplog.set_level(logging.DEBUG)
    echo = f"Invalid API key: {UPSTREAM_KEY} (also tried {BACKUP_UPSTREAM_KEY})"
    upstream.routes["credits"].mock(return_value=httpx.Response(401, json={"error": {"message": echo}}))
    upstream.get("/provider/v1/models").mock(return_value=httpx.Response(503, text=echo))
    capture = Capture(app_factory(accounts=[("primary", UPSTREAM_KEY), ("backup", BACKUP_UPSTREAM_KEY)]))
    capture("GET", "/v1/models")
    capture("GET", "/usage")
    answers = [
        httpx.Response(401, json={"error": {"message": echo, "code": "UNAUTHORIZED"}}),
        httpx.Response(400, json={"error": {"message": f"bad request from {UPSTREAM_KEY}"}}),
        httpx.Response(500, text=f"internal error for Bearer {UPSTREAM_KEY}"),
        httpx.Response(200, content=ndjson({"type": "start"}, {"type": "error", "error": {"message": echo}})),
    ]
    upstream.get("/provider/v1/models").mock(return_value=httpx.Response(200, json=CATALOG))
    for answer in answers:
        upstream.routes["generate"].mock(return_value=answer)
        for path, body in ENDPOINTS:
            for stream in (False, True):
                capture("POST", path, json={**body, "stream": stream})
    capture("GET", "/usage")
    capture("GET", "/usage/recent")
    capture("GET", "/metrics")
    capture("GET", "/health?detail=1")
    assert_no_leaks(capture, caplog, upstream, UPSTREAM_KEYS)


# ---------------------------------------------------------------------------------------------------
# The command line


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with contextlib.suppress(SystemExit):
        cli.main(list(argv))
    out = capsys.readouterr()
    return out.out + out.err


def test_keys_command_shows_a_new_key_once_and_never_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"api_key: {LOCAL_KEY}\napi_keys:\n  - name: second\n    key: {SECOND_KEY}\n"
        f"commandcode:\n  api_key: {UPSTREAM_KEY}\n  accounts:\n    - name: backup\n      api_key: {BACKUP_UPSTREAM_KEY}\n"
    )
    added = run_cli(capsys, "keys", "--config", str(config), "add", "ci")
    new_key = next(word for word in added.split() if word.startswith("ccgw-"))
    assert added.count(new_key) == 1
    assert not leaks(added, SECRETS)
    assert new_key not in config.read_text()
    assert hashlib.sha256(new_key.encode()).hexdigest() in config.read_text()

    secrets = {**SECRETS, "added key": new_key}
    for argv in (("list",), ("revoke", "ci"), ("list",), ("revoke", "nobody"), ("add", "second")):
        output = run_cli(capsys, "keys", "--config", str(config), *argv)
        assert not leaks(output, secrets), (argv, output)


def test_first_run_prints_its_new_key_once_and_config_errors_never(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "config.yaml"
    cli.build_app(path)  # what `python app.py` does before it starts serving
    output = capsys.readouterr().out
    settings, _ = load_settings(path, create=False)
    assert settings.api_key is not None
    assert output.count(settings.api_key) == 1
    assert path.stat().st_mode & 0o077 == 0, "the config holds keys: only its owner may read it"
    assert not leaks(caplog.text, {"generated key": settings.api_key})

    broken: list[dict[str, Any]] = [
        {"api_key": LOCAL_KEY, "unknown": 1},
        {"api_key": LOCAL_KEY, "api_keys": [{"name": "x", "key": SECOND_KEY, "key_sha256": "0" * 64}]},
        {"api_key": LOCAL_KEY, "api_keys": [{"name": "default", "key": SECOND_KEY}]},
        {"api_keys": [{"name": "x", "key": SECOND_KEY, "rpm": "many"}]},
        {"commandcode": {"api_key": UPSTREAM_KEY, "base_url": "ftp://nowhere"}},
        {"commandcode": {"api_key": UPSTREAM_KEY, "apikey": UPSTREAM_KEY}},
        {"api_key": [LOCAL_KEY]},
    ]
    for data in broken:
        with pytest.raises(ConfigError) as raised:
            parse_settings(data)
        assert not leaks(str(raised.value), SECRETS), str(raised.value)
    path.write_text(f"api_key: {LOCAL_KEY}\ncommandcode: {{api_key: {UPSTREAM_KEY}\n")  # not valid YAML
    output = run_cli(capsys, "keys", "--config", str(path), "list")
    assert "not valid YAML" in output
    assert not leaks(output, SECRETS)


# ---------------------------------------------------------------------------------------------------
# Real processes


@pytest.mark.e2e
def test_gateway_process_log_at_debug_has_no_keys(tmp_path: Path) -> None:
    fake = harness.start_fake(tmp_path)
    gateway: harness.Process | None = None
    try:
        backup = {"name": "backup", "api_key": E2E_SECRETS["e2e backup upstream key"]}
        upstream = {"api_key": harness.UPSTREAM_KEY, "base_url": fake.url, "accounts": [backup]}
        config = harness.write_config(
            tmp_path, fake.url, commandcode=upstream, log_level="debug", usage_flush_interval=0.1
        )
        gateway = harness.start_gateway(tmp_path, config)
        control = harness.FakeControl(fake.url)
        seen: list[str] = []
        good = {"Authorization": f"Bearer {harness.LOCAL_KEY}"}
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            prompts = ["hi", "fake:reasoning", "fake:http_401", "fake:http_500", "fake:inband_error", "fake:truncated"]
            for prompt in prompts:
                for path, body in ENDPOINTS:
                    for stream in (False, True):
                        data = {**body, "stream": stream}
                        data["messages" if "messages" in data else "input"] = [{"role": "user", "content": prompt}]
                        response = client.post(path, json=data, headers=good)
                        seen.append(str(response.headers) + response.text)
            for wrong in (*WRONG_KEYS, harness.LOCAL_KEY + "x"):
                for headers in ({"Authorization": f"Bearer {wrong}"}, {"x-api-key": wrong}):
                    response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
                    assert response.status_code == 401
                    seen.append(str(response.headers) + response.text)
            request_id = client.post("/v1/chat/completions", json=CHAT, headers=good).headers["x-request-id"]
            pages = ("/usage", "/usage/recent", f"/v1/usage/{request_id}", "/metrics", "/v1/models", "/health?detail=1")
            for path in pages:
                response = client.get(path, headers=good)
                assert response.status_code == 200, path
                seen.append(response.text)
        sent = control.http.get("/_fake/requests").json()["requests"]  # every path, not just generate
        control.http.close()
        assert gateway.stop(signal.SIGINT) == 0
    finally:
        if gateway is not None:
            gateway.stop(signal.SIGKILL)
        fake.stop()

    secrets = {**E2E_SECRETS, **{f"wrong key {i}": k for i, k in enumerate(WRONG_KEYS)}}
    log = gateway.output()
    assert "ccgw listening" in log and "Finished server process" in log  # the whole run's log, start to exit
    assert not leaks(log, secrets), leaks(log, secrets)
    assert [names for text in seen if (names := leaks(text, secrets))] == []
    local = {k: v for k, v in secrets.items() if "upstream" not in k}
    assert sent and [r for r in sent if leaks(str(r), local)] == [], "a local key was sent upstream"
    used = {r["headers"].get("authorization") for r in sent}
    assert f"Bearer {E2E_SECRETS['e2e backup upstream key']}" in used, "the failover account was never tried"


def test_gateway_logs_of_this_session_have_no_keys(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The logs of the gateways the end-to-end tests started earlier in this run (they sort first)."""
    root = tmp_path_factory.getbasetemp()
    logs = [*root.rglob("gateway-*.log")]
    if not logs:
        pytest.skip("no end-to-end gateway ran before this test in this session")
    assert leaks_in_logs(root, {**E2E_SECRETS, **SECRETS}) == {}
