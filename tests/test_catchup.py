"""The catch-up runner against a real PostgreSQL: exactly-once effect, resumption after a
failure, no overlap between two runners, and its lag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from eventstore.pool import create_pool
from eventstore.store import append
from eventstore.types import Conn, FeedEntry, NewEvent, StreamWrite
from projections.catchup import catch_up, lag, run_round


class Tally:
    """A toy projector: one row per event it sees, in a table of its own."""

    def __init__(self, name: str = "tally", fail_after_write: bool = False) -> None:
        self.name = name
        self.fail_after_write = fail_after_write
        self.ticks = 0

    async def apply(self, conn: Conn, events: Sequence[FeedEntry]) -> None:
        await conn.executemany(
            "INSERT INTO tally (position) VALUES ($1)", [(e.position,) for e in events]
        )
        if self.fail_after_write:
            raise RuntimeError("crash between the rows and the checkpoint")

    async def tick(self, conn: Conn) -> None:
        self.ticks += 1


async def write_events(conn: Conn, stream: str, n: int) -> None:
    events = [NewEvent(type="Thing", data={"n": i}) for i in range(n)]
    await append(conn, [StreamWrite("acct_t", stream, 0, events)])


@pytest.fixture
async def pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(fresh_dsn, min_size=1, max_size=4)
    async with made.acquire() as conn:
        await conn.execute("CREATE TABLE tally (position bigint PRIMARY KEY)")
    yield made
    await made.close()


async def positions(pool: asyncpg.Pool) -> list[int]:
    async with pool.acquire() as conn:
        return [r[0] for r in await conn.fetch("SELECT position FROM tally ORDER BY position")]


async def test_every_event_once_across_rounds_and_resumption(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await write_events(conn, "s1", 25)
    assert await catch_up(pool, Tally(), batch=10) == 25
    async with pool.acquire() as conn:
        await write_events(conn, "s2", 7)
        assert (await lag(conn, "tally")).events == 7
    assert await catch_up(pool, Tally(), batch=10) == 7  # a new runner resumes
    async with pool.acquire() as conn:
        all_positions = [r[0] for r in await conn.fetch("SELECT position FROM events")]
        assert (await lag(conn, "tally")).events == 0
    assert await positions(pool) == sorted(all_positions)


async def test_a_failure_between_rows_and_checkpoint_leaves_no_trace(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await write_events(conn, "s1", 5)
    with pytest.raises(RuntimeError, match="crash"):
        await run_round(pool, Tally(fail_after_write=True))
    assert await positions(pool) == []
    assert await catch_up(pool, Tally()) == 5
    assert len(await positions(pool)) == 5


async def test_two_runners_never_project_one_event_twice(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for s in range(20):
            await write_events(conn, f"s{s}", 10)
    done = await asyncio.gather(*(catch_up(pool, Tally(), batch=7) for _ in range(4)))
    assert sum(done) == 200  # the rows' primary key would refuse a second projection
    assert len(await positions(pool)) == 200


async def test_a_runner_waits_for_an_open_transaction_instead_of_skipping(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as slow, slow.transaction():
        await write_events(slow, "late", 1)
        async with pool.acquire() as conn:
            await write_events(conn, "early", 1)
        assert await catch_up(pool, Tally()) == 0  # the early one waits behind the open one
    assert await catch_up(pool, Tally()) == 2
