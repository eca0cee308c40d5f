"""Keeping the embedded PostgreSQL alive while the service runs.

If its server dies (a crash, the OOM killer, a kill), the watch starts it again: PostgreSQL
runs crash recovery from its write-ahead log on start, so every committed transaction is
there and none of an uncommitted one. The pool needs nothing: asyncpg replaces a dead
connection on its next acquire. Meanwhile requests fail fast with 503 and /readyz says 503.
If the server cannot be started again within the deadline (its data directory gone, the
disk full), the watch gives up and the service exits non-zero for a supervisor to act.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from prometheus_client import Counter

from service.ops.embedded_postgres import EmbeddedPostgres

log = structlog.get_logger("service.embedded")
RESTARTS = Counter("embedded_postgres_restarts_total", "Restarts of the embedded PostgreSQL")


def recover(cluster: EmbeddedPostgres) -> None:
    """Start a cluster whose server died (start waits for the dead server's backends to
    exit). Never initdb: a missing data directory is a failure, not a new empty database."""
    if not (cluster.pgdata / "PG_VERSION").is_file():
        raise RuntimeError(f"no PostgreSQL data directory at {cluster.pgdata}")
    cluster.start()


async def keep_alive(
    cluster: EmbeddedPostgres,
    *,
    deadline: float,
    on_lost: Callable[[], None],
    interval: float = 0.25,
) -> None:
    """Watch the server every `interval` seconds and restart it when it is gone; call
    `on_lost` when it could not be restarted within `deadline` seconds."""
    while True:
        await asyncio.sleep(interval)
        if cluster.is_running():
            continue
        down_since = time.monotonic()
        log.error("embedded PostgreSQL is down: restarting it", pgdata=str(cluster.pgdata))
        while True:
            try:
                await asyncio.to_thread(recover, cluster)
            except Exception as exc:
                if time.monotonic() - down_since > deadline:
                    log.critical("embedded PostgreSQL cannot be restarted", error=str(exc))
                    on_lost()
                    return
                log.warning("embedded PostgreSQL restart failed, retrying", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            RESTARTS.inc()
            seconds = round(time.monotonic() - down_since, 3)
            log.warning("embedded PostgreSQL restarted", down_seconds=seconds)
            break
