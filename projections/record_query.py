"""Filtered, keyset-paginated reads of `record_state` (GET /v3/accounting/records).

Pages are ordered by (updated_at, record_id). Every page of one cursor chain shows the
records as they stood at the first page's snapshot of committed transactions: a record
created later is left out, and a record written later is shown as it was then, folded
from the events that snapshot sees. Whatever is written while a client pages, no record is
skipped or repeated and total_count holds; the next paging run sees the new states.

Rows untouched since the snapshot come from record_state through its index; the few
written since are re-folded from the log with the same `evolve` as the inline projection,
and go through the same SQL filter and order as the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from domain import records
from domain.records import RecordState
from eventstore.types import Conn
from projections import record_counts
from projections.codecs import RECORDS


@dataclass(frozen=True)
class RecordFilter:
    ids: tuple[str, ...] = ()
    review_status: str | None = None
    source_type: str | None = None
    updated_after: datetime | None = None  # updated_at[gt]
    updated_from: datetime | None = None  # updated_at[gte]
    updated_before: datetime | None = None  # updated_at[lt]
    updated_until: datetime | None = None  # updated_at[lte]


@dataclass(frozen=True)
class PagePosition:
    """Where the next page starts. The snapshot, and so the total, is the first page's."""

    snapshot: str
    total_count: int
    updated_at: datetime
    record_id: str


@dataclass(frozen=True)
class RecordPage:
    items: list[RecordState]
    total_count: int
    next_position: PagePosition | None


# Events, visible in the snapshot, of the records that existed then but were written since.
_WRITTEN_SINCE = """
SELECT e.stream_id, e.type, e.schema_version, e.data, e.recorded_at
FROM record_state r
JOIN events e ON e.account_id = r.account_id AND e.stream_id = (r.record_id COLLATE "default")
WHERE r.account_id = $1
  AND r.last_tx >= pg_snapshot_xmin($2::text::pg_snapshot)
  AND NOT pg_visible_in_snapshot(r.last_tx, $2::text::pg_snapshot)
  AND pg_visible_in_snapshot(r.created_tx, $2::text::pg_snapshot)
  AND pg_visible_in_snapshot(e.tx, $2::text::pg_snapshot)
ORDER BY e.stream_id, e.version
"""

# Records as of the snapshot, in two parts that take the same filter: rows untouched since
# then, and the re-folded ones ($3..$6). Each part is ordered and limited on its own, so
# that the first walks its index and stops early.
_UNTOUCHED = """
SELECT record_id, updated_at, review_status, source_type, state FROM record_state
WHERE account_id = $1 AND pg_visible_in_snapshot(last_tx, $2::text::pg_snapshot)
"""
_REFOLDED = """
SELECT record_id COLLATE "C" AS record_id, updated_at, review_status, source_type,
       NULL::jsonb AS state
FROM unnest($3::text[], $4::timestamptz[], $5::text[], $6::text[])
     AS r(record_id, updated_at, review_status, source_type)
"""


def _count_sql(where: str) -> str:
    return " + ".join(
        f"(SELECT count(*) FROM ({part}) AS records_then WHERE {where})"
        for part in (_UNTOUCHED, _REFOLDED)
    )


def _page_sql(where: str, rows: int) -> str:
    order = f"ORDER BY updated_at, record_id LIMIT {int(rows)}"
    parts = " UNION ALL ".join(
        f"(SELECT record_id, updated_at, state FROM ({part}) AS records_then WHERE {where} {order})"
        for part in (_UNTOUCHED, _REFOLDED)
    )
    return f"{parts} {order}"


class _Where:
    def __init__(self, args: list[Any]) -> None:
        self.args = args
        self.parts = ["true"]

    def add(self, template: str, *values: Any) -> None:
        numbers = [f"${len(self.args) + i + 1}" for i in range(len(values))]
        self.args.extend(values)
        self.parts.append(template.format(*numbers))

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts)


def _where(args: list[Any], f: RecordFilter) -> _Where:
    where = _Where(args)
    if f.ids:
        where.add("record_id = ANY({}::text[])", list(f.ids))
    if f.review_status:
        where.add("review_status = {}", f.review_status)
    if f.source_type:
        where.add("source_type = {}", f.source_type)
    for op, value in (
        (">", f.updated_after),
        (">=", f.updated_from),
        ("<", f.updated_before),
        ("<=", f.updated_until),
    ):
        if value is not None:
            where.add(f"updated_at {op} {{}}", value)
    return where


_XID = r"[1-9][0-9]*"
_SNAPSHOT = re.compile(rf"({_XID}):({_XID}):((?:{_XID},)*{_XID})?")


def is_snapshot(text: str) -> bool:
    """Whether `text` is a pg_snapshot as PostgreSQL writes it (cursors come from clients:
    anything else must be refused before it reaches the database)."""
    found = _SNAPSHOT.fullmatch(text)
    if found is None:
        return False
    xmin, xmax = int(found[1]), int(found[2])
    running = [int(x) for x in found[3].split(",")] if found[3] else []
    return (
        1 <= xmin <= xmax < 2**63
        and all(xmin <= x < xmax for x in running)
        and running == sorted(set(running))
    )


async def current_snapshot(conn: Conn) -> str:
    return str(await conn.fetchval("SELECT pg_current_snapshot()::text"))


async def written_since(conn: Conn, account_id: str, snapshot: str) -> dict[str, RecordState]:
    """The records that existed at `snapshot` but were written since, as they stood then."""
    rows = await conn.fetch(_WRITTEN_SINCE, account_id, snapshot)
    folded: dict[str, RecordState] = {}
    for record_id, stream in groupby(rows, key=lambda row: str(row["stream_id"])):
        state = records.fold(
            (RECORDS.decode_data(r["type"], r["schema_version"], r["data"]), r["recorded_at"])
            for r in stream
        )
        assert state is not None, "a record visible in the snapshot has its creation there"
        folded[record_id] = state
    return folded


def _time_bounded(f: RecordFilter) -> bool:
    return any(
        t is not None for t in (f.updated_after, f.updated_from, f.updated_before, f.updated_until)
    )


async def query_records(
    conn: Conn,
    account_id: str,
    filters: RecordFilter,
    position: PagePosition | None,
    limit: int,
) -> RecordPage:
    # One snapshot for every statement: a write committing between them would otherwise hide
    # a record from both the re-folded and the untouched side.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        # The table lock before the snapshot (taken by the first query): a rebuild swapping
        # in a new record_state is then either waited for or not yet begun, never half seen
        # through a snapshot older than the new table's rows.
        await conn.execute("LOCK TABLE record_state IN ACCESS SHARE MODE")
        return await _page(conn, account_id, filters, position, limit)


async def _page(
    conn: Conn,
    account_id: str,
    filters: RecordFilter,
    position: PagePosition | None,
    limit: int,
) -> RecordPage:
    snapshot = position.snapshot if position else await current_snapshot(conn)
    then = await written_since(conn, account_id, snapshot)
    args: list[Any] = [
        account_id,
        snapshot,
        list(then),
        [s.updated_at for s in then.values()],
        [s.review_status.value for s in then.values()],
        [s.content.source_type.value for s in then.values()],
    ]
    where = _where(args, filters)
    if position is None and not (filters.ids or _time_bounded(filters)):
        # Filtered by status and source alone: the counts projection knows the total.
        total = await record_counts.total(
            conn, account_id, filters.review_status, filters.source_type
        )
    elif position is None:
        total = int(await conn.fetchval(f"SELECT {_count_sql(where.sql)}", *args))
    else:
        total = position.total_count
        where.add("(updated_at, record_id) > ({}, {})", position.updated_at, position.record_id)
    rows = await conn.fetch(_page_sql(where.sql, limit + 1), *args)
    items = [
        then[row["record_id"]] if row["state"] is None else RecordState.model_validate(row["state"])
        for row in rows[:limit]
    ]
    next_position = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_position = PagePosition(snapshot, total, last["updated_at"], last["record_id"])
    return RecordPage(items, total, next_position)
