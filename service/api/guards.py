"""Limits on the work the service takes on: how many requests run at once, and for how long.

Past the limit a request is refused at once (503 with Retry-After) rather than queued: a
queue would only turn an overload into timeouts for everyone. Probes are never refused, so
that an orchestrator sees a busy service as alive and ready.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from service.api.errors import Overloaded, TimedOut
from service.api.keys import SETTINGS

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


class InFlight:
    """A count of the requests being answered, against a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


IN_FLIGHT = web.AppKey("in_flight", InFlight)


@web.middleware
async def limit_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PROBES:
        return await handler(request)
    gate = request.app[IN_FLIGHT]
    if gate.count >= gate.limit:
        raise Overloaded(
            f"The service is answering {gate.limit} requests already; retry shortly.",
            {"reason": "too many requests in flight"},
        )
    gate.count += 1
    seconds = request.app[SETTINGS].request_timeout
    try:
        async with asyncio.timeout(seconds) as deadline:
            return await handler(request)
    except TimeoutError:
        if not deadline.expired():
            raise  # a timeout of its own (the database's), not the request's
        # The handler was cancelled: an open transaction rolled back, nothing was kept.
        raise TimedOut(
            f"The request took longer than {seconds:g} seconds and was abandoned.",
            {"reason": "request timeout"},
        ) from None
    finally:
        gate.count -= 1
