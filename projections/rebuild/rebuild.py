"""`rebuild`: replay the whole log into shadow tables and swap them in while the API keeps
answering.

1. Fold every stream, as one snapshot holds it, into the shadow tables (COPY, a chunk of
   streams per short transaction).
2. Follow the feed from that snapshot's gap-safe head with the catch-up runner, the shadow
   tables as its target, until it is within a batch of the head.
3. Swap, in one short transaction. A projection kept by a catch-up projector: lock that
   projector's checkpoint (its rounds wait), swap the tables, and give it the shadow's
   checkpoint, so its effect stays exactly once. An inline projection: lock the live tables
   (writers, and readers, wait only now), fold into the shadow the streams that moved since
   its checkpoint, swap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from eventstore.streams import read_streams
from eventstore.types import Conn
from projections.catchup import checkpoint, run_round
from projections.rebuild.shadow import analyze, shadow_workspace, swap_tables
from projections.rebuild.snapshot import Progress, fold_snapshot, quiet, snapshot_head
from projections.stream_projection import StreamProjection, StreamProjector

SWAP_ATTEMPTS = 10
_CHECKPOINT = """
INSERT INTO projector_checkpoints (projector, tx, position, events) VALUES ($1, $2, $3, $4)
ON CONFLICT (projector) DO UPDATE SET tx = $2, position = $3, events = $4, updated_at = now()
"""
_HAND_OVER = """
UPDATE projector_checkpoints AS live
SET tx = shadow.tx, position = shadow.position, events = shadow.events, updated_at = now()
FROM projector_checkpoints AS shadow
WHERE live.projector = $1 AND shadow.projector = $2
"""
_MOVED_SINCE = """
SELECT DISTINCT account_id, stream_id FROM events
WHERE (tx, position) > ($1::text::xid8, $2::bigint) AND type = ANY($3::text[])
"""


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    events: int  # folded from the snapshot
    followed: int  # then from the feed, before the swap
    seconds: float


async def rebuild(
    pool: asyncpg.Pool, projection: StreamProjection, *, progress: Progress = quiet
) -> RebuildReport:
    started = time.perf_counter()
    shadow = f"shadow_{projection.name}"
    follower = StreamProjector(projection, shadow, f"shadow:{projection.name}")
    async with shadow_workspace(pool, projection, shadow) as work:
        reader, writer = work.reader, work.writer
        try:
            async with reader.transaction(isolation="repeatable_read", readonly=True):
                head = await snapshot_head(reader)
                events = await fold_snapshot(reader, writer, projection, shadow, progress=progress)
            await writer.execute(_CHECKPOINT, follower.name, head.tx, head.position, events)
            followed = await _follow_to_head(pool, follower)
            await analyze(writer, projection, shadow)
            await _swap_when_free(pool, writer, follower, work.live)
        finally:
            await writer.execute(
                "DELETE FROM projector_checkpoints WHERE projector = $1", follower.name
            )
    return RebuildReport(projection.name, events, followed, time.perf_counter() - started)


async def _follow_to_head(pool: asyncpg.Pool, follower: StreamProjector, batch: int = 1000) -> int:
    done = 0
    while True:
        count = await run_round(pool, follower, batch) or 0
        done += count
        if count < batch:
            return done


async def _swap_when_free(
    pool: asyncpg.Pool, conn: Conn, follower: StreamProjector, live: str
) -> None:
    """Swap; a lock not granted within a moment (a long reader) means: follow, try again."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '2s'")
                await _swap(conn, follower, live)
            return
        except asyncpg.LockNotAvailableError:
            if attempt == SWAP_ATTEMPTS:
                raise
            await _follow_to_head(pool, follower)


async def _swap(conn: Conn, follower: StreamProjector, live: str) -> None:
    projection, shadow = follower.projection, follower.schema
    if projection.kept_by_projector:
        await conn.execute(
            "INSERT INTO projector_checkpoints (projector) VALUES ($1) ON CONFLICT DO NOTHING",
            projection.name,
        )
        await conn.execute(
            "SELECT FROM projector_checkpoints WHERE projector = $1 FOR UPDATE", projection.name
        )
        await swap_tables(conn, projection, live, shadow)
        await conn.execute(_HAND_OVER, projection.name, follower.name)
        return
    tables = ", ".join(table.at(live) for table in projection.tables)
    await conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
    at = await checkpoint(conn, follower.name)
    types = sorted(projection.event_types)
    moved = await conn.fetch(_MOVED_SINCE, str(at.tx), at.position, types)
    streams = await read_streams(conn, [(r["account_id"], r["stream_id"]) for r in moved])
    await projection.project(conn, shadow, streams, fresh=False)
    await swap_tables(conn, projection, live, shadow)
    await projection.swapped(conn)
