"""The HTTP server around the app: aiohttp's, with our limits, and its own refusals (a
request line or header too long, bytes that are not HTTP) in the error envelope.

aiohttp refuses what its parser cannot read before any middleware runs, answering in
text/plain and logging a multi-line traceback that quotes the offending bytes. It has no
public hook for that answer, so ServiceRunner makes connections with a RequestHandler whose
`handle_error` answers with the envelope and logs one line naming only the kind of error.
What still cannot get an envelope: a connection closed before a whole request line arrived,
and refusals by the kernel (the listen backlog) or by TLS in front of us.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from service.api.errors import InvalidInput, envelope, row_for
from service.api.jsonio import json_response
from service.api.middleware import SAFE_HEADERS
from service.settings import Settings

log = structlog.get_logger("service.http")


def http_limits(settings: Settings) -> dict[str, Any]:
    """What aiohttp's connection handler is given (Application(handler_args=...))."""
    return {
        # The contract allows 500 `ids` of up to 128 characters in one query string.
        "max_line_size": settings.http_max_line_bytes,
        "max_field_size": settings.http_max_header_bytes,
        # An idle connection is closed after this; so is one whose request headers have not
        # all arrived by then (aiohttp's keep-alive timer runs until a whole request is read).
        "keepalive_timeout": settings.http_idle_timeout,
        # After an early answer (413, 415, a timeout) the rest of a body is read and dropped
        # for at most this long, not aiohttp's 10 s, before the connection is closed.
        "lingering_time": min(2.0, settings.http_idle_timeout),
    }


class EnvelopeRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        request_id = uuid.uuid4().hex
        kind = type(exc).__name__ if exc is not None else "none"
        # The exception's text quotes the request's bytes (maybe a token): only its kind.
        log.warning("http request refused", status=status, error=kind, request_id=request_id)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer was already being sent")
        row = row_for(InvalidInput if status < 500 else Exception)
        text = (
            "The request could not be read as HTTP/1.1."
            if status < 500
            else "An unexpected error occurred. Please try again later."
        )
        details = {"field": "http", "reason": kind} if status < 500 else None
        response = json_response(envelope(row.error_code, text, details), row.status)
        response.headers.update(SAFE_HEADERS)
        response.headers["X-Request-Id"] = request_id
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            log.warning("http connection error", error=type(exc).__name__)
        else:
            log.error("http connection error", exc_info=exc or True)


class EnvelopeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class ServiceRunner(web.AppRunner):
    """An AppRunner whose connections answer parser errors with the envelope."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return EnvelopeServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )
