"""Request id and access log, and the one place where failures become error envelopes."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from domain.errors import DomainError
from service.api.errors import (
    RETRY_AFTER_SECONDS,
    EdgeError,
    InvalidInput,
    envelope,
    error_body,
    row_for,
    row_for_failure,
)
from service.api.jsonio import json_response, unstorable
from service.api.keys import REQUEST_ID
from service.commands.idempotency import KeyReused
from service.commands.runner import ReplayedAnswer, ReplayedRefusal
from service.metrics import LATENCY, REQUESTS

# A client's X-Request-Id is kept only if it is a plain token: it goes into every log line.
_PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REPLAYED = {"Idempotent-Replayed": "true"}
# No versions named; answers are JSON to be read as such, and hold one tenant's data: no
# cache, shared or private, keeps them.
SAFE_HEADERS = {
    "Server": "accounting-export",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
log = structlog.get_logger("service.http")


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    return route.resource.canonical if route.resource is not None else "unmatched"


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
    response.headers.update(SAFE_HEADERS)
    elapsed = time.perf_counter() - started
    route = _route_label(request)
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
    """Every non-2xx answer carries the contract's error envelope; its status and code come
    from the error table (service.api.errors)."""
    response = await _answer(request, handler)
    body = request.content
    if response.status >= 400 and (not body.is_eof() or body.exception() is not None):
        # A body refused unread (or unreadable): the connection cannot carry another request.
        response.force_close()
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (DomainError, EdgeError) as refusal:
        status, body = error_body(refusal)
        return json_response(body, status, _retry_after(status))
    except ReplayedRefusal as replay:
        status, body = error_body(replay.refusal)
        return json_response(body, status, _REPLAYED)
    except ReplayedAnswer as replay:
        return json_response(replay.answer.body, replay.answer.status, _REPLAYED)
    except KeyReused as reused:
        row = row_for(KeyReused)
        details = {"idempotency_key": reused.key}
        return json_response(envelope(row.error_code, str(reused), details), row.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_refusal(exc)
    except Exception as exc:
        row = row_for_failure(exc)
        if row.status == 503:  # the database away or overwhelmed: the client may retry
            log.warning("unavailable", error=type(exc).__name__, path=request.path)
            message = "The service cannot answer now. Please retry shortly."
        else:
            log.exception("unhandled error", method=request.method, path=request.path)
            message = "An unexpected error occurred. Please try again later."
        body = envelope(row.error_code, message, None)
        return json_response(body, row.status, _retry_after(row.status))


def _retry_after(status: int) -> dict[str, str] | None:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None


def _http_refusal(exc: web.HTTPException) -> web.Response:
    """aiohttp's own refusals (no such route, method, body too large) in the envelope."""
    row = row_for(type(exc))
    if row.kind is Exception:  # a refusal the table does not name: say it as aiohttp does
        code, message = "INTERNAL_ERROR" if exc.status >= 500 else "INVALID_REQUEST", exc.reason
    else:
        code, message = row.error_code, row.meaning.capitalize()
    response = json_response(envelope(code, message, None), exc.status)
    if exc.status == 405 and "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


@web.middleware
async def refuse_nul_in_url(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Text PostgreSQL cannot hold (a NUL character, `%00`; a lone surrogate) in the path or
    query can be neither stored nor looked up: refuse it as a bad request, before any
    handler runs."""
    texts = [request.path, *(text for pair in request.query.items() for text in pair)]
    reason = next((found for text in texts if (found := unstorable(text))), None)
    if reason is not None:
        raise InvalidInput(
            "The URL may not contain the NUL character (U+0000, %00) or a lone surrogate.",
            {"field": "url", "reason": reason},
        )
    return await handler(request)
