"""Safe by default (issue 11): no web page, no slip of the user and no single request can open,
drain or stall the gateway. In-process tests; the real-socket ones are in tests/e2e/test_limits.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml
from fastapi.testclient import TestClient
from tests.conftest import CATALOG, LOCAL_KEY, UPSTREAM, make_settings

from ccgw.application import create_app
from ccgw.config import ConfigError, parse_settings

CHAT = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "deepseek-v4-pro", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
OTHER_KEY = "ccgw-other-key-0123456789"
ADMIN_KEY = "ccgw-admin-key-0123456789"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- 1. Fail closed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api_key", ["", None])
def test_auth_no_local_key_refuses_model_and_usage_detail_routes_with_401(app_factory: Any, api_key: Any) -> None:
    client: TestClient = app_factory(make_settings(api_key=api_key))
    calls = [
        ("POST", "/v1/chat/completions", CHAT),
        ("POST", "/v1/messages", MESSAGES),
        ("POST", "/v1/messages/count_tokens", MESSAGES),
        ("GET", "/v1/models", None),
        ("GET", "/v1/usage/req_123", None),
        ("GET", "/health?detail=1", None),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers={"Authorization": ""})
        assert response.status_code == 401, (path, response.text)
        text = response.text
        assert "keys add" in text, text
        assert "detail" not in response.json()


def test_auth_revoking_the_last_key_closes_a_running_gateway(
    app_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"api_key": LOCAL_KEY}))
    client: TestClient = app_factory(config_path=config)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    config.write_text(yaml.safe_dump({"commandcode": {"api_key": ""}}))  # what `keys revoke default --force` leaves
    monkeypatch.setattr("ccgw.auth.RELOAD_CHECK_SECONDS", 0.0)
    time.sleep(0.01)  # a new mtime
    for headers in ({}, {"Authorization": ""}, bearer("anything-at-all")):
        response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert response.status_code == 401, response.text
    assert client.get("/v1/models", headers={"Authorization": ""}).status_code == 401


def test_settings_allow_unauthenticated_only_on_loopback(app_factory: Any) -> None:
    for host in ("0.0.0.0", "192.168.1.20", "example.com"):
        with pytest.raises(ConfigError, match="allow_unauthenticated"):
            parse_settings({"allow_unauthenticated": True, "host": host})
    client: TestClient = app_factory(make_settings(api_key=None, allow_unauthenticated=True, host="127.0.0.1"))
    assert client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": ""}).status_code == 200


def test_keys_revoke_of_the_last_key_refuses_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ccgw import cli

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"api_key": LOCAL_KEY}))
    with pytest.raises(SystemExit) as stopped:
        cli.main(["keys", "--config", str(config), "revoke", "default"])
    assert stopped.value.code == 2
    assert "last local key" in capsys.readouterr().err
    assert yaml.safe_load(config.read_text())["api_key"] == LOCAL_KEY
    assert cli.main(["keys", "--config", str(config), "revoke", "default", "--force"]) == 0
    assert "api_key" not in (yaml.safe_load(config.read_text()) or {})


# --- 2, 3, 9. Browsers: Host, CORS, content types, pages --------------------------------------------


@pytest.mark.parametrize("path", ["/usage", "/usage/recent", "/metrics", "/openapi.json", "/v1/models", "/dashboard"])
def test_edge_foreign_host_is_403_json(client: TestClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example:11434"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "host_not_allowed"


@pytest.mark.parametrize("host", ["localhost", "localhost:11434", "127.0.0.1:8080", "[::1]:11434", "app.localhost"])
def test_edge_local_hosts_are_served(client: TestClient, host: str) -> None:
    assert client.get("/usage", headers={"Host": host}).status_code == 200


def test_edge_allowed_hosts_setting_opens_named_hosts(app_factory: Any) -> None:
    client: TestClient = app_factory(make_settings(allowed_hosts=["ccgw.lan", "*.trycloudflare.com"]))
    assert client.get("/usage", headers={"Host": "ccgw.lan:11434"}).status_code == 200
    assert client.get("/usage", headers={"Host": "abc.trycloudflare.com"}).status_code == 200
    assert client.get("/usage", headers={"Host": "trycloudflare.com.evil.example"}).status_code == 403
    assert client.get("/usage", headers={"Host": "0.0.0.0:11434"}).status_code == 403


def test_cors_only_local_origins_by_default(client: TestClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    evil = client.options("/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight})
    assert evil.status_code == 403
    assert evil.json()["error"]["code"] == "cors_refused"
    assert "access-control-allow-origin" not in evil.headers
    local = client.options("/v1/chat/completions", headers={"Origin": "http://localhost:5173", **preflight})
    assert local.status_code == 200
    assert local.headers["access-control-allow-origin"] == "http://localhost:5173"
    simple = client.get("/usage", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_text_plain_post_from_a_page_is_refused_before_anything_runs(
    client: TestClient, upstream: respx.MockRouter
) -> None:
    # What a page can send to localhost without a preflight, with no key the gateway is open... was.
    import json

    response = client.post(
        "/v1/chat/completions",
        content=json.dumps(CHAT),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert not upstream["generate"].called


def test_pages_every_html_page_forbids_framing(app_factory: Any) -> None:
    client: TestClient = app_factory(make_settings(docs=True))
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if "GET" not in getattr(route, "methods", set()) or "{" in path:
            continue
        response = client.get(path)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
            assert response.headers["x-frame-options"] == "DENY", path


def test_pages_docs_off_by_default_and_no_third_party_script(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404
    page = client.get("/dashboard")
    assert "https://" not in page.text.split("<body", 1)[0]
    assert "default-src 'none'" in page.headers["content-security-policy"]


# --- 8. Per-key privacy -------------------------------------------------------------------------------


def two_keys() -> Any:
    return make_settings(
        api_key=None,
        api_keys=[
            {"name": "alice", "key": LOCAL_KEY},
            {"name": "bob", "key": OTHER_KEY},
            {"name": "ops", "key": ADMIN_KEY, "admin": True},
        ],
    )


def test_usage_request_detail_only_for_the_key_that_made_it(app_factory: Any) -> None:
    client: TestClient = app_factory(two_keys())
    rid = client.post("/v1/chat/completions", json=CHAT).headers["x-request-id"]
    assert client.get(f"/v1/usage/{rid}").status_code == 200
    other = client.get(f"/v1/usage/{rid}", headers=bearer(OTHER_KEY))
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    assert client.get(f"/v1/usage/{rid}", headers=bearer(ADMIN_KEY)).json()["key"] == "alice"


def test_usage_recent_shows_request_ids_only_to_their_key(app_factory: Any) -> None:
    client: TestClient = app_factory(two_keys())
    mine = client.post("/v1/chat/completions", json=CHAT).headers["x-request-id"]
    theirs = client.post("/v1/chat/completions", json=CHAT, headers=bearer(OTHER_KEY)).headers["x-request-id"]
    anonymous = client.get("/usage/recent", headers={"Authorization": ""}).json()["requests"]
    assert len(anonymous) == 2
    assert all("request_id" not in entry for entry in anonymous)
    as_alice = client.get("/usage/recent").json()["requests"]
    assert {e.get("request_id") for e in as_alice} == {mine, None}
    as_admin = client.get("/usage/recent", headers=bearer(ADMIN_KEY)).json()["requests"]
    assert {e["request_id"] for e in as_admin} == {mine, theirs}


# --- 12. No upstream key ------------------------------------------------------------------------------


def test_no_upstream_key_is_not_retryable_honest_and_not_an_upstream_failure(app_factory: Any) -> None:
    client: TestClient = app_factory(
        make_settings(commandcode={"api_key": "", "base_url": UPSTREAM}), upstream_key=None
    )
    openai = client.post("/v1/chat/completions", json=CHAT)
    assert openai.status_code == 503
    assert openai.headers["x-should-retry"] == "false"
    assert openai.json()["error"]["code"] == "upstream_key_missing"
    anthropic = client.post("/v1/messages", json=MESSAGES)
    assert anthropic.headers["x-should-retry"] == "false"
    assert anthropic.json()["error"]["type"] == "api_error"  # not "overloaded_error": nothing is overloaded
    usage = client.get("/usage").json()
    assert usage["failed_requests"] == 0
    assert usage["total_requests"] == 0
    assert "ccgw_upstream_errors_total{" not in client.get("/metrics").text


def test_upstream_key_written_into_a_running_gateways_config_is_picked_up(
    upstream: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMMANDCODE_API_KEY", raising=False)
    monkeypatch.delenv("COMMAND_CODE_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no CLI login file
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"api_key": LOCAL_KEY, "commandcode": {"api_key": ""}}))
    app = create_app(
        make_settings(commandcode={"api_key": "", "base_url": UPSTREAM}),
        accounts=[],
        transport=httpx.MockTransport(upstream.handler),
        usage_path=tmp_path / "usage.json",
        config_path=config,
    )
    with TestClient(app, base_url="http://localhost", headers=bearer(LOCAL_KEY)) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
        config.write_text(
            yaml.safe_dump(
                {"api_key": LOCAL_KEY, "commandcode": {"api_key": "user_new_key_0123456789", "base_url": UPSTREAM}}
            )
        )
        monkeypatch.setattr("ccgw.auth.RELOAD_CHECK_SECONDS", 0.0)
        time.sleep(0.01)
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    sent = upstream["generate"].calls.last.request
    assert sent.headers["authorization"] == "Bearer user_new_key_0123456789"


def test_catalog_fixture_is_what_the_tests_assume() -> None:
    assert any(m["id"] == "deepseek/deepseek-v4-pro" for m in CATALOG["data"])
