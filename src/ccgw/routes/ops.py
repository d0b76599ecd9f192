"""Operational routes: health and usage (no key needed, as in cmdcode2apipy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ccgw.gateway import Gateway
from ccgw.routes.deps import get_gateway
from ccgw.web import JSONResponse

router = APIRouter()


@router.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/usage")
async def usage(gateway: Annotated[Gateway, Depends(get_gateway)]) -> JSONResponse:
    tree = gateway.usage.snapshot()
    tree["cost_usd"] = round(tree["cost_micro"] / 1_000_000, 6)
    return JSONResponse(tree)
