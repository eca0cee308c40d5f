"""Load -> decide -> append -> project, for accounting records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain import records
from domain.records import RecordEvent, RecordState
from eventstore.store import append, read_stream
from eventstore.types import Conn, StreamWrite
from projections.codecs import RECORDS
from projections.records import load_record, save_records
from service.transactions import Caller

Change = tuple[str, RecordState | None, Sequence[RecordEvent]]


async def write_changes(conn: Conn, caller: Caller, changes: Sequence[Change]) -> list[RecordState]:
    """Append every record's new events in one statement, then fold them into the
    projection in one statement. Returns the new states of the changed records."""
    changed = [c for c in changes if c[2]]
    writes = [
        StreamWrite(
            caller.account_id,
            record_id,
            state.version if state else 0,
            [RECORDS.encode(event, caller.metadata()) for event in events],
        )
        for record_id, state, events in changed
    ]
    recorded = iter(await append(conn, writes))
    new_states: list[RecordState] = []
    for _, state, events in changed:
        for event in events:
            state = records.evolve(state, event, next(recorded).recorded_at)
        assert state is not None
        new_states.append(state)
    await save_records(conn, caller.account_id, new_states)
    return new_states


async def put_record(
    conn: Conn, caller: Caller, command: records.PutRecord
) -> tuple[RecordState, bool]:
    """Create or revise; returns the record and whether it was created now."""
    state = await load_record(conn, caller.account_id, command.record_id)
    events = records.decide_put(command, state)
    if not events:
        assert state is not None
        return state, False
    (new_state,) = await write_changes(conn, caller, [(command.record_id, state, events)])
    return new_state, state is None


async def change_review_status(
    conn: Conn, caller: Caller, command: records.ChangeReviewStatus
) -> RecordState:
    state = await load_record(conn, caller.account_id, command.record_id)
    events = records.decide_review_status(command, state)
    if not events:
        assert state is not None
        return state
    (new_state,) = await write_changes(conn, caller, [(command.record_id, state, events)])
    return new_state


async def record_as_of(
    conn: Conn, account_id: str, record_id: str, moment: datetime
) -> RecordState | None:
    """The record as it stood at `moment`, folded from its events up to then."""
    stream = await read_stream(conn, account_id, record_id)
    return records.fold(
        (RECORDS.decode(event), event.recorded_at)
        for event in stream
        if event.recorded_at <= moment
    )
