"""HTTP edge helpers: the JSON response class, body parsing, request ids and error rendering."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ccgw import bulk, errors
from ccgw.auth import is_google_request
from ccgw.browser import HostCheck, host_refusal
from ccgw.jsonutil import JSONDecodeError, dumps, loads

log = logging.getLogger("ccgw")

M = TypeVar("M", bound=BaseModel)

REQUEST_ID_HEADER = "x-request-id"
MAX_JSON_DEPTH = 200  # orjson writes at most 254 levels; the rest is room for what wraps client values


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


def request_id(request: HTTPConnection) -> str:
    return str(request.scope.get("state", {}).get("request_id") or new_request_id())


def new_request_id() -> str:
    return "req_" + os.urandom(16).hex()  # 32 random hex digits, as uuid4().hex without building a UUID


class EdgeMiddleware:
    """What every request gets at the edge, in one layer (each ASGI layer costs on every request):

    * an id (`scope.state.request_id`), returned in `x-request-id`;
    * a 403 unless its `Host` is this machine's (see :class:`ccgw.browser.HostCheck`);
    * a 413 for a body over `body_limit` bytes, decided before it is read whole: a declared
      Content-Length over the limit is refused at once, a chunked body when it passes the limit;
    * a 426 at once for a WebSocket upgrade: Codex tries a WebSocket first and falls back to HTTP
      without delay only on 426 (other refusals cost it retries).
    """

    def __init__(
        self,
        app: ASGIApp,
        body_limit: int,
        hosts: HostCheck | None = None,
        on_reject: Callable[[HTTPConnection, errors.GatewayError], Awaitable[object]] | None = None,
    ) -> None:
        self.app = app
        self.body_limit = body_limit
        self.hosts = hosts
        self.on_reject = on_reject  # awaited for what the middleware refuses itself (not a foreign Host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID_HEADER.encode(), rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        host: bytes | None = None
        declared = upgrade = b""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value
            elif name == b"content-length":
                declared = value
            elif name == b"upgrade":
                upgrade = value
        if self.hosts is not None and not self.hosts.allows(host):
            # Not a client of this gateway (a page rebinding its name, ...): answered, never recorded.
            await error_response(host_refusal(host), scope.get("path", ""))(scope, receive, send_with_id)
            return
        refusal: errors.GatewayError | None = None
        if upgrade.lower() == b"websocket":  # a server without WebSocket support
            refusal = _websocket_refusal()
        elif declared.isdigit() and int(declared) > self.body_limit:
            refusal = self._too_large()
        if refusal is not None:
            if self.on_reject is not None:
                await self.on_reject(Request(scope), refusal)
            await error_response(refusal, scope.get("path", ""))(scope, receive, send_with_id)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.body_limit:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send_with_id)

    async def _refuse_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["request_id"] = rid = new_request_id()
        refusal = _websocket_refusal()
        if self.on_reject is not None:
            await self.on_reject(HTTPConnection(scope), refusal)
        if (await receive())["type"] != "websocket.connect":
            return
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close", "code": 1008})  # the server cannot say 426: a 403
            return
        response = error_response(refusal, scope.get("path", ""))
        headers = [*response.raw_headers, (REQUEST_ID_HEADER.encode(), rid.encode())]
        await send({"type": "websocket.http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": response.body})

    def _too_large(self) -> errors.PayloadTooLargeError:
        return errors.PayloadTooLargeError(f"The request body is larger than {self.body_limit} bytes (max_body_bytes)")


def _websocket_refusal() -> errors.UpgradeRequiredError:
    return errors.UpgradeRequiredError("WebSockets are not supported: ccgw speaks HTTP; send the request over HTTP")


def describe_validation(error: ValidationError | bulk.PieceError) -> tuple[str, str]:
    """(message, param) for the first problem, in the words a client developer expects."""
    first = error.first() if isinstance(error, bulk.PieceError) else error.errors()[0]
    loc = first["loc"]
    param = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "body"
    if first["type"] == "missing":
        return f"{param}: this field is required", param
    return f"{param}: {first['msg']}", param


def require_json(request: Request) -> None:
    """415 unless the body is declared JSON. Browsers send `text/plain` and form bodies to any
    origin without asking first (no CORS preflight); `application/json` always asks."""
    declared = request.headers.get("content-type", "")
    kind = declared.split(";", 1)[0].strip().lower()
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise errors.UnsupportedMediaTypeError(
            f"Send the body as JSON with 'Content-Type: application/json' (got {declared[:100] or 'none'!r}; "
            "curl -d sends form encoding unless told: add -H 'Content-Type: application/json')"
        )


async def read_body(request: Request) -> bytes | bytearray:
    """The body, read once. A big one is gathered in one growing buffer rather than joined at the end:
    joining 49 MB of chunks held the event loop for 60 ms."""
    cached: bytes | bytearray | None = getattr(request, "_body", None)
    if cached is not None:
        return cached
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) < bulk.BIG_BODY:
        return await request.body()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    request._body = body  # type: ignore[assignment]  # Starlette's own cache: request.body() returns it
    return body


async def read_json(request: Request, model: type[M]) -> dict[str, Any]:
    """The request body as a plain dict, validated against `model` (400 naming the field otherwise)."""
    require_json(request)
    raw = await read_body(request)
    if len(raw) >= bulk.BIG_BODY:  # in a thread and in pieces, so the event loop keeps answering
        return await asyncio.to_thread(_parse_big, raw, model)
    if not raw.strip():
        raise errors.InvalidRequestError("The request body is empty; send a JSON object")
    try:
        data = loads(raw)
    except JSONDecodeError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    return _checked(data, model)


def _parse_big(raw: bytes | bytearray, model: type[M]) -> dict[str, Any]:
    if not raw[:64].strip() and not raw.strip():
        raise errors.InvalidRequestError("The request body is empty; send a JSON object")
    try:
        data = bulk.loads(raw, max_depth=MAX_JSON_DEPTH)
    except bulk.BulkJSONError as exc:
        raise errors.InvalidRequestError(f"The request body is not valid JSON: {exc}") from None
    return _checked(data, model, big=True)


def _checked(data: Any, model: type[M], *, big: bool = False) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise errors.InvalidRequestError("The request body must be a JSON object")
    if nests_deeper(data, MAX_JSON_DEPTH):
        raise errors.InvalidRequestError(
            f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
        )
    try:
        if big:
            bulk.validate(model, data)  # long lists a batch at a time
        else:
            model.model_validate(data)
    except (ValidationError, bulk.PieceError) as exc:
        message, param = describe_validation(exc)
        raise errors.InvalidRequestError(message, param=param) from None
    return data


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether `value` nests arrays and objects more than `limit` levels deep (iterative: any depth is safe)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        # A plain loop rather than extend(generator): in a worker thread it lets the GIL go between items.
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def request_protocol(request: Request) -> errors.Protocol:
    """The protocol to answer `request` in: by its path, and Google's for a Google-authenticated `/v1/models`."""
    return "google" if is_google_request(request) else errors.protocol_for_path(request.url.path)


def error_response(exc: errors.GatewayError, path: str, protocol: errors.Protocol | None = None) -> JSONResponse:
    protocol = protocol or errors.protocol_for_path(path)
    return JSONResponse(errors.error_body(exc, protocol), status_code=exc.status, headers=exc.headers())
