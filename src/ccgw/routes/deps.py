"""Dependencies shared by the routes: the gateway object and the caller's identity."""

from __future__ import annotations

from starlette.requests import Request

from ccgw.auth import Identity, presented_key
from ccgw.gateway import Gateway


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def require_key(request: Request) -> Identity:
    """FastAPI dependency: 401 in the caller's protocol unless a configured local key is presented."""
    return get_gateway(request).keys.identify(presented_key(request))
