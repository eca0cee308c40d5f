"""Bulk load of records from JSON Lines, through the same deciders as the API."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import ValidationError

from domain.errors import DomainError
from domain.records import PutRecord, RecordEvent, RecordState, decide_put, evolve
from eventstore.errors import ConcurrencyConflict
from eventstore.types import Conn
from projections.records import load_records
from service.handlers.records import write_changes
from service.ids import RECORD_ID_RULE, is_record_id
from service.jsonio import BodyNotJson, nul_at, parse
from service.schemas import PutRecordBody, validation_details
from service.transactions import Caller

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    revised: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        self.created += other.created
        self.revised += other.revised
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)


@dataclass
class _Pending:
    original: RecordState | None
    current: RecordState | None
    events: list[RecordEvent] = field(default_factory=list)


def parse_line(text: str) -> PutRecord:
    """One JSON object with `id` and the record body; raises ValueError with a reason."""
    try:
        data: Any = parse(text.encode())
    except BodyNotJson as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    where = nul_at(data)
    if where is not None:
        raise ValueError(f"{where}: contains the NUL character (U+0000)")
    record_id = data.get("id")
    if not is_record_id(record_id):
        raise ValueError(f"id: {RECORD_ID_RULE}")
    assert isinstance(record_id, str)
    try:
        body = PutRecordBody.model_validate(data)
    except ValidationError as exc:
        problem = validation_details(exc)
        raise ValueError(f"{problem['field']}: {problem['reason']}") from None
    return PutRecord(record_id=record_id, content=body.content(), review_status=body.review_status)


async def import_batch(
    conn: Conn, caller: Caller, lines: list[tuple[int, str]], report: ImportReport
) -> None:
    """Decide every line of the batch, then append all events in one statement."""
    commands: list[tuple[int, PutRecord]] = []
    for number, text in lines:
        try:
            commands.append((number, parse_line(text)))
        except ValueError as exc:
            report.rejected.append(Rejected(number, str(exc)))
    loaded = await load_records(conn, caller.account_id, [c.record_id for _, c in commands])
    pending: dict[str, _Pending] = {}
    for number, command in commands:
        slot = pending.setdefault(
            command.record_id,
            _Pending(loaded.get(command.record_id), loaded.get(command.record_id)),
        )
        try:
            events = decide_put(command, slot.current)
        except DomainError as exc:
            report.rejected.append(Rejected(number, exc.message))
            continue
        if not events:
            report.unchanged += 1
        elif slot.current is None:
            report.created += 1
        else:
            report.revised += 1
        for event in events:
            # A provisional time: the stored one comes from the log when written.
            at = slot.current.updated_at if slot.current else _EPOCH
            slot.current = evolve(slot.current, event, at)
        slot.events.extend(events)
    await write_changes(
        conn, caller, [(rid, p.original, p.events) for rid, p in pending.items() if p.events]
    )


async def import_lines(
    pool: asyncpg.Pool,
    caller: Caller,
    lines: Iterable[tuple[int, str]],
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[int, str]] = []

    async def flush() -> None:
        for attempt in range(1, CONFLICT_RETRIES + 1):
            outcome = ImportReport()
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await import_batch(conn, caller, batch, outcome)
                break
            except ConcurrencyConflict:
                if attempt == CONFLICT_RETRIES:
                    raise
        report.add(outcome)
        progress(len(batch))
        batch.clear()

    for number, text in lines:
        if text.strip():
            batch.append((number, text))
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    report.rejected.sort(key=lambda r: r.line)
    return report
