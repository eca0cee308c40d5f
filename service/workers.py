"""The catch-up projectors the service runs in the background, after commit, and their lag
(as metrics and for /readyz). The CLI runs the same projectors (`project`, `seal`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import asyncpg
import structlog

from projections.analytics.projection import analytics_projector
from projections.audit.notes import private_key_from_pem
from projections.audit.sealer import Sealer
from projections.audit.signer import Signer
from projections.catchup import Lag, Projector, follow, lag
from projections.record_counts import CountFolder
from service.metrics import CATCHUP_LAG_EVENTS, CATCHUP_LAG_SECONDS
from service.settings import Settings

log = structlog.get_logger("service.workers")


def signer_for(settings: Settings) -> Signer | None:
    """The checkpoint signer, when a signing key is configured."""
    if settings.audit_signing_key_file is None:
        return None
    key = private_key_from_pem(settings.audit_signing_key_file.read_bytes())
    return Signer(settings.audit_key_name, key)


def catchup_projectors(settings: Settings) -> list[Projector]:
    """Every catch-up projector, in the order they should be run."""
    found: list[Projector] = [analytics_projector(), CountFolder()]
    signer = signer_for(settings)
    if signer is None:
        log.warning("checkpoints are not signed: set AUDIT_SIGNING_KEY_FILE to seal the logs")
    else:
        found.append(
            Sealer(
                signer,
                checkpoint_events=settings.audit_checkpoint_events,
                checkpoint_seconds=settings.audit_checkpoint_seconds,
            )
        )
    return found


class LagWatch:
    """The latest lag of each projector, measured at most every `interval` seconds."""

    def __init__(
        self, pool: asyncpg.Pool, interval: float = 1.0, names: Sequence[str] = ()
    ) -> None:
        self.pool = pool
        self.interval = interval
        self.names = tuple(names)  # the projectors to report on, wherever they run
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
