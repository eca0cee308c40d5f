"""Append to and read from the `events` table (asyncpg only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from eventstore.canonical import canonical_json, parts_around_time
from eventstore.errors import ConcurrencyConflict
from eventstore.types import START, Conn, FeedCursor, FeedPage, NewEvent, RecordedEvent, StreamWrite

_COLUMNS = """position, tx::text::bigint AS tx, event_id, account_id, stream_id, version, type,
              schema_version, data, metadata, recorded_at, prev_hash, hash"""

# One statement for any batch. A stream's first event in the batch must follow a stored
# one (or be version 1) and chains to its hash; each later event of the batch chains to the
# one before it (the recursion). The unique (account_id, stream_id, version) key catches
# writers that raced past the same version. The database gives the time, one for the
# statement; the hash covers it, so it is formed here, from the canonical text the caller
# sends around it (eventstore.canonical).
_HASH = """sha256({prev} || convert_to(
           i.head || to_char(now.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
           || i.tail, 'UTF8'))"""
_APPEND = f"""
WITH RECURSIVE now AS MATERIALIZED (SELECT clock_timestamp() AS at),
input AS MATERIALIZED (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[])
           WITH ORDINALITY
           AS i(event_id, account_id, stream_id, version, type, schema_version, data, metadata,
                head, tail, first, ord)),
chain AS (
    SELECT i.*, link.prev, {_HASH.format(prev="link.prev")} AS hash,
           i.version = 1 OR p.position IS NOT NULL AS valid
    FROM input i CROSS JOIN now
    LEFT JOIN events p
           ON p.account_id = i.account_id AND p.stream_id = i.stream_id
          AND p.version = i.version - 1
    CROSS JOIN LATERAL (SELECT coalesce(p.hash, '\\x{"00" * 32}'::bytea) AS prev) link
    WHERE i.first
  UNION ALL
    SELECT i.*, c.hash, {_HASH.format(prev="c.hash")}, c.valid
    FROM chain c CROSS JOIN now
    JOIN input i ON i.account_id = c.account_id AND i.stream_id = c.stream_id
                AND i.version = c.version + 1 AND NOT i.first
)
INSERT INTO events (event_id, account_id, stream_id, version, type, schema_version, data,
                    metadata, recorded_at, prev_hash, hash)
SELECT event_id, account_id, stream_id, version, type, schema_version, data::jsonb,
       metadata::jsonb, (SELECT at FROM now), prev, hash
FROM chain WHERE valid
ORDER BY ord
RETURNING {_COLUMNS}
"""

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

Row = tuple[Any, ...]


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(**dict(row.items()))


def _row(write: StreamWrite, event: NewEvent, version: int) -> Row:
    data, metadata = canonical_json(event.data), canonical_json(event.metadata)
    head, tail = parts_around_time(
        account_id=write.account_id,
        stream_id=write.stream_id,
        version=version,
        type=event.type,
        schema_version=event.schema_version,
        data_text=data,
        metadata_text=metadata,
    )
    return (
        event.event_id,
        write.account_id,
        write.stream_id,
        version,
        event.type,
        event.schema_version,
        data,
        metadata,
        head,
        tail,
    )


def _rows(writes: Sequence[StreamWrite]) -> list[Row]:
    return [
        (*_row(write, event, write.expected_version + offset + 1), offset == 0)
        for write in writes
        for offset, event in enumerate(write.events)
    ]


async def append(conn: Conn, writes: Sequence[StreamWrite]) -> list[RecordedEvent]:
    """Append events to one or many streams in one statement, all or none, each chained to
    its stream's previous event. Returns them in the order given.

    Raises ConcurrencyConflict when any stream is not at its expected version.
    """
    rows = _rows(writes)
    if not rows:
        return []
    streams = [(w.account_id, w.stream_id) for w in writes]
    if not conn.is_in_transaction():
        async with conn.transaction():
            return await _append(conn, streams, rows)
    return await _append(conn, streams, rows)


async def _append(
    conn: Conn, streams: list[tuple[str, str]], rows: list[Row]
) -> list[RecordedEvent]:
    try:
        found = await conn.fetch(_APPEND, *zip(*rows, strict=True))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _UNIQUE_VERSION:
            raise ConcurrencyConflict(streams, "a version was already taken") from None
        raise
    if len(found) != len(rows):
        raise ConcurrencyConflict(streams, "a stream is behind its expected version")
    return [_recorded(row) for row in found]


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
