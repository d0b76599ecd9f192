"""OpenAI-compatible routes: `/v1/chat/completions`, `/v1/responses`, `/v1/completions` and `/v1/models`."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import sse
from ccgw.auth import Identity, is_google_request
from ccgw.gateway import Gateway, StreamFormat
from ccgw.routes import gemini
from ccgw.routes.deps import Dialect, body_schema, get_gateway, require_key, serve
from ccgw.schemas import ChatCompletionRequest, CompletionRequest, ResponsesRequest
from ccgw.translate import (
    chat_request,
    chat_stream,
    completions_request,
    completions_stream,
    responses_request,
    responses_stream,
)
from ccgw.translate.chat_stream import ChatStream
from ccgw.translate.common import UpstreamRequest
from ccgw.translate.completions_stream import CompletionsStream
from ccgw.translate.responses_stream import ResponsesStream
from ccgw.web import JSONResponse

router = APIRouter()


@router.get("/v1/models")
async def list_models(
    request: Request, gateway: Annotated[Gateway, Depends(get_gateway)], _: Annotated[Identity, Depends(require_key)]
) -> JSONResponse:
    if is_google_request(request):  # the google-genai SDK lists models under /v1 too
        return await gemini.list_models(gateway)
    models = await gateway.catalog.models()
    return JSONResponse({"object": "list", "data": [m.openai() for m in models]})


@router.get("/v1/models/{model_id:path}")
async def get_model(
    request: Request,
    model_id: str,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    _: Annotated[Identity, Depends(require_key)],
) -> JSONResponse:
    if is_google_request(request):
        return await gemini.get_model(gateway, model_id)
    return JSONResponse((await gateway.catalog.resolve(model_id)).openai())


def _chat(rid: str, model: str, upstream: UpstreamRequest, body: dict[str, Any]) -> ChatStream:
    return ChatStream(
        completion_id="chatcmpl-" + rid.removeprefix("req_"),
        model=model,
        created=int(time.time()),
        n=upstream.n,
        include_usage=upstream.include_usage or not upstream.stream,
        tool_ids=upstream.tool_ids,
    )


def _responses(rid: str, model: str, upstream: UpstreamRequest, body: dict[str, Any]) -> ResponsesStream:
    return ResponsesStream(
        response_id="resp_" + rid.removeprefix("req_"),
        model=model,
        created_at=int(time.time()),
        request_echo=responses_request.request_echo(body),
        tool_ids=upstream.tool_ids,
        tool_routes=upstream.tool_routes,
    )


def _completions(rid: str, model: str, upstream: UpstreamRequest, body: dict[str, Any]) -> CompletionsStream:
    return CompletionsStream(
        completion_id="cmpl-" + rid.removeprefix("req_"),
        model=model,
        created=int(time.time()),
        include_usage=upstream.include_usage or not upstream.stream,
    )


CHAT = Dialect(
    "chat.completions", ChatCompletionRequest, chat_request.remote_image_urls, chat_request.to_upstream, _chat,
    StreamFormat(encode=sse.data_frames, keepalive=sse.OPENAI_KEEPALIVE, trailer=sse.DONE), chat_stream.fold,
)  # fmt: skip
RESPONSES = Dialect(
    "responses", ResponsesRequest, responses_request.remote_image_urls, responses_request.to_upstream, _responses,
    StreamFormat(encode=sse.named_frames, keepalive=sse.OPENAI_KEEPALIVE), responses_stream.fold,
)  # fmt: skip

COMPLETIONS = Dialect(
    "completions", CompletionRequest, completions_request.remote_image_urls, completions_request.to_upstream,
    _completions, StreamFormat(encode=sse.data_frames, keepalive=sse.OPENAI_KEEPALIVE, trailer=sse.DONE),
    completions_stream.fold,
)  # fmt: skip


@router.post("/v1/chat/completions", openapi_extra=body_schema("ChatCompletionRequest"))
async def chat_completions(request: Request) -> Response:
    return await serve(request, CHAT)


@router.post("/v1/responses", openapi_extra=body_schema("ResponsesRequest"))
async def responses(request: Request) -> Response:
    return await serve(request, RESPONSES)


@router.post("/v1/completions", openapi_extra=body_schema("CompletionRequest"))
async def completions(request: Request) -> Response:
    return await serve(request, COMPLETIONS)
