"""The write of a batch of decisions: one statement, so one round trip and atomic without
a transaction around it. The events (each stream at the version its decision read), the
projections' new rows, the claimed Idempotency-Keys with their outcomes and the guards on
ACTIVE integrations are its parts; if anything the decisions relied on changed since the
read, the statement fails as a whole with a concurrency conflict, and the batch is read
and decided again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.integrations import STREAM_ID as INTEGRATIONS_STREAM
from domain.integrations import Integrations
from domain.records import RecordState
from eventstore.errors import ConcurrencyConflict
from eventstore.statement import Statement
from eventstore.store import append_part, conflicts_raised
from eventstore.types import Conn, NewEvent, StreamWrite
from projections import integrations, record_counts, records
from projections.codecs import INTEGRATIONS, RECORDS
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.idempotency import Claim, claim_part

_BODY = """
SELECT CASE WHEN {holds} THEN true
            ELSE concurrency_conflict('a key or an integration changed since the read') END"""


def _stream_writes(planned: Sequence[tuple[Caller, Decision]]) -> list[StreamWrite]:
    """One write per stream: a batch's decisions on one stream follow each other."""
    merged: dict[tuple[str, str], StreamWrite] = {}

    def add(account: str, stream: str, expected: int, events: list[NewEvent]) -> None:
        key = (account, stream)
        if key in merged:
            earlier = merged[key]
            merged[key] = StreamWrite(
                account, stream, earlier.expected_version, [*earlier.events, *events]
            )
        else:
            merged[key] = StreamWrite(account, stream, expected, events)

    for caller, decision in planned:
        meta = caller.metadata()
        for change in decision.records:
            if change.events:
                events = [RECORDS.encode(event, meta) for event in change.events]
                add(caller.account_id, change.record_id, change.expected_version, events)
        if decision.integration_events:
            events = [INTEGRATIONS.encode(event, meta) for event in decision.integration_events]
            add(caller.account_id, INTEGRATIONS_STREAM, decision.integrations_version, events)
    return list(merged.values())


async def write(
    conn: Conn,
    planned: Sequence[tuple[Caller, Decision]],
    claims: Sequence[Claim],
    at: datetime,
    integrations_before: dict[str, Integrations],
) -> None:
    stmt = Statement()
    holds = ["true"]
    if claims:
        holds.append(claim_part(stmt, claims))
    guards = [(c.account_id, d.guard) for c, d in planned if d.guard and d.records]
    if guards:
        holds.append(integrations.guard_part(stmt, guards))
    writes = _stream_writes(planned)
    if writes:
        append_part(stmt, writes, at)
    states: dict[tuple[str, str], RecordState] = {}
    before: dict[tuple[str, str], RecordState | None] = {}
    after: dict[str, Integrations] = {}
    for caller, decision in planned:
        for change in decision.records:
            before.setdefault((caller.account_id, change.record_id), change.before)
        states |= {(caller.account_id, s.id): s for s in decision.states}
        if decision.integrations is not None:
            after[caller.account_id] = decision.integrations
    if states:
        moves = [(key[0], before.get(key), state) for key, state in states.items()]
        records.upsert_part(stmt, moves)
        record_counts.changes_part(stmt, record_counts.changes(moves))
    changed = [
        (account, item)
        for account, state in after.items()
        for item in state.items
        if item not in integrations_before.get(account, Integrations()).items
    ]
    if changed:
        integrations.upsert_part(stmt, changed, at)
    if not (claims or writes or states):
        return  # nothing to keep: the decisions changed nothing, and no key was given
    streams = [(w.account_id, w.stream_id) for w in writes]
    try:
        with conflicts_raised(streams):
            await conn.execute(stmt.sql(_BODY.format(holds=" AND ".join(holds))), *stmt.args)
    except asyncpg.UniqueViolationError as exc:
        # Every row written was decided against the read: a key taken since (one ACTIVE
        # integration, a record created meanwhile) is a lost race too.
        raise ConcurrencyConflict(streams, exc.constraint_name or "a unique key") from None
