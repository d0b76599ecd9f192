"""What the routes share: the gateway and the caller, body schemas, and the one path of a model request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ccgw import bulk
from ccgw.auth import Identity, presented_key
from ccgw.gateway import Call, Gateway, StreamFormat, respond, until_disconnect
from ccgw.reasoning_memory import MissRecorder
from ccgw.relay import Translator
from ccgw.translate.common import ClientBody, Context, ReasoningLookup, UpstreamRequest
from ccgw.web import read_body, read_json, request_id

T = TypeVar("T")

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


async def offload(large: bool, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)`; for a big body in a worker thread (pure Python walks over it: the GIL is shared)."""
    if large:
        return await asyncio.to_thread(work, *args)
    return work(*args)


def context(gateway: Gateway, model: str, images: dict[str, str], memory: ReasoningLookup | None = None) -> Context:
    return Context(
        model=model,
        max_tokens_default=gateway.settings.max_tokens_default,
        images=images,
        reasoning_memory=gateway.memory if memory is None else memory,
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
    Once the body is read, a client that hangs up cancels the rest at once, whatever phase it is in
    (fetching images, waiting for a silent upstream, collecting a non-streaming answer); a stream
    that has started is watched by the streaming response itself.
    """
    gateway, identity = caller(request)
    started = gateway.clock()
    if not await is_large(request):
        body = await read_json(request, dialect.schema)
        return await until_disconnect(
            request, _answer(request, dialect, gateway, identity, body, started, model_name, False)
        )
    pause = gc_pause()
    garbage: list[Any] = []
    try:
        body = await read_json(request, dialect.schema)
        garbage.append(body)
        response = await until_disconnect(
            request, _answer(request, dialect, gateway, identity, body, started, model_name, True, garbage)
        )
    except BaseException:
        free_later(pause, garbage)
        raise
    if isinstance(response, StreamingResponse):  # the stream may still read the request (echoes, tool ids)
        response.background = BackgroundTask(asyncio.to_thread, bulk.release, pause, *garbage)
    else:
        free_later(pause, garbage)
    return response


def gc_pause() -> bulk.GCPause:
    """Pause the collector for a big request (see `bulk.GCPause`); it resumes by itself at the latest later."""
    pause = bulk.GCPause()
    asyncio.get_running_loop().call_later(bulk.GC_PAUSE_LIMIT, pause.end)
    return pause


def free_later(pause: bulk.GCPause, garbage: list[Any]) -> None:
    """Free a big request's trees in a worker thread, a slice at a time, then end its GC pause."""
    asyncio.get_running_loop().run_in_executor(None, bulk.release, pause, *garbage)
    garbage.clear()


async def is_large(request: Request) -> bool:
    """Whether the body is big enough to be worked on in pieces, off the event loop (see ccgw.bulk)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) < bulk.BIG_BODY:
        return False
    return len(await read_body(request)) >= bulk.BIG_BODY


async def _answer(
    request: Request,
    dialect: Dialect,
    gateway: Gateway,
    identity: Identity,
    body: dict[str, Any],
    started: float,
    model_name: str | None,
    large: bool,
    garbage: list[Any] | None = None,
) -> Response:
    name = model_name or body["model"]
    request.scope["state"]["model"] = name  # for the ledger, should the request be refused
    model = await gateway.catalog.resolve(name)
    images = await gateway.images.fetch_all(await offload(large, dialect.image_urls, body))
    lookup = MissRecorder(gateway.memory)
    upstream = await offload(large, dialect.to_upstream, body, context(gateway, model.id, images, lookup))
    if lookup.missed and await gateway.recall(lookup.missed):  # another gateway may have answered those calls
        upstream = await offload(large, dialect.to_upstream, body, context(gateway, model.id, images))
    if garbage is not None:
        garbage.append(upstream.params)
    upstream.client = ClientBody(dialect.endpoint, body, images)
    rid = request_id(request)
    headers = {dialect.id_header: rid} if dialect.id_header else {}
    if upstream.omitted_images:
        # As the CLI does for a text-only model; the client is told, in a header and in the log.
        headers["x-ccgw-warning"] = f"image omitted, {model.id} takes text only"
        log.warning("%s: %d image(s) omitted, %s takes text only", rid, upstream.omitted_images, model.id)
    call = Call(rid, identity, dialect.endpoint, model.id, started, request.scope["path"], large=large)
    group = await gateway.open(upstream, call)
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
