"""What the routes share: the gateway and identity dependencies, body schemas, the translation context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ccgw.auth import Identity, presented_key
from ccgw.gateway import Gateway
from ccgw.translate.common import Context

# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
# which costs more than the whole rest of a small request.


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_gateway(request: Request) -> Gateway:
    return gateway_of(request)


def caller(request: Request) -> tuple[Gateway, Identity]:
    """The gateway and the caller, for the hot routes, which skip dependency injection (it costs)."""
    gateway = gateway_of(request)
    return gateway, gateway.keys.identify(presented_key(request))


async def require_key(request: Request) -> Identity:
    """401 in the caller's protocol unless a configured local key is presented."""
    return gateway_of(request).keys.identify(presented_key(request))


def body_schema(name: str) -> dict[str, Any]:
    """OpenAPI for a body the route parses itself (see `web.read_json`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def context(gateway: Gateway, model: str, images: dict[str, str]) -> Context:
    return Context(
        model=model,
        max_tokens_default=gateway.settings.max_tokens_default,
        images=images,
        reasoning_memory=gateway.memory,
        max_image_bytes=gateway.settings.images.max_bytes,
    )
