"""Requests ccgw refuses itself, before anything goes upstream, recorded like every model request.

A client whose agent fails on a 400, 401, 404, 413 ... must be able to see why: each refusal on a
model route is logged in one line and enters the ledger (`/usage/recent`, `/v1/usage/{id}`) with its
status and `upstream: false`, counted as `rejected_requests`, never as an upstream request or a cost.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ccgw import errors
from ccgw.auth import Identity, presented_key
from ccgw.gateway import Call, Gateway
from ccgw.upstream.events import Usage
from ccgw.web import request_id

MODEL_ROUTES = {
    "/v1/chat/completions": "chat.completions",
    "/v1/responses": "responses",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
    "/v1/messages": "messages",
    "/v1/messages/count_tokens": "messages.count_tokens",
}
GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")  # then `{model}:{method}`
UNAUTHENTICATED = "(no key)"


def endpoint_of(method: str, path: str) -> str | None:
    """The ledger's endpoint name for a model request's route, None for any other route."""
    if method != "POST":
        return None
    endpoint = MODEL_ROUTES.get(path)
    if endpoint is None and path.startswith(GEMINI_PREFIXES) and ":" in path:
        method_name = path.rpartition(":")[2]
        endpoint = "gemini." + ("generateContent" if method_name == "streamGenerateContent" else method_name)
    return endpoint


def _caller(request: HTTPConnection, gateway: Gateway) -> str:
    try:
        return gateway.keys.identify(presented_key(request)).name
    except errors.AuthenticationError:
        return UNAUTHENTICATED


def note(request: HTTPConnection, error: errors.GatewayError) -> Gateway | None:
    """Record `error` as a rejected request when it refused a model request and is not recorded yet;
    the gateway that recorded it, or None."""
    method = "POST" if request.scope["type"] == "websocket" else request.scope.get("method", "")  # an upgrade attempt
    endpoint = endpoint_of(method, request.url.path)
    gateway = getattr(request.app.state, "gateway", None) if "app" in request.scope else None
    if endpoint is None or error.recorded or not isinstance(gateway, Gateway):
        return None
    state = request.scope.get("state", {})
    model = state.get("model")
    call = Call(
        request_id(request),
        Identity(_caller(request, gateway), None),
        endpoint,
        model if isinstance(model, str) else "",
        gateway.clock(),
        route=request.url.path,
    )
    gateway.account(call, Usage(), error, None, upstream=False)
    return gateway


async def record(request: HTTPConnection, error: errors.GatewayError) -> None:
    """:func:`note`, then wait (bounded) for the record's commit: the refusal is an answer too, and is in the
    ledger before it goes out."""
    recorder = note(request, error)
    if recorder is not None:
        await recorder.store.settle()
