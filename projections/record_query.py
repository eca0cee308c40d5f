"""Filtered, keyset-paginated reads of `record_state` (GET /v3/accounting/records).

Pages are ordered by (updated_at, record_id). The first page takes a snapshot of which
transactions had committed; every later page of the same cursor chain only shows rows
created by those transactions, so records inserted while a client pages never shift the
pages it has not read yet (no skip, no repeat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.records import RecordState
from eventstore.types import Conn


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
    snapshot: str
    updated_at: datetime | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class RecordPage:
    items: list[RecordState]
    total_count: int
    next_position: PagePosition | None


class _Where:
    def __init__(self, account_id: str, snapshot: str) -> None:
        self.args: list[Any] = [account_id, snapshot]
        self.parts = [
            "account_id = $1",
            "pg_visible_in_snapshot(created_tx, $2::text::pg_snapshot)",
        ]

    def add(self, template: str, *values: Any) -> None:
        numbers = [f"${len(self.args) + i + 1}" for i in range(len(values))]
        self.args.extend(values)
        self.parts.append(template.format(*numbers))

    @property
    def sql(self) -> str:
        return " AND ".join(self.parts)


def _where(account_id: str, snapshot: str, f: RecordFilter) -> _Where:
    where = _Where(account_id, snapshot)
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


async def current_snapshot(conn: Conn) -> str:
    return str(await conn.fetchval("SELECT pg_current_snapshot()::text"))


async def query_records(
    conn: Conn,
    account_id: str,
    filters: RecordFilter,
    position: PagePosition | None,
    limit: int,
) -> RecordPage:
    snapshot = position.snapshot if position else await current_snapshot(conn)
    where = _where(account_id, snapshot, filters)
    total = await conn.fetchval(f"SELECT count(*) FROM record_state WHERE {where.sql}", *where.args)
    if position and position.updated_at is not None:
        where.add("(updated_at, record_id) > ({}, {})", position.updated_at, position.record_id)
    rows = await conn.fetch(
        f"SELECT state, updated_at, record_id FROM record_state WHERE {where.sql}"
        f" ORDER BY updated_at, record_id LIMIT {int(limit) + 1}",
        *where.args,
    )
    items = [RecordState.model_validate(row["state"]) for row in rows[:limit]]
    next_position = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_position = PagePosition(snapshot, last["updated_at"], last["record_id"])
    return RecordPage(items, int(total), next_position)
