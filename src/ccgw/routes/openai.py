"""OpenAI-compatible routes: `/v1/chat/completions` and `/v1/models`."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import sse
from ccgw.auth import Identity
from ccgw.gateway import Call, Gateway, StreamFormat, respond
from ccgw.routes.deps import get_gateway, require_key
from ccgw.schemas import ChatCompletionRequest
from ccgw.translate import chat_request
from ccgw.translate.chat_stream import ChatStream, fold
from ccgw.translate.common import Context
from ccgw.web import JSONResponse, read_json, request_id

router = APIRouter()

CHAT_FORMAT = StreamFormat(encode=sse.data_frames, keepalive=sse.OPENAI_KEEPALIVE, trailer=sse.DONE)

_CHAT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
    }
}


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


@router.post("/v1/chat/completions", openapi_extra=_CHAT_BODY)
async def chat_completions(
    request: Request,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    identity: Annotated[Identity, Depends(require_key)],
) -> Response:
    body = await read_json(request, ChatCompletionRequest)
    model = await gateway.catalog.resolve(body["model"])
    images = await gateway.images.fetch_all(chat_request.remote_image_urls(body))
    context = Context(
        model=model.id,
        max_tokens_default=gateway.settings.max_tokens_default,
        images=images,
        reasoning_memory=gateway.memory,
        max_image_bytes=gateway.settings.images.max_bytes,
    )
    upstream = chat_request.to_upstream(body, context)
    rid = request_id(request)
    group = await gateway.open(upstream, Call(rid, identity, "chat.completions", model.id, gateway.clock()))
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
