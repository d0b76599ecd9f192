"""Gemini API routes: `models/{model}:generateContent`, `:streamGenerateContent`, `:countTokens`, and the
model list, under `/v1beta` and under `/v1` (where the google-genai SDK calls them unless told
`api_version="v1beta"`). `GET /v1/models` is OpenAI's unless the request authenticates the Google way
(`routes.openai` hands those here). The model id comes from the path, with or without its `/`
(`deepseek/deepseek-v4-flash`, percent-encoded or not) or as a bare name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from ccgw import sse
from ccgw.auth import Identity
from ccgw.catalog import Model
from ccgw.errors import InvalidRequestError, NotFoundError
from ccgw.gateway import Gateway, StreamFormat
from ccgw.routes.deps import Dialect, body_schema, caller, context, get_gateway, require_key, serve
from ccgw.schemas import CountGeminiTokensRequest, GenerateContentRequest
from ccgw.translate import gemini_request, gemini_stream
from ccgw.translate.common import MAX_TOKENS_CAP, UpstreamRequest
from ccgw.translate.gemini_fields import get
from ccgw.translate.gemini_stream import GeminiStream
from ccgw.translate.token_estimate import estimate_tokens
from ccgw.web import JSONResponse, read_json

router = APIRouter()

_PLACEHOLDER_IMAGE = "data:image/png;base64,iVBORw0KGgo="  # countTokens prices images, it does not fetch them
_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
NO_EMBEDDINGS = (
    "Command Code has no embedding models, so ccgw cannot embed content "
    "(OpenAI-style /v1/embeddings can be forwarded to another service: see embeddings in config.yaml)"
)


def _gemini(rid: str, model: str, upstream: UpstreamRequest, body: dict[str, Any]) -> GeminiStream:
    return GeminiStream(
        response_id=rid.removeprefix("req_"),
        model=model,
        n=upstream.n,
        include_thoughts=gemini_request.include_thoughts(body),
        tool_ids=upstream.tool_ids,
    )


def _json_array() -> StreamFormat:
    return StreamFormat(
        encode=sse.JSONArrayFrames(), keepalive=sse.GOOGLE_KEEPALIVE, trailer=b"]", media_type="application/json"
    )


def _dialect(stream: bool, fmt: StreamFormat | Callable[[], StreamFormat]) -> Dialect:
    to_upstream = functools.partial(gemini_request.to_upstream, stream=stream)
    return Dialect(
        "gemini.generateContent", GenerateContentRequest, gemini_request.remote_image_urls, to_upstream, _gemini,
        fmt, gemini_stream.fold,
    )  # fmt: skip


_SSE = StreamFormat(encode=sse.google_frames, keepalive=sse.GOOGLE_KEEPALIVE, error_gap=sse.GOOGLE_ERROR_GAP)
GENERATE = _dialect(False, _SSE)
STREAM_SSE = _dialect(True, _SSE)
STREAM_JSON = _dialect(True, _json_array)


@router.post("/v1beta/models/{target:path}", openapi_extra=body_schema("GenerateContentRequest"))
@router.post("/v1/models/{target:path}", openapi_extra=body_schema("GenerateContentRequest"))
async def model_method(request: Request, target: str) -> Response:
    """`{model}:{method}`: the model id may hold `/` and `:` (`…/ling-3.1-flash:free`), the method is last."""
    model, _, method = target.rpartition(":")
    model = model.removeprefix("models/")
    if not model or method not in (*_METHODS, "embedContent", "batchEmbedContents"):
        raise NotFoundError(f"Unknown route: POST {request.url.path} (Gemini methods: {', '.join(_METHODS)})")
    if method == "generateContent":
        return await serve(request, GENERATE, model_name=model)
    if method == "streamGenerateContent":
        dialect = STREAM_SSE if request.query_params.get("alt") == "sse" else STREAM_JSON
        return await serve(request, dialect, model_name=model)
    if method == "countTokens":
        return await _count_tokens(request, model)
    caller(request)  # a caller without a key learns that first
    raise InvalidRequestError(NO_EMBEDDINGS, code="embeddings_unavailable")


async def _count_tokens(request: Request, model: str) -> JSONResponse:
    """An estimate over the upstream request ccgw would send; the model need not exist (clients ask with their own ids)."""
    gateway, _ = caller(request)
    body = await read_json(request, CountGeminiTokensRequest)
    inner = get(body, "generateContentRequest") or body
    images = dict.fromkeys(gemini_request.remote_image_urls(inner), _PLACEHOLDER_IMAGE)
    upstream = gemini_request.to_upstream(inner, context(gateway, model, images))
    return JSONResponse({"totalTokens": estimate_tokens(upstream.params)})


def google_model(model: Model) -> dict[str, Any]:
    """A catalog model as Gemini's `Model` resource."""
    entry: dict[str, Any] = {
        "name": f"models/{model.id}",
        "baseModelId": model.id,
        "version": "ccgw",
        "displayName": model.name or model.id,
        "supportedGenerationMethods": _METHODS,
    }
    if model.context_length:
        entry["inputTokenLimit"] = model.context_length
        entry["outputTokenLimit"] = min(model.context_length, MAX_TOKENS_CAP)
    return entry


async def list_models(gateway: Gateway) -> JSONResponse:
    return JSONResponse({"models": [google_model(m) for m in await gateway.catalog.models()]})


async def get_model(gateway: Gateway, model_id: str) -> JSONResponse:
    return JSONResponse(google_model(await gateway.catalog.resolve(model_id.removeprefix("models/"))))


@router.get("/v1beta/models")
async def list_gemini_models(
    gateway: Annotated[Gateway, Depends(get_gateway)], _: Annotated[Identity, Depends(require_key)]
) -> JSONResponse:
    return await list_models(gateway)


@router.get("/v1beta/models/{model_id:path}")
async def get_gemini_model(
    model_id: str, gateway: Annotated[Gateway, Depends(get_gateway)], _: Annotated[Identity, Depends(require_key)]
) -> JSONResponse:
    return await get_model(gateway, model_id)
