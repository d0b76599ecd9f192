"""What the routes share: the gateway and the caller, body schemas, and the one path of a model request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ccgw.auth import Identity, presented_key
from ccgw.gateway import Call, Gateway, StreamFormat, respond
from ccgw.relay import Translator
from ccgw.translate.common import ClientBody, Context, UpstreamRequest
from ccgw.web import read_json, request_id

log = logging.getLogger("ccgw.requests")

# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
# which costs more than the whole rest of a small request.


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_gateway(request: Request) -> Gateway:
    return gateway_of(request)


def caller(request: Request) -> tuple[Gateway, Identity]:
    """The gateway and the caller, for the hot routes, which skip dependency injection (it costs)."""
    gateway = gateway_of(request)
    return gateway, gateway.keys.identify(presented_key(request))


async def require_key(request: Request) -> Identity:
    """401 in the caller's protocol unless a configured local key is presented."""
    return gateway_of(request).keys.identify(presented_key(request))


def body_schema(name: str) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (see `web.read_json`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def context(gateway: Gateway, model: str, images: dict[str, str]) -> Context:
    return Context(
        model=model,
        max_tokens_default=gateway.settings.max_tokens_default,
        images=images,
        reasoning_memory=gateway.memory,
        max_image_bytes=gateway.settings.images.max_bytes,
    )


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one model endpoint does differently from the others; :func:`serve` does the rest."""

    endpoint: str  # the name usage and metrics use
    schema: type[BaseModel]
    image_urls: Callable[[dict[str, Any]], list[str]]
    to_upstream: Callable[[dict[str, Any], Context], UpstreamRequest]
    translator: Callable[[str, str, UpstreamRequest, dict[str, Any]], Translator]  # (request id, model, ...)
    fmt: StreamFormat | Callable[[], StreamFormat]  # a callable makes a fresh one per response (stateful framing)
    fold: Callable[[list[dict[str, Any]]], dict[str, Any]]
    id_header: str | None = None  # a protocol's own request-id header, besides x-request-id


async def serve(request: Request, dialect: Dialect, *, model_name: str | None = None) -> Response:
    """The path of every model request: parse, resolve, translate, open, answer.

    The model is the body's `model`, or `model_name` for protocols that name it in the path (Gemini).
    """
    gateway, identity = caller(request)
    started = gateway.clock()
    body = await read_json(request, dialect.schema)
    request.scope["state"]["model"] = model_name or body["model"]  # for the ledger, should the request be refused
    model = await gateway.catalog.resolve(model_name or body["model"])
    images = await gateway.images.fetch_all(dialect.image_urls(body))
    upstream = dialect.to_upstream(body, context(gateway, model.id, images))
    upstream.client = ClientBody(dialect.endpoint, body, images)
    rid = request_id(request)
    headers = {dialect.id_header: rid} if dialect.id_header else {}
    if upstream.omitted_images:
        # As the CLI does for a text-only model; the client is told, in a header and in the log.
        headers["x-ccgw-warning"] = f"image omitted, {model.id} takes text only"
        log.warning("%s: %d image(s) omitted, %s takes text only", rid, upstream.omitted_images, model.id)
    group = await gateway.open(upstream, Call(rid, identity, dialect.endpoint, model.id, started, request.url.path))
    return await respond(
        gateway,
        request,
        group,
        dialect.translator(rid, model.id, upstream, body),
        gateway.stages(upstream),
        stream=upstream.stream,
        fmt=dialect.fmt if isinstance(dialect.fmt, StreamFormat) else dialect.fmt(),
        fold=dialect.fold,
        headers=headers or None,
    )
