"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/responses` and `/v1/models`."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import sse
from ccgw.auth import Identity
from ccgw.gateway import Call, Gateway, StreamFormat, respond
from ccgw.routes.deps import body_schema, caller, context, get_gateway, require_key
from ccgw.schemas import ChatCompletionRequest, ResponsesRequest
from ccgw.translate import chat_request, responses_request
from ccgw.translate.chat_stream import ChatStream, fold
from ccgw.translate.responses_stream import ResponsesStream
from ccgw.translate.responses_stream import fold as responses_fold
from ccgw.web import JSONResponse, read_json, request_id

router = APIRouter()

CHAT_FORMAT = StreamFormat(encode=sse.data_frames, keepalive=sse.OPENAI_KEEPALIVE, trailer=sse.DONE)
RESPONSES_FORMAT = StreamFormat(encode=sse.named_frames, keepalive=sse.OPENAI_KEEPALIVE)


@router.get("/v1/models")
async def list_models(
    gateway: Annotated[Gateway, Depends(get_gateway)], _: Annotated[Identity, Depends(require_key)]
) -> JSONResponse:
    models = await gateway.catalog.models()
    return JSONResponse({"object": "list", "data": [m.openai() for m in models]})


@router.get("/v1/models/{model_id:path}")
async def get_model(
    model_id: str,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    _: Annotated[Identity, Depends(require_key)],
) -> JSONResponse:
    return JSONResponse((await gateway.catalog.resolve(model_id)).openai())


@router.post("/v1/chat/completions", openapi_extra=body_schema("ChatCompletionRequest"))
async def chat_completions(request: Request) -> Response:
    gateway, identity = caller(request)
    started = gateway.clock()
    body = await read_json(request, ChatCompletionRequest)
    model = await gateway.catalog.resolve(body["model"])
    images = await gateway.images.fetch_all(chat_request.remote_image_urls(body))
    upstream = chat_request.to_upstream(body, context(gateway, model.id, images))
    rid = request_id(request)
    group = await gateway.open(upstream, Call(rid, identity, "chat.completions", model.id, started))
    translator = ChatStream(
        completion_id="chatcmpl-" + rid.removeprefix("req_"),
        model=model.id,
        created=int(time.time()),
        n=upstream.n,
        include_usage=upstream.include_usage or not upstream.stream,
        tool_ids=upstream.tool_ids,
    )
    return await respond(
        gateway,
        request,
        group,
        translator,
        gateway.stages(upstream),
        stream=upstream.stream,
        fmt=CHAT_FORMAT,
        fold=fold,
    )


@router.post("/v1/responses", openapi_extra=body_schema("ResponsesRequest"))
async def responses(request: Request) -> Response:
    gateway, identity = caller(request)
    started = gateway.clock()
    body = await read_json(request, ResponsesRequest)
    model = await gateway.catalog.resolve(body["model"])
    images = await gateway.images.fetch_all(responses_request.remote_image_urls(body))
    upstream = responses_request.to_upstream(body, context(gateway, model.id, images))
    rid = request_id(request)
    group = await gateway.open(upstream, Call(rid, identity, "responses", model.id, started))
    translator = ResponsesStream(
        response_id="resp_" + rid.removeprefix("req_"),
        model=model.id,
        created_at=int(time.time()),
        request_echo=responses_request.request_echo(body),
        tool_ids=upstream.tool_ids,
    )
    return await respond(
        gateway,
        request,
        group,
        translator,
        gateway.stages(upstream),
        stream=upstream.stream,
        fmt=RESPONSES_FORMAT,
        fold=responses_fold,
    )
