"""Probes, metrics and the OpenAPI document: no token needed."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.answers import Health, Ready
from service.api.auth import METRICS_READ
from service.api.errors import Unavailable
from service.api.keys import LAG, POOL
from service.api.routing import Call, Reply, Routes

routes = Routes()
OPENAPI_TEXT = web.AppKey("openapi_text", str)
OPERATIONS = {"tag": "Operations"}
READY_WITHIN = 2.0  # seconds: a database slower than this is as good as away


@routes.route(
    "GET",
    "/healthz",
    operation_id="getHealth",
    summary="Liveness probe",
    description="The process is up.",
    answers={200: Health},
    **OPERATIONS,
)
async def healthz(call: Call[None, None, None]) -> Reply:
    return Reply({"status": "ok"})


@routes.route(
    "GET",
    "/readyz",
    operation_id="getReadiness",
    summary="Readiness probe",
    description="Ready when the database answers; says how far each catch-up projector is "
    "behind the log.",
    answers={200: Ready},
    errors=(Unavailable,),
    **OPERATIONS,
)
async def readyz(call: Call[None, None, None]) -> Reply:
    app = call.request.app
    try:
        # asyncpg's own timeouts: they cancel cleanly, never mid-protocol.
        async with app[POOL].acquire(timeout=READY_WITHIN / 2) as conn:
            await conn.fetchval("SELECT 1", timeout=READY_WITHIN / 2)
        for name in app[LAG].names:
            await app[LAG].measure(name)  # at most once a second each
    except Exception as exc:  # any failure to reach the database means "not ready"
        raise Unavailable(f"Database unreachable: {type(exc).__name__}") from None
    lags = {
        name: {"events": lag.events, "seconds": lag.seconds}
        for name, lag in app[LAG].latest.items()
    }
    return Reply({"status": "ready", "projectors": lags})


@routes.route(
    "GET",
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics",
    description="Request, latency, export and retry counters. They name no tenant, but say "
    "how the service is used: a token with the metrics scope is needed (extension).",
    answers={200: {"type": "string"}},
    media_type="text/plain",
    scopes=(METRICS_READ,),
    **OPERATIONS,
)
async def metrics(call: Call[None, None, None]) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.route(
    "GET",
    "/openapi.json",
    operation_id="getOpenApiDocument",
    summary="This document",
    description="The OpenAPI 3.0.3 description of this service.",
    answers={200: {"type": "object"}},
    **OPERATIONS,
)
async def openapi_json(call: Call[None, None, None]) -> web.Response:
    return web.Response(text=call.request.app[OPENAPI_TEXT], content_type="application/json")
