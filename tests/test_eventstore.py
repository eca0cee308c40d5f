"""The event store against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from dataclasses import fields
from decimal import Decimal

import asyncpg
import pytest
from pydantic import BaseModel

from eventstore import store
from eventstore.codec import EventCodec
from eventstore.errors import ConcurrencyConflict, InvalidCursor
from eventstore.migrate import migrate
from eventstore.pool import connect, create_pool
from eventstore.store import append, read_all, read_feed, read_stream
from eventstore.types import START, FeedCursor, FeedEntry, NewEvent, RecordedEvent, StreamWrite
from projections.record_query import is_snapshot


def ev(n: int) -> NewEvent:
    return NewEvent(type="Thing", data={"n": n, "amount": Decimal("0.10")}, metadata={"by": "t"})


def write(stream: str, expected: int, *events: NewEvent, account: str = "a1") -> StreamWrite:
    return StreamWrite(account, stream, expected, list(events))


async def test_append_then_read_stream_round_trips_exactly(conn: asyncpg.Connection) -> None:
    recorded = await append(conn, [write("s1", 0, ev(1), ev(2))])
    assert [r.version for r in recorded] == [1, 2]
    read = await read_stream(conn, "a1", "s1")
    assert read == recorded
    assert read[0].data == {"n": 1, "amount": Decimal("0.10")}  # exact decimal, not 0.1 float
    assert read[0].metadata == {"by": "t"}
    assert await read_stream(conn, "a1", "s1", after_version=1) == recorded[1:]


async def test_jsonb_keeps_every_digit_a_float_would_lose(conn: asyncpg.Connection) -> None:
    values = {
        "money": Decimal("999999999999999999.999999"),  # 24 digits: a float keeps 17
        "tiny": Decimal("0.000001"),
        "negative": Decimal("-0.10"),
        "whole": 123456789012345678901234567890,  # past 64 bits
    }
    assert await conn.fetchval("SELECT $1::jsonb", values) == values
    assert await conn.fetchval("SELECT $1::jsonb::text::json", values) == values


async def test_taken_version_raises_typed_conflict(conn: asyncpg.Connection) -> None:
    await append(conn, [write("s1", 0, ev(1))])
    with pytest.raises(ConcurrencyConflict):
        await append(conn, [write("s1", 0, ev(2))])
    assert len(await read_stream(conn, "a1", "s1")) == 1


async def test_expected_version_ahead_of_stream_raises_conflict(conn: asyncpg.Connection) -> None:
    await append(conn, [write("s1", 0, ev(1))])
    with pytest.raises(ConcurrencyConflict):
        await append(conn, [write("s1", 5, ev(2))])
    assert len(await read_stream(conn, "a1", "s1")) == 1


async def test_multi_stream_append_is_all_or_nothing(conn: asyncpg.Connection) -> None:
    await append(conn, [write("s2", 0, ev(1))])
    with pytest.raises(ConcurrencyConflict):
        await append(conn, [write("s1", 0, ev(1)), write("s2", 0, ev(2))])
    assert await read_stream(conn, "a1", "s1") == []


async def test_concurrent_appends_at_same_version_exactly_one_wins(fresh_dsn: str) -> None:
    pool = await create_pool(fresh_dsn, min_size=20, max_size=20)
    try:
        async with pool.acquire() as c:
            await append(c, [write("race", 0, ev(0))])

        async def attempt(i: int) -> bool:
            async with pool.acquire() as c:
                try:
                    await append(c, [write("race", 1, ev(i))])
                    return True
                except ConcurrencyConflict:
                    return False

        outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
        assert outcomes.count(True) == 1
        async with pool.acquire() as c:
            assert [e.version for e in await read_stream(c, "a1", "race")] == [1, 2]
    finally:
        await pool.close()


async def test_reader_never_skips_an_event_committed_late(fresh_dsn: str) -> None:
    slow = await connect(fresh_dsn)
    fast = await connect(fresh_dsn)
    reader = await connect(fresh_dsn)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        (early,) = await append(slow, [write("slow", 0, ev(1))])  # lower position, open
        (late,) = await append(fast, [write("fast", 0, ev(2))])  # higher position, committed
        assert early.position < late.position

        page = await read_all(reader, START)
        assert page.events == []  # the committed event waits behind the open transaction
        assert page.cursor == START

        await slow_tx.commit()
        page = await read_all(reader, page.cursor)
        assert [e.event_id for e in page.events] == [early.event_id, late.event_id]
        assert (await read_all(reader, page.cursor)).events == []
    finally:
        for c in (slow, fast, reader):
            await c.close()


async def test_a_stream_s_times_follow_its_versions(fresh_dsn: str) -> None:
    """A transaction that began before another appended to the stream still records its
    later version at a later time (an event takes its insert's time, not its transaction's)."""
    early = await connect(fresh_dsn)
    other = await connect(fresh_dsn)
    try:
        async with early.transaction():
            began = await early.fetchval("SELECT now()")
            await asyncio.sleep(0.05)
            (first,) = await append(other, [write("s", 0, ev(1))])
            (second,) = await append(early, [write("s", 1, ev(2))])
        assert began < first.recorded_at < second.recorded_at
    finally:
        await early.close()
        await other.close()


async def test_read_all_pages_in_order_and_filters_by_account(conn: asyncpg.Connection) -> None:
    for i in range(5):
        await append(conn, [write(f"s{i}", 0, ev(i), account="a1" if i % 2 == 0 else "a2")])
    page = await read_all(conn, START, limit=2)
    assert len(page.events) == 2
    rest = await read_all(conn, page.cursor, limit=10)
    assert [e.data["n"] for e in page.events + rest.events] == [0, 1, 2, 3, 4]
    mine = await read_all(conn, START, account_id="a2")
    assert [e.data["n"] for e in mine.events] == [1, 3]


async def test_a_batch_of_1000_events_is_one_round_trip(conn: asyncpg.Connection) -> None:
    await append(conn, [write("warm-up", 0, ev(0))])  # first use prepares the statement
    statements: list[str] = []
    conn.add_query_logger(lambda record: statements.append(record.query))
    async with conn.transaction():
        await asyncio.sleep(0)  # query-logger callbacks are delivered on the next loop turn
        statements.clear()
        recorded = await append(
            conn, [write(f"s{i}", 0, *(ev(j) for j in range(10))) for i in range(100)]
        )
        await asyncio.sleep(0)
        assert len(statements) == 1
        assert "INSERT INTO events" in statements[0]
    assert len(recorded) == 1000
    assert [r.position for r in recorded] == sorted(r.position for r in recorded)


async def test_the_log_refuses_updates_and_deletes(conn: asyncpg.Connection) -> None:
    await append(conn, [write("s1", 0, ev(1))])
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE events SET type = 'Other'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM events")


async def test_migrations_apply_once(conn: asyncpg.Connection) -> None:
    assert await migrate(conn) == []  # the template already holds them all
    count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    assert count >= 2


def test_feed_cursor_round_trips_and_rejects_garbage() -> None:
    cursor = FeedCursor(812, 55)
    assert FeedCursor.decode(cursor.encode()) == cursor
    assert FeedCursor.decode(f"{2**64 - 1}-{2**63 - 1}") == FeedCursor(2**64 - 1, 2**63 - 1)
    for bad in ("", "x", "1-2-3", "-1-4", "a-b", f"{2**64}-1", f"1-{2**63}"):
        with pytest.raises(InvalidCursor):
            FeedCursor.decode(bad)


class ThingV2(BaseModel):
    n: int
    label: str


def test_codec_upcasts_old_schema_versions() -> None:
    codec = EventCodec(
        [ThingV2],
        versions={"ThingV2": 2},
        upcasters={("ThingV2", 1): lambda data: {**data, "label": f"#{data['n']}"}},
    )
    assert codec.decode_data("ThingV2", 1, {"n": 7}) == ThingV2(n=7, label="#7")
    encoded = codec.encode(ThingV2(n=1, label="x"))
    assert encoded.schema_version == 2
    assert codec.decode_data("ThingV2", 2, dict(encoded.data)) == ThingV2(n=1, label="x")


@pytest.mark.parametrize(
    "text",
    [
        "1:1:",
        "5:9:",
        "5:9:5",
        "5:9:6,7",
        "0:0:",
        "5:3:",
        "5:9:7,6",
        "5:9:6,6",
        "5:9:9",
        "5:9:4",
        "05:9:",
        "5:9:,",
        "5:9",
        "x:9:",
        "9223372036854775808:9223372036854775808:",
        " 5:9:",
        "5:9:6,",
    ],
)
async def test_cursor_snapshots_are_checked_as_postgresql_does(
    conn: asyncpg.Connection, text: str
) -> None:
    """Paging cursors carry a pg_snapshot from the client: is_snapshot accepts only what
    PostgreSQL itself reads back unchanged (anything else would be a database error)."""
    try:
        canonical = await conn.fetchval("SELECT $1::text::pg_snapshot::text", text)
    except asyncpg.InvalidTextRepresentationError:
        canonical = None
    assert is_snapshot(text) == (canonical == text)


async def test_read_columns_come_in_the_order_of_the_fields(conn: asyncpg.Connection) -> None:
    """Events and feed entries are built from their rows by position: each read selects
    exactly the fields of its type, in their order."""
    await append(conn, [write("s1", 0, ev(1))])
    event_row = await conn.fetchrow(f"SELECT {store._COLUMNS} FROM events LIMIT 1")
    assert event_row is not None
    assert list(event_row.keys()) == [f.name for f in fields(RecordedEvent)]
    feed_row = await conn.fetchrow(store._READ_FEED, "0", 0, 1)
    assert feed_row is not None
    assert list(feed_row.keys()) == [f.name for f in fields(FeedEntry)]
    (entry,), _ = await read_feed(conn)
    assert (entry.stream_id, entry.version, entry.type) == ("s1", 1, "Thing")
