"""The per-stream hash chain as the append writes it: every stored event's hash is
SHA-256(prev_hash ‖ canonical bytes of the row as stored), recomputed here from what a
plain read of the row gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from eventstore.canonical import GENESIS, canonical_event, chain_hash
from eventstore.errors import ConcurrencyConflict
from eventstore.store import append, read_stream
from eventstore.types import NewEvent, RecordedEvent, StreamWrite

TRICKY: dict[str, Any] = {
    "amount": {"amount": Decimal("1E+2"), "currency": "EUR"},
    "tiny": Decimal("1E-7"),
    "scaled": Decimal("100.50"),
    "zero": Decimal("-0.00"),
    "big": 12345678901234567890,
    "text": 'Zoë "quoted" \\ back\nslash \u2028 😀',
    "nested": {"b": [1, {"z": True, "a": None}], "a": "first"},
}


def expected_hash(event: RecordedEvent, prev: bytes) -> bytes:
    return chain_hash(
        prev,
        canonical_event(
            account_id=event.account_id,
            stream_id=event.stream_id,
            version=event.version,
            type=event.type,
            schema_version=event.schema_version,
            recorded_at=event.recorded_at,
            data=event.data,
            metadata=event.metadata,
        ),
    )


def assert_chained(stream: list[RecordedEvent]) -> None:
    prev = GENESIS
    for event in stream:
        assert event.prev_hash == prev, (event.stream_id, event.version)
        assert event.hash == expected_hash(event, prev), (event.stream_id, event.version)
        prev = event.hash


async def test_stored_events_chain_over_their_stored_bytes(conn: asyncpg.Connection) -> None:
    def made() -> list[NewEvent]:
        return [NewEvent("Made", TRICKY, metadata={"client_id": "c", "request_id": "r1"})]

    more = [NewEvent("Changed", {"n": n}, metadata={"request_id": f"r{n}"}) for n in range(3)]
    written = await append(conn, [StreamWrite("a1", "s1", 0, made())])
    written += await append(
        conn, [StreamWrite("a1", "s1", 1, more), StreamWrite("a1", "s2", 0, made())]
    )
    stored = await read_stream(conn, "a1", "s1")
    assert [e.version for e in stored] == [1, 2, 3, 4]
    assert_chained(stored)
    assert_chained(await read_stream(conn, "a1", "s2"))
    # What the append returned is what a later read gives.
    assert {(e.stream_id, e.version): e.hash for e in written} == {
        (e.stream_id, e.version): e.hash for e in [*stored, *await read_stream(conn, "a1", "s2")]
    }
    assert stored[0].data["tiny"] == Decimal("0.0000001")  # stored as numeric prints it


async def test_a_batch_with_a_broken_stream_writes_nothing(conn: asyncpg.Connection) -> None:
    await append(conn, [StreamWrite("a1", "s1", 0, [NewEvent("Made", {})])])
    late = StreamWrite("a1", "s1", 5, [NewEvent("Changed", {}), NewEvent("Changed", {})])
    fine = StreamWrite("a1", "s2", 0, [NewEvent("Made", {})])
    with pytest.raises(ConcurrencyConflict):
        await append(conn, [fine, late])
    assert await read_stream(conn, "a1", "s2") == []
    assert len(await read_stream(conn, "a1", "s1")) == 1


async def test_the_chain_is_mandatory(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.NotNullViolationError):
        await conn.execute(
            "INSERT INTO events (event_id, account_id, stream_id, version, type, data)"
            " VALUES (gen_random_uuid(), 'a1', 's9', 1, 'Made', '{}')"
        )
