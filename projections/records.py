"""Inline projection of accounting records: the `record_state` table, folded from the
events in the transaction that appends them, and the record as of any past moment."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from domain import records
from domain.records import RecordChange, RecordState
from eventstore.store import read_stream
from eventstore.types import Conn, RecordedEvent
from projections.codecs import RECORDS

_LOAD = """
SELECT state FROM record_state WHERE account_id = $1 AND record_id = ANY($2::text[])
"""

# One statement for the whole batch; created_tx is kept from the first write, last_tx names
# this transaction (see projections.record_query).
_UPSERT = """
INSERT INTO record_state (account_id, record_id, version, review_status, source_type, type,
                          updated_at, state)
SELECT $1, u.record_id, u.version, u.review_status, u.source_type, u.type, u.updated_at, u.state
FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::jsonb[])
     AS u(record_id, version, review_status, source_type, type, updated_at, state)
ON CONFLICT (account_id, record_id) DO UPDATE SET
    version = EXCLUDED.version,
    review_status = EXCLUDED.review_status,
    source_type = EXCLUDED.source_type,
    type = EXCLUDED.type,
    updated_at = EXCLUDED.updated_at,
    state = EXCLUDED.state,
    last_tx = pg_current_xact_id()
"""


async def load_records(
    conn: Conn, account_id: str, record_ids: Sequence[str]
) -> dict[str, RecordState]:
    rows = await conn.fetch(_LOAD, account_id, list(record_ids))
    states = (RecordState.model_validate(row["state"]) for row in rows)
    return {state.id: state for state in states}


async def load_record(conn: Conn, account_id: str, record_id: str) -> RecordState | None:
    return (await load_records(conn, account_id, [record_id])).get(record_id)


async def project_records(
    conn: Conn,
    account_id: str,
    changes: Sequence[RecordChange],
    recorded: Sequence[RecordedEvent],
) -> list[RecordState]:
    """Fold every change's events, at the times the log recorded them (`recorded` holds the
    appended events in the changes' order), into record_state in one statement. Returns the
    new states."""
    times = iter(recorded)
    states = [_evolved(change, times) for change in changes if change.events]
    if states:
        await _save(conn, account_id, states)
    return states


def _evolved(change: RecordChange, recorded: Iterator[RecordedEvent]) -> RecordState:
    state = change.before
    for event in change.events:
        state = records.evolve(state, event, next(recorded).recorded_at)
    assert state is not None, "a change has at least one event"
    return state


async def _save(conn: Conn, account_id: str, states: Sequence[RecordState]) -> None:
    await conn.execute(
        _UPSERT,
        account_id,
        [s.id for s in states],
        [s.version for s in states],
        [s.review_status.value for s in states],
        [s.content.source_type.value for s in states],
        [s.content.type.value for s in states],
        [s.updated_at for s in states],
        [s.model_dump(mode="python") for s in states],
    )


def fold_records(stream: Sequence[RecordedEvent]) -> RecordState | None:
    """The record its stored events make, upcast and folded with the same `evolve`."""
    return records.fold((RECORDS.decode(event), event.recorded_at) for event in stream)


async def record_as_of(
    conn: Conn, account_id: str, record_id: str, moment: datetime
) -> RecordState | None:
    """The record as it stood at `moment`, folded from its events up to then."""
    stream = await read_stream(conn, account_id, record_id)
    return fold_records([event for event in stream if event.recorded_at <= moment])
