"""Folding every stream of a projection, as one snapshot of the log holds them, into tables
being built."""

from __future__ import annotations

from collections.abc import Callable

from eventstore.streams import Stream, scan_streams
from eventstore.types import START, Conn, FeedCursor
from projections.stream_projection import StreamProjection

# Events folded so far, and in all.
Progress = Callable[[int, int], None]
# How many of a stream's events to fold (verify folds each stream as far as the live
# projection has); None: all of them.
Cut = Callable[[Stream], int]

_HEAD = """
SELECT tx::text::bigint AS tx, position FROM events
WHERE tx < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx DESC, position DESC LIMIT 1
"""
_COUNT = "SELECT count(*) FROM events WHERE type = ANY($1::text[])"


def quiet(done: int, total: int) -> None:
    return None


async def snapshot_head(conn: Conn) -> FeedCursor:
    """The feed's gap-safe head in the snapshot of `conn`'s transaction: every event up to it
    is in the snapshot, so a catch-up from there misses none. (Events after it that the
    snapshot holds come again through the feed and change nothing: their streams were
    folded past them.)"""
    row = await conn.fetchrow(_HEAD)
    return FeedCursor(row["tx"], row["position"]) if row else START


async def fold_snapshot(
    reader: Conn,
    writer: Conn,
    projection: StreamProjection,
    schema: str,
    *,
    cut: Cut | None = None,
    progress: Progress = quiet,
) -> int:
    """Fold every stream of `projection` that `reader`'s snapshot holds (it must be in a
    REPEATABLE READ transaction) into the empty tables in `schema`, through `writer`, a
    chunk of streams per transaction: short ones, that never hold back the feed. Returns
    the number of events read."""
    types = sorted(projection.event_types)
    total = int(await reader.fetchval(_COUNT, types))
    done = 0
    progress(done, total)
    async for chunk in scan_streams(reader, types):
        streams = chunk if cut is None else [s[:n] for s in chunk if (n := cut(s))]
        async with writer.transaction():
            await projection.project(writer, schema, streams, fresh=True)
        done += sum(len(stream) for stream in chunk)
        progress(done, total)
    return done
