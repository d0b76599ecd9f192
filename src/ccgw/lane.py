"""The model routes as plain ASGI endpoints, past FastAPI's routing and inner middleware.

A small model request cost the gateway about 1.1 ms of CPU, and a fifth of it was FastAPI's own path
to the endpoint: CORS, exception and exit-stack middleware, matching the path against every route,
the endpoint wrapper and dependency solving, and each response message passed back up through the
same layers. The model routes need none of it: they take the request alone, parse their own bodies
and raise :mod:`ccgw.errors`. :class:`ModelLane` sits just inside :class:`ccgw.web.EdgeMiddleware`
(request id, Host check, body limit) and calls those endpoints directly, mapping their exceptions
with the app's own handlers.

They stay registered with FastAPI, which still serves everything else: other methods on these paths
(405, CORS preflights), the OpenAPI document, and every request from a browser (one with an `Origin`
header), so CORS stays Starlette's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Any], Response | Awaitable[Response]]  # Starlette's exception handler


def plain_routes(routes: Iterable[BaseRoute]) -> dict[str, Endpoint]:
    """POST routes with a fixed path whose endpoint takes the request alone and has no dependencies."""
    plain: dict[str, Endpoint] = {}
    for route in routes:
        if not isinstance(route, APIRoute) or route.methods != {"POST"} or "{" in route.path:
            continue
        if route.dependencies or route.dependant.dependencies:
            continue
        params = list(inspect.signature(route.endpoint).parameters.values())
        if len(params) == 1 and params[0].annotation in (Request, "Request"):
            plain[route.path] = route.endpoint
    return plain


class ModelLane:
    """Serve POSTs to `routes` directly, unless they come from a browser; pass everything else on."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, Endpoint], handlers: Mapping[Any, Handler]) -> None:
        self.app = app
        self.routes = routes
        self.handlers = handlers  # the app's exception handlers (the same dict: filled in later is fine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if endpoint is None or any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise  # unexpected: ServerErrorMiddleware's handler renders the 500, as for any route
            handled = handler(request, exc)
            response = await handled if inspect.isawaitable(handled) else handled
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            if kind is Exception:
                return None
            handler = self.handlers.get(kind)
            if handler is not None:
                return handler
        return None
