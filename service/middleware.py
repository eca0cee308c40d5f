"""Request id + access log, and the single place failures become error envelopes."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from domain.errors import DomainError
from service.errors import (
    HTTP_CODES,
    ApiError,
    domain_error_body,
    error_response,
    invalid_request,
)
from service.jsonio import json_response
from service.metrics import LATENCY, REQUESTS, route_label

REQUEST_ID = web.RequestKey("request_id", str)
# A client's X-Request-Id is kept only if it is a plain token: it goes into every log line.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = structlog.get_logger("service.http")


def request_id_of(request: web.Request) -> str:
    return str(request.get(REQUEST_ID, ""))


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id to every log line of the request and return it as X-Request-Id."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _PLAIN_ID.fullmatch(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    elapsed = time.perf_counter() - started
    route = route_label(request)
    REQUESTS.labels(request.method, route, str(response.status)).inc()
    LATENCY.labels(request.method, route).observe(elapsed)
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round(elapsed * 1000, 2),
    )
    return response


@web.middleware
async def error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every non-2xx answer carries the contract's error envelope."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.error_code, exc.message, exc.details)
    except DomainError as exc:
        status, body = domain_error_body(exc)
        return json_response(body, status=status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(
            exc.status, "INTERNAL_ERROR" if exc.status >= 500 else "INVALID_REQUEST"
        )
        response = error_response(exc.status, code, _reason(exc))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        return error_response(
            500, "INTERNAL_ERROR", "An unexpected error occurred. Please try again later."
        )


@web.middleware
async def refuse_nul_in_url(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A NUL character (U+0000, `%00`) in the path or query cannot be stored or looked up
    (PostgreSQL text cannot hold it): refuse it as a bad request, before any handler runs."""
    query = request.query
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in query.items()):
        raise invalid_request(
            "The URL may not contain the NUL character (U+0000, %00).",
            {"field": "url", "reason": "contains the NUL character"},
        )
    return await handler(request)


def _reason(exc: web.HTTPException) -> str:
    if exc.status == 404:
        return "No such resource."
    if exc.status == 405:
        return "Method not allowed on this resource."
    if exc.status == 413:
        return "Request body too large."
    return exc.reason
