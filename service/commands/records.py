"""Executors for the platform's record commands, and the append -> project step that every
record-writing command ends with."""

from __future__ import annotations

from collections.abc import Sequence

from domain import records
from domain.records import ChangeReviewStatus, PutRecord, RecordChange, RecordState
from domain.values import Frozen
from eventstore.store import append
from eventstore.types import Conn, StreamWrite
from projections.codecs import RECORDS
from projections.records import load_record, project_records
from service.commands.caller import Caller


class PutResult(Frozen):
    state: RecordState
    created: bool


async def write_records(
    conn: Conn, caller: Caller, changes: Sequence[RecordChange]
) -> list[RecordState]:
    """Append every change's events in one statement, each stream at its expected version,
    and fold them into the projection. Returns the new states of the changed records, in
    record id order: every writer takes its rows (and their unique keys) in that one
    order, so that two transactions on overlapping records never wait for each other
    crosswise (a deadlock); the later one finds the first's versions taken, and retries."""
    changes = sorted(changes, key=lambda change: change.record_id)
    metadata = caller.metadata()
    writes = [
        StreamWrite(
            caller.account_id,
            change.record_id,
            change.expected_version,
            [RECORDS.encode(event, metadata) for event in change.events],
        )
        for change in changes
        if change.events
    ]
    recorded = await append(conn, writes)
    return await project_records(conn, caller.account_id, changes, recorded)


async def put_record(conn: Conn, caller: Caller, command: PutRecord) -> PutResult:
    state = await load_record(conn, caller.account_id, command.record_id)
    events = records.decide_put(command, state)
    if not events:
        assert state is not None, "only an existing record can be left as it is"
        return PutResult(state=state, created=False)
    (new,) = await write_records(conn, caller, [RecordChange(command.record_id, state, events)])
    return PutResult(state=new, created=state is None)


async def change_review_status(
    conn: Conn, caller: Caller, command: ChangeReviewStatus
) -> RecordState:
    state = await load_record(conn, caller.account_id, command.record_id)
    events = records.decide_review_status(command, state)
    if not events:
        assert state is not None, "only an existing record can be left as it is"
        return state
    (new,) = await write_records(conn, caller, [RecordChange(command.record_id, state, events)])
    return new
