"""`POST /v1/embeddings`: an honest 400 by default, or the configured embeddings service's answer.

Forwarded requests go through the same local-key checks (allowed models, rates, budgets) and into the
same ledger as model requests, under the endpoint name "embeddings" and the service's model name.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from ccgw import errors
from ccgw.embeddings import NOT_CONFIGURED, EmbeddingsForwarder
from ccgw.gateway import Call, ClientDisconnected, until_disconnect
from ccgw.routes.deps import body_schema, caller
from ccgw.schemas import EmbeddingRequest
from ccgw.upstream.events import Usage
from ccgw.web import JSONResponse, read_json, request_id

router = APIRouter()


@router.post("/v1/embeddings", openapi_extra=body_schema("EmbeddingRequest"))
async def embeddings(request: Request) -> JSONResponse:
    gateway, identity = caller(request)
    started = gateway.clock()
    body = await read_json(request, EmbeddingRequest)
    forwarder: EmbeddingsForwarder = request.app.state.embeddings
    if not forwarder.enabled:
        raise errors.InvalidRequestError(NOT_CONFIGURED, code="embeddings_unavailable", param="model")
    call = Call(request_id(request), identity, "embeddings", forwarder.model(body["model"]), started)
    await gateway.admit(call, None)
    try:
        document, usage = await until_disconnect(request, forwarder.create(body))
    except ClientDisconnected:
        gateway.account(call, Usage(), errors.UpstreamError("The client went away", code="client_disconnected"), None)
        raise
    except errors.GatewayError as failure:
        gateway.account(call, Usage(), failure, None)
        await gateway.store.settle()
        raise
    gateway.account(call, usage, None, gateway.clock())
    await gateway.store.settle()  # in the ledger before the answer goes out
    return JSONResponse(document)
