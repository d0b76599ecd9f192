"""The FastAPI application: lifespan-owned resources, one error handler per failure family, routes."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from httpx_aiohttp import AiohttpTransport
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response

from ccgw import errors, rejections
from ccgw.browser import CORS, HostCheck, cors_options, html_headers
from ccgw.config import Settings
from ccgw.embeddings import EmbeddingsForwarder
from ccgw.gateway import ClientDisconnected, Gateway
from ccgw.images import ImageFetcher, Resolver, system_resolver
from ccgw.lane import ModelLane, plain_routes
from ccgw.routes import anthropic, embeddings, gemini, openai, ops
from ccgw.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    CountGeminiTokensRequest,
    CountTokensRequest,
    EmbeddingRequest,
    GenerateContentRequest,
    MessagesRequest,
    ResponsesRequest,
)
from ccgw.storage import open_store
from ccgw.web import EdgeMiddleware, error_response, request_id, request_protocol

log = logging.getLogger("ccgw")


# FastAPI 0.165 asks OpenTelemetry on every request whether a provider is configured (about 1% of a
# small request); ccgw has its own metrics and sets no provider. Older FastAPI has no `telemetry`.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def _aiohttp_session() -> aiohttp.ClientSession:
    # No connection cap: every open stream holds one connection, and 1,000 streams must fit.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector)


def _upstream_http(settings: Settings, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """The one HTTP client towards Command Code.

    httpx's API over aiohttp's connection layer (httpx-aiohttp): measured here, httpcore's pure-Python
    HTTP/1.1 costs about three times the CPU per request of aiohttp's C parser, and the upstream call
    is most of what a small request costs the gateway.
    """
    timeouts = settings.timeouts
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=max(timeouts.first_event, timeouts.idle), write=60, pool=60
        ),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=60),
        follow_redirects=False,
    )


def create_app(
    settings: Settings,
    *,
    upstream_key: str | None = None,
    accounts: Sequence[tuple[str, str]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    image_transport: httpx.AsyncBaseTransport | None = None,
    image_resolver: Resolver = system_resolver,
    embeddings_transport: httpx.AsyncBaseTransport | None = None,
    usage_path: Path | None = None,
    config_path: Path | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the app. `transport`/`image_transport`/`embeddings_transport` replace the network and `clock`
    the time, in tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await open_store(
            settings.storage,
            (usage_path or Path(settings.usage_file)).absolute(),
            snapshot_interval=settings.usage_flush_interval,
            clock=clock,
        )
        upstream = transport or AiohttpTransport(client=_aiohttp_session())  # its session: see upstream.opener
        async with _upstream_http(settings, upstream) as http:
            images = ImageFetcher(settings.images, transport=image_transport, resolver=image_resolver)
            gateway = Gateway(
                settings,
                http=http,
                transport=upstream,
                accounts=accounts if accounts is not None else ([("default", upstream_key)] if upstream_key else []),
                images=images,
                store=store,
                config_path=config_path,
                clock=clock,
            )
            app.state.gateway = gateway
            app.state.embeddings = EmbeddingsForwarder(settings.embeddings, transport=embeddings_transport)
            await gateway.start()
            try:
                yield
            finally:
                await gateway.aclose()
                await app.state.embeddings.aclose()
                await store.close()

    app = FastAPI(title="ccgw", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, **_NO_TELEMETRY)
    _install_error_handlers(app)
    routers = (ops.router, openai.router, anthropic.router, gemini.router, embeddings.router)
    for router in routers:
        app.include_router(router)
    if settings.docs:
        _add_docs(app)
    app.add_middleware(CORS, **cors_options(settings))
    lane = plain_routes(route for router in routers for route in router.routes)
    app.add_middleware(ModelLane, routes=lane, handlers=app.exception_handlers)
    hosts = HostCheck(settings.host, settings.allowed_hosts)
    app.add_middleware(EdgeMiddleware, body_limit=settings.max_body_bytes, hosts=hosts, on_reject=rejections.record)
    _register_schemas(app)
    return app


async def _refused(request: Request, exc: errors.GatewayError) -> Response:
    await rejections.record(request, exc)
    return error_response(exc, request.url.path, request_protocol(request))


# Swagger UI's page loads its script and styles from a CDN; only when `docs: true`, and nothing else.
_DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)


def _add_docs(app: FastAPI) -> None:
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title="ccgw API")
        return HTMLResponse(page.body, headers=html_headers(_DOCS_CSP))

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


def _install_error_handlers(app: FastAPI) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.GatewayError)
        return await _refused(request, exc)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return await _refused(request, errors.InvalidRequestError(f"{where}: {first.get('msg')}", param=where))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        mapped: errors.GatewayError
        if exc.status_code == 404:
            mapped = errors.NotFoundError(f"Unknown route: {request.method} {request.url.path}")
        elif exc.status_code == 405:
            mapped = errors.MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}")
        else:
            mapped = errors.InvalidRequestError(str(exc.detail))
        return await _refused(request, mapped)

    async def disconnected(request: Request, exc: Exception) -> Response:
        # Nobody is listening (a stopped upload, a closed tab): worth a debug line, not a traceback.
        log.debug("client hung up: %s %s (request %s)", request.method, request.url.path, request_id(request))
        return Response(status_code=499)  # nginx's "client closed request"

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error in %s %s (request %s)", request.method, request.url.path, request_id(request))
        error = errors.GatewayError(f"Internal gateway error (request {request_id(request)}); see the gateway's log")
        return error_response(error, request.url.path, request_protocol(request))

    app.add_exception_handler(errors.GatewayError, gateway_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ClientDisconnected, disconnected)
    app.add_exception_handler(ClientDisconnect, disconnected)
    app.add_exception_handler(Exception, unexpected)


def _register_schemas(app: FastAPI) -> None:
    """Publish the edge schemas that routes reference by `$ref` (they parse bodies themselves)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (
            ChatCompletionRequest, ResponsesRequest, MessagesRequest, CountTokensRequest, GenerateContentRequest,
            CountGeminiTokensRequest, CompletionRequest, EmbeddingRequest,
        ):  # fmt: skip
            document = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(document.pop("$defs", {}))
            components[model.__name__] = document
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
