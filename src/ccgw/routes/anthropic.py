"""Anthropic-compatible routes: `/v1/messages` and `/v1/messages/count_tokens`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import bulk, sse
from ccgw.auth import Identity
from ccgw.gateway import Gateway, StreamFormat
from ccgw.routes.deps import (
    Dialect,
    body_schema,
    context,
    free_later,
    gc_pause,
    get_gateway,
    is_large,
    require_key,
    serve,
)
from ccgw.schemas import CountTokensRequest, MessagesRequest
from ccgw.translate import messages_request
from ccgw.translate.common import UpstreamRequest
from ccgw.translate.messages_stream import MessagesStream, fold
from ccgw.translate.token_estimate import estimate_tokens
from ccgw.web import JSONResponse, read_json

router = APIRouter()

_PLACEHOLDER_IMAGE = "data:image/png;base64,iVBORw0KGgo="  # count_tokens prices images, it does not fetch them


def _messages(rid: str, model: str, upstream: UpstreamRequest, body: dict[str, Any]) -> MessagesStream:
    return MessagesStream(message_id="msg_" + rid.removeprefix("req_"), model=model, tool_ids=upstream.tool_ids)


MESSAGES = Dialect(
    "messages", MessagesRequest, messages_request.remote_image_urls, messages_request.to_upstream, _messages,
    StreamFormat(encode=sse.named_frames, keepalive=sse.ANTHROPIC_KEEPALIVE), fold, id_header="request-id",
)  # fmt: skip


@router.post("/v1/messages", openapi_extra=body_schema("MessagesRequest"))
async def messages(request: Request) -> Response:
    return await serve(request, MESSAGES)


@router.post("/v1/messages/count_tokens", openapi_extra=body_schema("CountTokensRequest"))
async def count_tokens(
    request: Request,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    _: Annotated[Identity, Depends(require_key)],
) -> JSONResponse:
    if not await is_large(request):
        body = await read_json(request, CountTokensRequest)
        request.scope["state"]["model"] = body["model"]  # for the ledger, should the request be refused
        return JSONResponse({"input_tokens": _count(gateway, body)})
    pause = gc_pause()  # pure Python, in a thread: the event loop keeps answering
    garbage: list[Any] = []
    try:
        body = await read_json(request, CountTokensRequest)
        request.scope["state"]["model"] = body["model"]
        garbage.append(body)
        return JSONResponse({"input_tokens": await asyncio.to_thread(_count, gateway, body, large=True)})
    finally:
        free_later(pause, garbage)


def _count(gateway: Gateway, body: dict[str, Any], *, large: bool = False) -> int:
    # Images are priced, not fetched, and the model need not exist: Claude Code asks about its own names.
    images = dict.fromkeys(messages_request.remote_image_urls(body), _PLACEHOLDER_IMAGE)
    params = messages_request.to_upstream(body, context(gateway, body["model"], images)).params
    tokens = estimate_tokens(params)
    if large:
        bulk.dismantle(params)
    return tokens
