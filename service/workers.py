"""The catch-up projectors the service runs in the background, after commit, and their lag
(as metrics and for /readyz). The CLI runs the same projectors (`project`, `seal`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import structlog

from projections.analytics.projection import analytics_projector
from projections.catchup import Lag, Projector, follow, lag
from service.metrics import CATCHUP_LAG_EVENTS, CATCHUP_LAG_SECONDS
from service.settings import Settings

log = structlog.get_logger("service.workers")


def catchup_projectors(settings: Settings) -> list[Projector]:
    """Every catch-up projector, in the order they should be run."""
    return [analytics_projector()]


class LagWatch:
    """The latest lag of each projector, measured at most every `interval` seconds."""

    def __init__(self, pool: asyncpg.Pool, interval: float = 1.0) -> None:
        self.pool = pool
        self.interval = interval
        self.latest: dict[str, Lag] = {}
        self._measured: dict[str, float] = {}

    async def measure(self, name: str) -> None:
        now = time.monotonic()
        if now - self._measured.get(name, 0.0) < self.interval:
            return
        self._measured[name] = now
        async with self.pool.acquire() as conn:
            found = await lag(conn, name)
        self.latest[name] = found
        CATCHUP_LAG_EVENTS.labels(name).set(found.events)
        CATCHUP_LAG_SECONDS.labels(name).set(found.seconds)


async def run_catchup(
    pool: asyncpg.Pool, projectors: list[Projector], watch: LagWatch
) -> AsyncIterator[None]:
    """Follow the feed with every projector until the generator is closed (a cleanup
    context's shape): started with the service, stopped before its pool closes."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(follow(pool, p, stop, on_round=watch.measure), name=p.name)
        for p in projectors
    ]
    if tasks:
        log.info("catch-up projectors started", projectors=[p.name for p in projectors])
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
