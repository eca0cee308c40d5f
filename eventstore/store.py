"""Append to and read from the `events` table (asyncpg only)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from eventstore.canonical import canonical_json, parts_around_time
from eventstore.errors import ConcurrencyConflict
from eventstore.statement import Statement
from eventstore.types import (
    START,
    Conn,
    EventText,
    FeedCursor,
    FeedEntry,
    FeedPage,
    JsonObject,
    NewEvent,
    RecordedEvent,
    StreamWrite,
)

_COLUMNS = """position, tx::text::bigint AS tx, event_id, account_id, stream_id, version, type,
              schema_version, data, metadata, recorded_at, prev_hash, hash"""

# The append as parts of a statement. A stream's first event in the batch must follow a
# stored one (or be version 1) and chains to its hash; each later event of the batch chains
# to the one before it (the recursion). A stream that is not at its expected version, or a
# `requires` condition of the writer that no longer holds, aborts the whole statement (a
# concurrency conflict); the unique (account_id, stream_id, version) key catches writers
# that raced past the same version. The time is one for the statement, and the hash covers
# it, so the hash is formed here from the canonical text the caller sends around it.
_HASH = """sha256({prev} || convert_to(
           i.head || to_char(ev_now.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
           || i.tail, 'UTF8'))"""
_INPUT = """
SELECT * FROM unnest({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) WITH ORDINALITY
       AS i(event_id, account_id, stream_id, version, type, schema_version, data, metadata,
            head, tail, first, ord)"""
_INPUT_TYPES = (
    "uuid[]",
    "text[]",
    "text[]",
    "int[]",
    "text[]",
    "int[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "bool[]",
)
_CHAIN = f"""
SELECT i.*, link.prev, {_HASH.format(prev="link.prev")} AS hash,
       i.version = 1 OR p.position IS NOT NULL AS valid
FROM ev_input i CROSS JOIN ev_now
LEFT JOIN events p
       ON p.account_id = i.account_id AND p.stream_id = i.stream_id AND p.version = i.version - 1
CROSS JOIN LATERAL (SELECT coalesce(p.hash, '\\x{"00" * 32}'::bytea) AS prev) link
WHERE i.first
UNION ALL
SELECT i.*, c.hash, {_HASH.format(prev="c.hash")}, c.valid
FROM ev_chain c CROSS JOIN ev_now
JOIN ev_input i ON i.account_id = c.account_id AND i.stream_id = c.stream_id
               AND i.version = c.version + 1 AND NOT i.first"""
_APPENDED = """
INSERT INTO events (event_id, account_id, stream_id, version, type, schema_version, data,
                    metadata, recorded_at, prev_hash, hash)
SELECT event_id, account_id, stream_id, version, type, schema_version, data::jsonb,
       metadata::jsonb, (SELECT at FROM ev_now), prev, hash
FROM ev_chain
WHERE CASE WHEN NOT valid THEN concurrency_conflict(
               'stream ' || account_id || '/' || stream_id || ' is not at version '
               || (version - 1))
           WHEN NOT ({requires}) THEN concurrency_conflict('{what}')
           ELSE true END
ORDER BY ord
RETURNING {columns}"""

# Only transactions older than every running one are read: a row whose transaction is
# still open (or committed after a later-positioned row) is waited for, never skipped. The
# page reads are functions (migration 006) that hold the planner to an ordered index walk.
_ORDER = "ORDER BY tx, position"
_READ_ALL = f"SELECT {_COLUMNS} FROM events_after($1::text::xid8, $2::bigint, $3) {_ORDER}"
_READ_ACCOUNT = f"""
SELECT {_COLUMNS} FROM account_events_after($3, $1::text::xid8, $2::bigint, $4) {_ORDER}"""
_READ_ACCOUNT_TEXT = f"""
SELECT position, tx::text::bigint AS tx, account_id, stream_id, version, type, schema_version,
       data::text AS data_json, metadata::text AS metadata_json, recorded_at, prev_hash, hash
FROM account_events_after($3, $1::text::xid8, $2::bigint, $4) {_ORDER}"""
_READ_FEED = f"""
SELECT position, tx::text::bigint AS tx, account_id, stream_id, version, type, recorded_at, hash
FROM events_after($1::text::xid8, $2::bigint, $3) {_ORDER}"""

_READ_STREAM = f"""
SELECT {_COLUMNS} FROM events
WHERE account_id = $1 AND stream_id = $2 AND version > $3
ORDER BY version
"""

_UNIQUE_VERSION = "events_account_id_stream_id_version_key"

# One stream of several accounts, as rows of a combined read (kind 'event'; key: stream id).
_STREAMS = """
SELECT 'event' AS kind, account_id, stream_id AS key,
       jsonb_build_object('version', version, 'type', type, 'schema_version', schema_version,
                          'data', data) AS doc,
       recorded_at AS at
FROM events WHERE account_id = ANY({}::text[]) AND stream_id = {}"""


@dataclass(frozen=True)
class StreamRow:
    """An event of a stream read as part of a combined read."""

    account_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: JsonObject
    recorded_at: datetime


def streams_read_part(stmt: Statement, account_ids: Sequence[str], stream_id: str) -> str:
    """A read of stream `stream_id` of each account: rows (kind 'event', account_id, key,
    doc, at) that `stream_row` turns back into events."""
    return _STREAMS.format(stmt.unseen(list(account_ids), "text[]"), stmt.param(stream_id, "text"))


def stream_row(account_id: str, stream_id: str, doc: JsonObject, at: datetime) -> StreamRow:
    return StreamRow(
        account_id,
        stream_id,
        doc["version"],
        doc["type"],
        doc["schema_version"],
        doc["data"],
        at,
    )


Row = tuple[Any, ...]


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    # The columns are selected in the order of the fields (a test holds the two together):
    # by position, with no mapping of names built for every row.
    return RecordedEvent(*row)


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


def append_part(
    stmt: Statement,
    writes: Sequence[StreamWrite],
    at: datetime | None = None,
    *,
    requires: str = "true",
    what: str = "a condition of the write no longer holds",
) -> int:
    """Add the append of `writes` to `stmt`, as the common table expression `appended`
    (the stored rows). `at` is the events' time (None: the database clock). The statement
    fails with a concurrency conflict if a stream is not at its expected version or the SQL
    condition `requires` is false. Returns the number of events."""
    rows = _rows(writes)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in _INPUT_TYPES]
    params = [stmt.param(list(c), cast) for c, cast in zip(columns, _INPUT_TYPES, strict=True)]
    clock = stmt.param(at, "timestamptz") if at else "clock_timestamp()"
    stmt.with_("ev_now", f"SELECT {clock} AS at", materialized=True)
    stmt.with_("ev_input", _INPUT.format(*params), materialized=True)
    stmt.with_("ev_chain", _CHAIN)
    stmt.with_("appended", _APPENDED.format(requires=requires, what=what, columns=_COLUMNS))
    return len(rows)


@contextmanager
def conflicts_raised(streams: Sequence[tuple[str, str]] = ()) -> Iterator[None]:
    """Turn the database's ways of saying "someone else wrote first" into
    ConcurrencyConflict: a taken version, a failed guard (SQLSTATE 40001), a deadlock."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == _UNIQUE_VERSION:
            raise ConcurrencyConflict(list(streams), "a version was already taken") from None
        raise
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
        raise ConcurrencyConflict(list(streams), str(exc)) from None


async def append(
    conn: Conn, writes: Sequence[StreamWrite], at: datetime | None = None
) -> list[RecordedEvent]:
    """Append events to one or many streams in one statement, all or none, each chained to
    its stream's previous event. Returns them in the order given.

    Raises ConcurrencyConflict when any stream is not at its expected version.
    """
    stmt = Statement()
    if append_part(stmt, writes, at) == 0:
        return []
    with conflicts_raised([(w.account_id, w.stream_id) for w in writes]):
        found = await conn.fetch(stmt.sql("SELECT * FROM appended"), *stmt.args)
    return [_recorded(row) for row in found]


async def read_stream(
    conn: Conn, account_id: str, stream_id: str, after_version: int = 0
) -> list[RecordedEvent]:
    """Every event of one stream after `after_version`, oldest first."""
    rows = await conn.fetch(_READ_STREAM, account_id, stream_id, after_version)
    return [_recorded(row) for row in rows]


async def read_feed(
    conn: Conn, after: FeedCursor = START, limit: int = 1000
) -> tuple[list[FeedEntry], FeedCursor]:
    """As read_all, every account, without the events' bodies: the next entries and the
    cursor after them."""
    rows = await conn.fetch(_READ_FEED, str(after.tx), after.position, limit)
    entries = [FeedEntry(*row) for row in rows]  # columns in the order of the fields
    return entries, entries[-1].cursor if entries else after


async def read_all(
    conn: Conn,
    after: FeedCursor = START,
    limit: int = 1000,
    account_id: str | None = None,
) -> FeedPage:
    """The next committed events after `after`, in an order no later commit can precede."""
    if account_id is None:
        rows = await conn.fetch(_READ_ALL, str(after.tx), after.position, limit)
    else:
        rows = await conn.fetch(_READ_ACCOUNT, str(after.tx), after.position, account_id, limit)
    events = [_recorded(row) for row in rows]
    return FeedPage(events, events[-1].cursor if events else after)


async def read_account_texts(
    conn: Conn, account_id: str, after: FeedCursor = START, limit: int = 1000
) -> tuple[list[EventText], FeedCursor]:
    """As read_all for one account, the bodies left as the stored JSON text (decoding them
    is most of a feed page's cost): the next events and the cursor after them."""
    rows = await conn.fetch(_READ_ACCOUNT_TEXT, str(after.tx), after.position, account_id, limit)
    events = [EventText(**dict(row.items())) for row in rows]
    return events, events[-1].cursor if events else after
