"""Operational routes: health, usage, the request ledger, metrics and the dashboard.

`/usage`, `/usage/recent`, `/metrics` and `/dashboard` need no key unless `usage_requires_key` is
set (they hold counts and names, never keys; ccgw listens on localhost by default, and
cmdcode2apipy's `/usage` had no key). `/v1/usage/{request_id}` always needs one, like every `/v1` route.

A request id is a key's own: `/v1/usage/{id}` answers only the key that made the request (or an
`admin` key), and `/usage/recent` shows ids only to a key, and only its own.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ccgw.auth import Identity, presented_key
from ccgw.browser import html_headers
from ccgw.errors import GatewayError, NotFoundError, ServiceUnavailableError
from ccgw.gateway import Gateway
from ccgw.routes.deps import gateway_of, get_gateway, require_key
from ccgw.usage import iso
from ccgw.web import JSONResponse

router = APIRouter()
T = TypeVar("T")


async def read_storage(query: Awaitable[T]) -> T:
    """A database read for a usage page; a failing database is a clear 503, not a 500."""
    try:
        return await query
    except (SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        raise ServiceUnavailableError(
            f"The usage storage cannot be read now: {reason}", code="storage_unavailable"
        ) from None


async def usage_access(request: Request) -> None:
    """The key check for the usage pages, when the config asks for one."""
    gateway = gateway_of(request)
    if gateway.settings.usage_requires_key:
        gateway.keys.identify(presented_key(request))


@router.get("/health")
async def health(
    request: Request, gateway: Annotated[Gateway, Depends(get_gateway)], detail: bool = False
) -> JSONResponse:
    """Cheap liveness; `?detail=1` (with a key) adds each Command Code account's state."""
    if not detail:
        return JSONResponse({"status": "ok"})
    gateway.keys.identify(presented_key(request))
    accounts = gateway.pool.states()
    healthy = sum(a["state"] == "healthy" for a in accounts)
    status = "ok" if healthy == len(accounts) and accounts else ("degraded" if healthy else "unavailable")
    storage, shared = gateway.store.status(), gateway.shared.status()
    if status == "ok" and (storage["status"] != "ok" or shared["status"] != "ok"):
        status = "degraded"
    return JSONResponse({"status": status, "accounts": accounts, "storage": storage, "shared_state": shared})


@router.get("/usage", dependencies=[Depends(usage_access)])
async def usage(gateway: Annotated[Gateway, Depends(get_gateway)]) -> JSONResponse:
    tree: dict[str, Any] = await read_storage(gateway.store.tree())
    tree["cost_usd"] = round(tree["cost_micro"] / 1_000_000, 6)
    await gateway.plan.current()
    tree["plan"] = gateway.plan.public()
    # Each account's upstream path now, and why (its counts in `by_account` may span both paths).
    tree["accounts"] = [{"name": a.name, **a.access.public()} for a in gateway.pool.accounts]
    for account in gateway.pool.accounts:
        tree["by_account"].setdefault(account.name, {})["path"] = account.access.path
    tree["updated_at"] = iso(gateway.clock())
    tree["storage"] = gateway.store.status()
    return JSONResponse(tree)


def _viewer(request: Request, gateway: Gateway) -> Identity | None:
    """Who is looking, if they presented a valid key."""
    try:
        return gateway.keys.identify(presented_key(request))
    except GatewayError:
        return None


def _owns(viewer: Identity | None, entry: dict[str, Any]) -> bool:
    return viewer is not None and (viewer.admin or entry.get("key") == viewer.name)


@router.get("/usage/recent", dependencies=[Depends(usage_access)])
async def recent(
    request: Request,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    entries = await read_storage(gateway.store.recent(limit))
    viewer = _viewer(request, gateway)
    for entry in entries:
        if not _owns(viewer, entry):
            entry.pop("request_id", None)
    return JSONResponse({"requests": entries})


@router.get("/v1/usage/{request_id}")
async def request_usage(
    request_id: str,
    gateway: Annotated[Gateway, Depends(get_gateway)],
    identity: Annotated[Identity, Depends(require_key)],
) -> JSONResponse:
    entry = await read_storage(gateway.store.lookup(request_id))
    if entry is None or not _owns(identity, entry):  # another key's request is as unknown as no request
        days = f"{gateway.settings.storage.ledger_days:g}"
        raise NotFoundError(f"No usage recorded for request {request_id!r} (ccgw keeps requests for {days} days)")
    prompt = int(entry.get("input_tokens", 0))
    read, write = int(entry.get("cache_read_tokens", 0)), int(entry.get("cache_write_tokens", 0))
    return JSONResponse(
        {
            **entry,
            "prompt_tokens": prompt,
            "input_tokens": max(0, prompt - read - write),  # Anthropic's disjoint form, as in seed 002
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": write,
            "cost_usd": round(int(entry.get("cost_micro", 0)) / 1_000_000, 6),
        }
    )


@router.get("/metrics", dependencies=[Depends(usage_access)])
async def metrics(gateway: Annotated[Gateway, Depends(get_gateway)]) -> Response:
    return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@functools.cache
def _dashboard_page() -> str:
    return resources.files("ccgw.dashboard").joinpath("index.html").read_text(encoding="utf-8")


_DASHBOARD_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
)


@router.get("/dashboard")
async def dashboard() -> HTMLResponse:
    # No key here: the page asks for one itself when the JSON endpoints want it.
    return HTMLResponse(_dashboard_page(), headers=html_headers(_DASHBOARD_CSP))
