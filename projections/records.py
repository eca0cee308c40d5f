"""Inline projection of accounting records: the `record_state` table, folded from the
events in the transaction that appends them, and the record as of any past moment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain import records
from domain.records import RecordChange, RecordState
from eventstore.statement import Statement
from eventstore.store import read_stream
from eventstore.types import Conn, RecordedEvent
from projections import record_counts
from projections.codecs import RECORDS

_LOAD = """
SELECT state FROM record_state WHERE account_id = $1 AND record_id = ANY($2::text[])
"""

# Upserts of the batch's new states (any accounts); created_tx is kept from the first write,
# last_tx names this transaction (see projections.record_query).
_UPSERT = """
INSERT INTO record_state (account_id, record_id, version, review_status, source_type, type,
                          updated_at, state)
SELECT u.account_id, u.record_id, u.version, u.review_status, u.source_type, u.type,
       u.updated_at, u.state
FROM unnest({}, {}, {}, {}, {}, {}, {}, {})
     AS u(account_id, record_id, version, review_status, source_type, type, updated_at, state)
ON CONFLICT (account_id, record_id) DO UPDATE SET
    version = EXCLUDED.version,
    review_status = EXCLUDED.review_status,
    source_type = EXCLUDED.source_type,
    type = EXCLUDED.type,
    updated_at = EXCLUDED.updated_at,
    state = CASE WHEN EXCLUDED.state ? 'content' THEN EXCLUDED.state
                 ELSE record_state.state || EXCLUDED.state END,
    last_tx = pg_current_xact_id()
"""
_UPSERT_TYPES = (
    "text[]",
    "text[]",
    "int[]",
    "text[]",
    "text[]",
    "text[]",
    "timestamptz[]",
    "jsonb[]",
)
# The records a command decides against, as rows of a combined read (service.commands).
_READ = """
SELECT 'record' AS kind, account_id, record_id COLLATE "default" AS key, state AS doc,
       NULL::timestamptz AS at
FROM record_state
WHERE (account_id, record_id) IN (SELECT * FROM unnest({}, {}))"""


async def load_records(
    conn: Conn, account_id: str, record_ids: Sequence[str]
) -> dict[str, RecordState]:
    rows = await conn.fetch(_LOAD, account_id, list(record_ids))
    states = (RecordState.model_validate(row["state"]) for row in rows)
    return {state.id: state for state in states}


async def load_record(conn: Conn, account_id: str, record_id: str) -> RecordState | None:
    return (await load_records(conn, account_id, [record_id])).get(record_id)


def evolve_changes(changes: Sequence[RecordChange], at: datetime) -> list[RecordState]:
    """The new state of every changed record, its events recorded at `at`."""
    found = []
    for change in changes:
        state = change.before
        for event in change.events:
            state = records.evolve(state, event, at)
        if change.events:
            assert state is not None, "a change has at least one event"
            found.append(state)
    return found


def read_part(stmt: Statement, pairs: Sequence[tuple[str, str]]) -> str:
    """A read of the (account, record id) pairs' states: rows (kind 'record', account_id,
    key = record id, doc = state)."""
    accounts = stmt.unseen([a for a, _ in pairs], "text[]")
    ids = stmt.unseen([r for _, r in pairs], "text[]")
    return _READ.format(accounts, ids)


def state_of(doc: dict[str, object]) -> RecordState:
    return RecordState.model_validate(doc)


def _stored(before: RecordState | None, after: RecordState) -> dict[str, Any]:
    """What the row's state becomes: the whole state, or, when the record's content is the
    one the row holds already (a status change, an export), the fields beside it, which
    PostgreSQL merges into the row's state. An export then encodes and sends 150 bytes
    instead of the whole record (1.6 KB)."""
    if before is not None and after.content is before.content:
        return after.model_dump(mode="python", exclude={"content"})
    return after.model_dump(mode="python")


def upsert_part(
    stmt: Statement, states: Sequence[tuple[str, RecordState | None, RecordState]]
) -> None:
    """Add the upsert of (account, state before, new state) to `stmt`, as
    `record_state_upserted`. The state before is the row's: the write's version guard
    holds it there."""
    columns = (
        [account for account, _, _ in states],
        [s.id for _, _, s in states],
        [s.version for _, _, s in states],
        [s.review_status.value for _, _, s in states],
        [s.content.source_type.value for _, _, s in states],
        [s.content.type.value for _, _, s in states],
        [s.updated_at for _, _, s in states],
        [_stored(before, s) for _, before, s in states],
    )
    params = [stmt.param(c, cast) for c, cast in zip(columns, _UPSERT_TYPES, strict=True)]
    stmt.with_("record_state_upserted", _UPSERT.format(*params))


async def project_records(
    conn: Conn, account_id: str, changes: Sequence[RecordChange], at: datetime
) -> list[RecordState]:
    """Fold every change's events, at `at`, into record_state in one statement (outside a
    command's write: the write statement holds this upsert itself)."""
    states = evolve_changes(changes, at)
    stmt = Statement()
    moves = [(account_id, c.before, s) for c, s in zip(changes, states, strict=True)]
    upsert_part(stmt, moves)
    record_counts.changes_part(stmt, record_counts.changes(moves))
    await conn.execute(stmt.sql("SELECT 1"), *stmt.args)
    return states


def fold_records(stream: Sequence[RecordedEvent]) -> RecordState | None:
    """The record its stored events make, upcast and folded with the same `evolve`."""
    return records.fold((RECORDS.decode(event), event.recorded_at) for event in stream)


async def record_as_of(
    conn: Conn, account_id: str, record_id: str, moment: datetime
) -> RecordState | None:
    """The record as it stood at `moment`, folded from its events up to then."""
    stream = await read_stream(conn, account_id, record_id)
    return fold_records([event for event in stream if event.recorded_at <= moment])
