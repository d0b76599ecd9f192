"""Anthropic-compatible routes: `/v1/messages` and `/v1/messages/count_tokens`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import sse
from ccgw.auth import Identity
from ccgw.gateway import Call, Gateway, StreamFormat, respond
from ccgw.routes.deps import body_schema, caller, context, get_gateway, require_key
from ccgw.schemas import CountTokensRequest, MessagesRequest
from ccgw.translate import messages_request
from ccgw.translate.messages_stream import MessagesStream, fold
from ccgw.translate.token_estimate import estimate_tokens
from ccgw.web import JSONResponse, read_json, request_id

router = APIRouter()

MESSAGES_FORMAT = StreamFormat(encode=sse.named_frames, keepalive=sse.ANTHROPIC_KEEPALIVE)
_PLACEHOLDER_IMAGE = "data:image/png;base64,iVBORw0KGgo="  # count_tokens prices images, it does not fetch them


@router.post("/v1/messages", openapi_extra=body_schema("MessagesRequest"))
async def messages(request: Request) -> Response:
    gateway, identity = caller(request)
    started = gateway.clock()
    body = await read_json(request, MessagesRequest)
    model = await gateway.catalog.resolve(body["model"])
    images = await gateway.images.fetch_all(messages_request.remote_image_urls(body))
    upstream = messages_request.to_upstream(body, context(gateway, model.id, images))
    rid = request_id(request)
    group = await gateway.open(upstream, Call(rid, identity, "messages", model.id, started))
    translator = MessagesStream(
        message_id="msg_" + rid.removeprefix("req_"), model=model.id, tool_ids=upstream.tool_ids
    )
    return await respond(
        gateway,
        request,
        group,
        translator,
        gateway.stages(upstream),
        stream=upstream.stream,
        fmt=MESSAGES_FORMAT,
        fold=fold,
        headers={"request-id": rid},
    )


@router.post("/v1/messages/count_tokens", openapi_extra=body_schema("CountTokensRequest"))
async def count_tokens(
    request: Request,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    _: Annotated[Identity, Depends(require_key)],
) -> JSONResponse:
    body = await read_json(request, CountTokensRequest)
    # Images are priced, not fetched, and the model need not exist: Claude Code asks about its own names.
    images = dict.fromkeys(messages_request.remote_image_urls(body), _PLACEHOLDER_IMAGE)
    upstream = messages_request.to_upstream(body, context(gateway, body["model"], images))
    return JSONResponse({"input_tokens": estimate_tokens(upstream.params)})
