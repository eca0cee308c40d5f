"""Open the service's database: a pool whose schema is migrated to what this code needs."""

from __future__ import annotations

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
    dsn: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 30.0
) -> asyncpg.Pool:
    """A pool on `dsn`, after bringing the schema up to date."""
    pool = await create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout
    )
    try:
        async with pool.acquire() as conn:
            await migrate_schema(conn)
    except BaseException:
        await pool.close()
        raise
    return pool
