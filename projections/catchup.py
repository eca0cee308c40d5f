"""The catch-up runner: projectors that follow the gap-safe feed after commit.

Each round runs in one transaction: lock the projector's checkpoint row, read the next
committed events after it, let the projector write its rows, move the checkpoint. A crash
anywhere rolls back rows and checkpoint together, so every event takes effect exactly
once, and the next round resumes where the last committed one stopped. Two runners of one
projector (the service's background task and the CLI) never overlap: a round that finds
the checkpoint locked skips.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog

from eventstore.store import read_feed
from eventstore.types import Conn, FeedCursor, FeedEntry

log = structlog.get_logger("projections.catchup")

_CLAIM = """
INSERT INTO projector_checkpoints (projector) VALUES ($1) ON CONFLICT DO NOTHING;
"""
_LOCK = """
SELECT tx, position, events FROM projector_checkpoints WHERE projector = $1
FOR UPDATE SKIP LOCKED
"""
_MOVE = """
UPDATE projector_checkpoints SET tx = $2, position = $3, events = events + $4, updated_at = now()
WHERE projector = $1
"""
# Events committed after the checkpoint (at most `cap`), and the age of the oldest of them.
_LAG = """
SELECT count(*) AS events, extract(epoch FROM now() - min(recorded_at)) AS seconds
FROM (SELECT recorded_at FROM events
      WHERE (tx, position) > ($1::text::xid8, $2::bigint) LIMIT $3) AS behind
"""


class Projector(Protocol):
    """Something that turns committed events into rows, inside the runner's transaction."""

    name: str

    async def apply(self, conn: Conn, events: Sequence[FeedEntry]) -> None: ...

    async def tick(self, conn: Conn) -> None:
        """Called every round, events or not (for work that is due by time)."""
        ...


@dataclass(frozen=True)
class Lag:
    events: int  # committed events not yet projected (counted up to a cap)
    seconds: float  # how long the oldest of them has waited


async def checkpoint(conn: Conn, name: str) -> FeedCursor:
    row = await conn.fetchrow(
        "SELECT tx, position FROM projector_checkpoints WHERE projector = $1", name
    )
    return FeedCursor(row["tx"], row["position"]) if row else FeedCursor(0, 0)


async def run_round(pool: asyncpg.Pool, projector: Projector, batch: int = 1000) -> int | None:
    """One round; the number of events projected, or None when another runner holds the
    projector."""
    async with pool.acquire() as conn:
        await conn.execute(_CLAIM, projector.name)
        async with conn.transaction():
            row = await conn.fetchrow(_LOCK, projector.name)
            if row is None:
                return None
            entries, after = await read_feed(conn, FeedCursor(row["tx"], row["position"]), batch)
            if entries:
                await projector.apply(conn, entries)
                await conn.execute(_MOVE, projector.name, after.tx, after.position, len(entries))
            await projector.tick(conn)
            return len(entries)


async def catch_up(pool: asyncpg.Pool, projector: Projector, batch: int = 1000) -> int:
    """Project everything committed so far; the number of events projected."""
    done = 0
    while (count := await run_round(pool, projector, batch)) is not None and count > 0:
        done += count
    return done


async def lag(conn: Conn, name: str, cap: int = 100_000) -> Lag:
    at = await checkpoint(conn, name)
    row = await conn.fetchrow(_LAG, str(at.tx), at.position, cap)
    assert row is not None
    return Lag(int(row["events"]), float(row["seconds"] or 0.0))


async def follow(
    pool: asyncpg.Pool,
    projector: Projector,
    stop: asyncio.Event,
    *,
    batch: int = 1000,
    idle_wait: float = 0.5,
    on_round: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Keep projecting until `stop` is set. Failures (the database away, a bug in a
    projector) are logged and retried after a pause; they never end the loop."""
    pause = idle_wait
    while not stop.is_set():
        try:
            count = await run_round(pool, projector, batch)
            if on_round is not None:
                await on_round(projector.name)
            pause = idle_wait
        except Exception:
            log.exception("catch-up round failed", projector=projector.name)
            count, pause = None, min(pause * 2, 30.0)
        if count is None or count < batch:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
