"""The analytics projection: record streams folded into the five analytics tables.

Kept by the `analytics` catch-up projector; `records.version` is the version of the stream
folded so far, so a stream folded again adds only the export attempts (and daily totals)
of its new events.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.records import RECORD_EVENTS, RecordCreated, RecordRevised
from eventstore.streams import Stream
from eventstore.types import Conn
from projections.analytics.fold import daily_totals, record_facts
from projections.analytics.rows import (
    DAILY_EXPORTS,
    EXPORT_ATTEMPTS,
    RECORD_LIFECYCLE,
    RECORD_LINE_ITEMS,
    RECORDS,
)
from projections.stream_projection import StreamProjector, fold_each
from projections.tables import Table

_ADD_TO_DAY = """ON CONFLICT (account_id, day, vendor, outcome, currency) DO UPDATE SET
    attempts = daily_exports.attempts + EXCLUDED.attempts,
    amount = daily_exports.amount + EXCLUDED.amount"""

_KNOWN = """
SELECT r.account_id, r.record_id, r.version FROM {records} r
JOIN unnest($1::text[], $2::text[]) AS k(account_id, record_id) USING (account_id, record_id)
"""


class AnalyticsProjection:
    name = "analytics"
    schema = "analytics"
    tables: tuple[Table, ...] = (
        RECORDS,
        RECORD_LINE_ITEMS,
        RECORD_LIFECYCLE,
        EXPORT_ATTEMPTS,
        DAILY_EXPORTS,
    )
    event_types = frozenset(model.__name__ for model in RECORD_EVENTS)
    kept_by_projector = True

    def versions_query(self, schema: str) -> str:
        return f"SELECT account_id, record_id AS stream_id, version FROM {RECORDS.at(schema)}"

    async def swapped(self, conn: Conn) -> None:
        return None

    async def project(
        self, conn: Conn, schema: str, streams: Sequence[Stream], *, fresh: bool
    ) -> None:
        known = {} if fresh else await _known_versions(conn, schema, streams)
        # Line items follow the content: a record whose new events left it alone (made
        # ready, reported on) keeps the rows it has, and its fold does not make them.
        revised = {
            _key(stream)
            for stream in streams
            if _content_changed(stream, known.get(_key(stream), 0))
        }
        facts = await fold_each(streams, lambda s: record_facts(s, line_items=_key(s) in revised))
        changed = [f for f in facts if f.record.version > known.get(f.key, 0)]
        attempts = [a for f in changed for a in f.attempts if a.version > known.get(f.key, 0)]
        records = [f.record for f in changed]
        stages = [f.lifecycle for f in changed]
        items = [item for f in changed for item in f.line_items]
        if fresh:
            await RECORDS.copy(conn, schema, records)
            await RECORD_LIFECYCLE.copy(conn, schema, stages)
            await RECORD_LINE_ITEMS.copy(conn, schema, items)
            await EXPORT_ATTEMPTS.copy(conn, schema, attempts)
        else:
            await RECORDS.insert(conn, schema, records, RECORDS.replace_all())
            await RECORD_LIFECYCLE.insert(conn, schema, stages, RECORD_LIFECYCLE.replace_all())
            keys = [f.key for f in changed if f.key in revised]
            await RECORD_LINE_ITEMS.delete(conn, schema, ("account_id", "record_id"), keys)
            await RECORD_LINE_ITEMS.insert(conn, schema, items)
            await EXPORT_ATTEMPTS.insert(conn, schema, attempts, "ON CONFLICT DO NOTHING")
        await DAILY_EXPORTS.insert(conn, schema, daily_totals(attempts), _ADD_TO_DAY)


_CONTENT_EVENTS = frozenset({RecordCreated.__name__, RecordRevised.__name__})


def _key(stream: Stream) -> tuple[str, str]:
    return stream[0].account_id, stream[0].stream_id


def _content_changed(stream: Stream, after: int) -> bool:
    """Whether the stream's events after version `after` made or changed the content."""
    return any(e.version > after and e.type in _CONTENT_EVENTS for e in stream)


async def _known_versions(
    conn: Conn, schema: str, streams: Sequence[Stream]
) -> dict[tuple[str, str], int]:
    if not streams:
        return {}
    keys = [_key(stream) for stream in streams]
    rows = await conn.fetch(
        _KNOWN.format(records=RECORDS.at(schema)), [a for a, _ in keys], [r for _, r in keys]
    )
    return {(r["account_id"], r["record_id"]): r["version"] for r in rows}


ANALYTICS = AnalyticsProjection()


def analytics_projector() -> StreamProjector:
    """The catch-up projector that keeps the `analytics` schema."""
    return StreamProjector(ANALYTICS, ANALYTICS.schema, ANALYTICS.name)
