"""Append to and read from the `events` table (asyncpg only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from eventstore.errors import ConcurrencyConflict
from eventstore.types import START, Conn, FeedCursor, FeedPage, NewEvent, RecordedEvent, StreamWrite

# One statement for any batch. The first event of each stream must follow an existing
# version (or be version 1); the unique (account_id, stream_id, version) key catches
# writers that raced past the same expected version.
_APPEND = """
INSERT INTO events (event_id, account_id, stream_id, version, type, schema_version, data, metadata)
SELECT i.event_id, i.account_id, i.stream_id, i.version, i.type, i.schema_version,
       i.data, i.metadata
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[],
            $7::jsonb[], $8::jsonb[], $9::bool[]) WITH ORDINALITY
     AS i(event_id, account_id, stream_id, version, type, schema_version, data, metadata,
          check_prev, ord)
WHERE NOT i.check_prev OR EXISTS (
    SELECT 1 FROM events p
    WHERE p.account_id = i.account_id AND p.stream_id = i.stream_id AND p.version = i.version - 1)
ORDER BY i.ord
RETURNING position, tx::text::bigint AS tx, event_id, account_id, stream_id, version, type,
          schema_version, data, metadata, recorded_at
"""

_COLUMNS = """position, tx::text::bigint AS tx, event_id, account_id, stream_id, version, type,
              schema_version, data, metadata, recorded_at"""

# Only transactions older than every running one are read: a row whose transaction is
# still open (or committed after a later-positioned row) is waited for, never skipped.
_READ_ALL = f"""
SELECT {_COLUMNS} FROM events
WHERE (tx, position) > ($1::text::xid8, $2::bigint)
  AND tx < pg_snapshot_xmin(pg_current_snapshot())
  AND ($3::text IS NULL OR account_id = $3)
ORDER BY tx, position
LIMIT $4
"""

_READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE account_id = $1 AND stream_id = $2 AND version > $3
ORDER BY version
"""

_UNIQUE_VERSION = "events_account_id_stream_id_version_key"


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(**dict(row.items()))


def _columns(writes: Sequence[StreamWrite]) -> tuple[list[Any], ...]:
    cols: tuple[list[Any], ...] = tuple([] for _ in range(9))
    for write in writes:
        for offset, event in enumerate(write.events):
            values = _row(write, event, offset)
            for col, value in zip(cols, values, strict=True):
                col.append(value)
    return cols


def _row(write: StreamWrite, event: NewEvent, offset: int) -> tuple[Any, ...]:
    version = write.expected_version + offset + 1
    check_prev = offset == 0 and version > 1
    return (
        event.event_id,
        write.account_id,
        write.stream_id,
        version,
        event.type,
        event.schema_version,
        dict(event.data),
        dict(event.metadata),
        check_prev,
    )


async def append(conn: Conn, writes: Sequence[StreamWrite]) -> list[RecordedEvent]:
    """Append events to one or many streams in one statement, all or none.

    Raises ConcurrencyConflict when any stream is not at its expected version.
    """
    expected = sum(len(w.events) for w in writes)
    if expected == 0:
        return []
    streams = [(w.account_id, w.stream_id) for w in writes]
    if not conn.is_in_transaction():
        async with conn.transaction():
            return await _append(conn, writes, streams, expected)
    return await _append(conn, writes, streams, expected)


async def _append(
    conn: Conn,
    writes: Sequence[StreamWrite],
    streams: list[tuple[str, str]],
    expected: int,
) -> list[RecordedEvent]:
    try:
        rows = await conn.fetch(_APPEND, *_columns(writes))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _UNIQUE_VERSION:
            raise ConcurrencyConflict(streams, "a version was already taken") from None
        raise
    if len(rows) != expected:
        raise ConcurrencyConflict(streams, "a stream is behind its expected version")
    return [_recorded(row) for row in rows]


async def read_stream(
    conn: Conn, account_id: str, stream_id: str, after_version: int = 0
) -> list[RecordedEvent]:
    """Every event of one stream after `after_version`, oldest first."""
    rows = await conn.fetch(_READ_STREAM, account_id, stream_id, after_version)
    return [_recorded(row) for row in rows]


async def read_all(
    conn: Conn,
    after: FeedCursor = START,
    limit: int = 1000,
    account_id: str | None = None,
) -> FeedPage:
    """The next committed events after `after`, in an order no later commit can precede."""
    rows = await conn.fetch(_READ_ALL, str(after.tx), after.position, account_id, limit)
    events = [_recorded(row) for row in rows]
    return FeedPage(events, events[-1].cursor if events else after)
