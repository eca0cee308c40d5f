"""Open the service's database: a pool whose schema is migrated to what this code needs."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from eventstore.migrate import migrate
from eventstore.pool import create_pool
from eventstore.types import Conn

# Each package migrates the tables it owns, the event log first.
OWNERS = (
    "eventstore",
    "projections",
    "projections.analytics",
    "projections.audit",
    "service.commands",
)

log = structlog.get_logger("service.database")


async def migrate_schema(conn: Conn) -> list[str]:
    applied = await migrate(conn, OWNERS)
    if applied:
        log.info("migrations applied", migrations=applied)
    return applied


async def open_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float = 30.0,
    **timeouts: float,
) -> asyncpg.Pool:
    """A pool on `dsn`, after bringing the schema up to date. `timeouts`: those of
    eventstore.pool.create_pool."""
    pool = await create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout, **timeouts
    )
    try:
        async with pool.acquire() as conn, conn.transaction():
            # A migration may take longer than any request is allowed to.
            await conn.execute("SET LOCAL statement_timeout = 0")
            await migrate_schema(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


async def close_pool(pool: asyncpg.Pool, within: float) -> None:
    """Close gracefully (connections released first) within `within` seconds, else terminate."""
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:
        log.warning("pool close timed out: terminating its connections")
        pool.terminate()
