"""Whole streams, many at once: the streams a page of the feed touched (a catch-up projector
folds each from its first event), or every stream of some event types, stream after stream
(a rebuild, inside one snapshot)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable

from eventstore.store import _COLUMNS, _recorded
from eventstore.types import Conn, RecordedEvent

Stream = list[RecordedEvent]

_READ_STREAMS = f"""
SELECT {_COLUMNS} FROM events
JOIN unnest($1::text[], $2::text[]) AS wanted(account_id, stream_id)
     USING (account_id, stream_id)
ORDER BY account_id, stream_id, version
"""

# The order of the (account_id, stream_id, version) key: one index walk, no sort.
_SCAN = f"""
SELECT {_COLUMNS} FROM events
WHERE type = ANY($1::text[])
ORDER BY account_id, stream_id, version
"""


def group_streams(events: Iterable[RecordedEvent]) -> list[Stream]:
    """Events ordered by stream and version, cut into one list per stream."""
    streams: list[Stream] = []
    for event in events:
        last = streams[-1][-1] if streams else None
        if last is not None and (last.account_id, last.stream_id) == (
            event.account_id,
            event.stream_id,
        ):
            streams[-1].append(event)
        else:
            streams.append([event])
    return streams


async def read_streams(conn: Conn, streams: Collection[tuple[str, str]]) -> list[Stream]:
    """Every committed event of each (account_id, stream_id), one list per stream, oldest
    first. A stream's earlier versions are always committed before its later ones, so each
    list is whole from version 1."""
    if not streams:
        return []
    accounts, ids = zip(*sorted(set(streams)), strict=True)
    rows = await conn.fetch(_READ_STREAMS, list(accounts), list(ids))
    return group_streams(_recorded(row) for row in rows)


async def scan_streams(
    conn: Conn, types: Collection[str], *, chunk_events: int = 5000, prefetch: int = 2000
) -> AsyncIterator[list[Stream]]:
    """Every stream holding events of `types`, whole, in chunks of about `chunk_events`
    events (a stream is never split). Must run inside a transaction; under REPEATABLE READ
    every chunk comes from the same snapshot."""
    chunk: list[Stream] = []
    size = 0
    current: Stream = []
    async for row in conn.cursor(_SCAN, sorted(types), prefetch=prefetch):
        event = _recorded(row)
        if current and (current[0].account_id, current[0].stream_id) != (
            event.account_id,
            event.stream_id,
        ):
            chunk.append(current)
            current = []
            if size >= chunk_events:
                yield chunk
                chunk, size = [], 0
        current.append(event)
        size += 1
    if current:
        chunk.append(current)
    if chunk:
        yield chunk
