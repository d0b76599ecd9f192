"""The model lane: plain model routes served past FastAPI's routing, with the same answers and errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from ccgw import errors
from ccgw.lane import ModelLane, plain_routes


class Fallback:
    """The rest of the app: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await PlainTextResponse("fallback")(scope, receive, send)


async def _ok(request: Request) -> Response:
    return PlainTextResponse("lane " + request.url.path)


async def _refuses(request: Request) -> Response:
    raise errors.InvalidRequestError("nope")


async def _breaks(request: Request) -> Response:
    raise KeyError("bug")


async def _rendered(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.GatewayError)
    return PlainTextResponse(f"handled {exc.message}", status_code=exc.status)


def _call(app: Any, method: str, path: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.request(method, path, headers=headers)

    return asyncio.run(go())


def _lane() -> tuple[ModelLane, Fallback]:
    fallback = Fallback()
    routes = {"/v1/ok": _ok, "/v1/refuses": _refuses, "/v1/breaks": _breaks}
    return ModelLane(fallback, routes, {errors.GatewayError: _rendered}), fallback


def test_lane_post_to_a_plain_route_is_served_directly() -> None:
    lane, fallback = _lane()
    response = _call(lane, "POST", "/v1/ok")
    assert (response.status_code, response.text) == (200, "lane /v1/ok")
    assert fallback.paths == []


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/v1/ok", {"Origin": "http://localhost:5173"}),  # a browser: CORS is the app's
        ("GET", "/v1/ok", {}),  # another method: the app's 405
        ("OPTIONS", "/v1/ok", {"Origin": "http://localhost:5173"}),  # a preflight
        ("POST", "/v1/other", {}),
    ],
)
def test_lane_other_requests_go_to_the_app(method: str, path: str, headers: dict[str, str]) -> None:
    lane, fallback = _lane()
    response = _call(lane, method, path, **headers)
    assert response.text == "fallback"
    assert fallback.paths == [path]


def test_lane_gateway_error_is_rendered_by_the_apps_handler() -> None:
    lane, _ = _lane()
    response = _call(lane, "POST", "/v1/refuses")
    assert (response.status_code, response.text) == (400, "handled nope")


def test_lane_unexpected_error_propagates_to_the_server_error_layer() -> None:
    lane, _ = _lane()
    with pytest.raises(KeyError):
        _call(lane, "POST", "/v1/breaks")


def test_lane_plain_routes_only_request_alone_post_with_a_fixed_path() -> None:
    router = APIRouter()

    async def dependency() -> int:
        return 1

    @router.post("/plain")
    async def plain(request: Request) -> Response:
        return await _ok(request)

    @router.post("/with-dependency")
    async def with_dependency(request: Request, n: int = Depends(dependency)) -> Response:
        return await _ok(request)

    @router.post("/path/{name}")
    async def with_path(request: Request) -> Response:
        return await _ok(request)

    @router.get("/get")
    async def get(request: Request) -> Response:
        return await _ok(request)

    @router.post("/body")
    async def body(n: int) -> int:
        return n

    assert list(plain_routes(router.routes)) == ["/plain"]


def test_lane_app_serves_model_routes_and_errors_as_before(client: TestClient) -> None:
    lane = client.app.user_middleware[1]
    assert lane.cls is ModelLane
    assert set(lane.kwargs["routes"]) == {
        "/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/messages", "/v1/embeddings",
    }  # fmt: skip
    body = {"model": "deepseek/deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]}
    answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200
    assert answer.json()["choices"][0]["message"]["content"] == "Hello, world."
    assert answer.headers["x-request-id"].startswith("req_")
    broken = client.post("/v1/messages", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["type"] == "error"  # Anthropic's error shape, from the app's handler
    assert broken.json()["error"]["type"] == "invalid_request_error"
    unknown = client.post("/v1/chat/completions", json={**body, "model": "no-such-model"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    browser = client.post(
        "/v1/chat/completions", json=body, headers={"Origin": "http://localhost:5173"}
    )  # through FastAPI, with CORS
    assert browser.status_code == 200
    assert browser.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_app_opentelemetry_provider_configured_request_not_traced(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's native telemetry (0.165+) is off: asking for it on each request cost ~1% of a small one."""
    asgi = pytest.importorskip("fastapi.telemetry._asgi", reason="this FastAPI has no native telemetry")
    traced: list[str] = []

    async def trace(self: Any, *, app: Any, scope: Scope, receive: Receive, send: Send, **_: Any) -> None:
        traced.append(scope["path"])
        await app(scope, receive, send)

    monkeypatch.setattr(asgi, "_unconfigured", lambda provider: False)  # as if an SDK provider were set
    monkeypatch.setattr(asgi.NativeTelemetry, "__call__", trace)
    body = {"model": "deepseek-v4-pro", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert traced == []
