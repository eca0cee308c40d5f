"""Prometheus metrics, served at GET /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)
EXPORT_RESULTS = Counter(
    "export_results_recorded_total",
    "Export outcomes recorded (ExportSuccess, ExportFailure)",
    ["outcome"],
)
CONFLICT_RETRIES = Counter(
    "command_conflict_retries_total", "Commands re-run after losing a race on a stream version"
)

routes = web.RouteTableDef()


def route_label(request: web.Request) -> str:
    route = request.match_info.route
    return route.resource.canonical if route.resource is not None else "unmatched"


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
