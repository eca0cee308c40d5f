"""Verify the event log from its stored bytes: every stream's hash chain, and every record
and integration re-folded and compared with the live projection. Streams are read in
order through a server-side cursor, so memory stays flat however long the log is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from domain import integrations, records
from domain.integrations import STREAM_ID as INTEGRATIONS_STREAM
from domain.records import RecordState
from eventstore.canonical import GENESIS, canonical_row, chain_hash
from eventstore.codec import UnknownEventType
from eventstore.types import Conn
from projections import record_counts
from projections.codecs import INTEGRATIONS, RECORDS
from projections.integrations import list_integrations
from projections.records import load_records


@dataclass(frozen=True)
class Mismatch:
    account_id: str
    where: str  # stream and version, leaf, checkpoint, or projection row
    what: str

    def __str__(self) -> str:
        return f"{self.account_id} {self.where}: {self.what}"


Report = Callable[[Mismatch], None]
Progress = Callable[[int], None]

_EVENTS = """
SELECT account_id, stream_id, version, type, schema_version, recorded_at, data, metadata,
       prev_hash, hash
FROM events WHERE $1::text IS NULL OR account_id = $1
ORDER BY account_id COLLATE "C", stream_id COLLATE "C", version
"""
_ORPHANS = """
SELECT r.account_id, r.record_id FROM record_state r
WHERE ($1::text IS NULL OR r.account_id = $1) AND NOT EXISTS (
    SELECT 1 FROM events e WHERE e.account_id = r.account_id AND e.stream_id = r.record_id)
"""
_BATCH = 500


async def _streams(conn: Conn, account: str | None) -> AsyncIterator[list[Any]]:
    """Each stream's rows, in version order."""
    rows = conn.cursor(_EVENTS, account, prefetch=2000)
    current: list[Any] = []
    async for row in rows:
        if current and (row["account_id"], row["stream_id"]) != (
            current[0]["account_id"],
            current[0]["stream_id"],
        ):
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def check_chain(stream: Sequence[Any], report: Report) -> bool:
    """Whether the stream is whole and every link holds; each broken link is reported."""
    prev, account, intact = GENESIS, stream[0]["account_id"], True
    for expected, row in enumerate(stream, start=1):
        where = f"stream {row['stream_id']} version {row['version']}"
        if row["version"] != expected:
            report(Mismatch(account, where, f"version {expected} is missing"))
            return False
        if bytes(row["prev_hash"]) != prev:
            report(Mismatch(account, where, "prev_hash is not the previous event's hash"))
            intact = False
        if chain_hash(bytes(row["prev_hash"]), canonical_row(row)) != bytes(row["hash"]):
            report(Mismatch(account, where, "the stored bytes do not hash to the stored hash"))
            intact = False
        prev = bytes(row["hash"])
    return intact


def _fold_record(stream: Sequence[Any]) -> RecordState | None:
    return records.fold(
        (RECORDS.decode_data(r["type"], r["schema_version"], r["data"]), r["recorded_at"])
        for r in stream
    )


def _differences(live: RecordState, folded: RecordState) -> list[str]:
    have, want = live.model_dump(), folded.model_dump()
    return [name for name in want if have.get(name) != want[name]]


async def _compare_records(
    conn: Conn, account: str, folded: list[RecordState], report: Report
) -> None:
    live = await load_records(conn, account, [s.id for s in folded])
    for state in folded:
        row = live.get(state.id)
        where = f"record_state {state.id}"
        if row is None:
            report(Mismatch(account, where, "missing from the projection"))
        elif differing := _differences(row, state):
            report(Mismatch(account, where, "differs from its events in " + ", ".join(differing)))


async def _compare_integrations(
    conn: Conn, account: str, stream: Sequence[Any], report: Report
) -> None:
    folded = integrations.fold(
        (INTEGRATIONS.decode_data(r["type"], r["schema_version"], r["data"]), r["recorded_at"])
        for r in stream
    )
    live = {i.integration_id: i for i in await list_integrations(conn, account)}
    for item in folded.items:
        if live.pop(item.integration_id, None) != item:
            where = f"integrations {item.integration_id}"
            report(Mismatch(account, where, "differs from its events, or is missing"))
    for extra in live:
        report(Mismatch(account, f"integrations {extra}", "has no events"))


async def verify_log(
    conn: Conn, account: str | None, report: Report, progress: Progress = lambda n: None
) -> None:
    """Check every chain and re-fold every projection row of `account` (or of all)."""
    pending: dict[str, list[RecordState]] = {}
    async for stream in _streams(conn, account):
        owner, stream_id = stream[0]["account_id"], stream[0]["stream_id"]
        progress(len(stream))
        if not check_chain(stream, report):
            continue  # what a broken stream folds to proves nothing
        if stream_id == INTEGRATIONS_STREAM:
            await _compare_integrations(conn, owner, stream, report)
            continue
        try:
            state = _fold_record(stream)
        except (UnknownEventType, ValidationError) as exc:
            report(Mismatch(owner, f"stream {stream_id}", f"cannot be folded: {exc}"))
            state = None
        if state is not None:
            batch = pending.setdefault(owner, [])
            batch.append(state)
            if len(batch) >= _BATCH:
                await _compare_records(conn, owner, pending.pop(owner), report)
    for owner, batch in pending.items():
        await _compare_records(conn, owner, batch, report)
    for row in await conn.fetch(_ORPHANS, account):
        report(Mismatch(row["account_id"], f"record_state {row['record_id']}", "has no events"))
    for owner, where, what in await record_counts.differences(conn, account):
        report(Mismatch(owner, where, what))
