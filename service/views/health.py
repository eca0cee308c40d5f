"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web

from service.appkeys import POOL
from service.errors import error_response
from service.jsonio import json_response

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[POOL].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:  # any failure to reach the database means "not ready"
        return error_response(503, "INTERNAL_ERROR", f"Database unreachable: {type(exc).__name__}")
    return json_response({"status": "ready"})
