"""Group commit against a real PostgreSQL: concurrent commands are written together, and
each keeps its own outcome, its all-or-nothing and its Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from domain.errors import RecordsNotReadyForExport
from domain.exports import ExportResult, ExportSuccess, ReportExportResults
from domain.integrations import CreateIntegration
from domain.records import PutRecord
from domain.values import RecordContent, ReviewStatus
from eventstore.pool import create_pool, dumps, loads
from service.commands.caller import Caller
from service.commands.group_commit import GroupCommit
from service.commands.idempotency import KeyReused
from service.commands.runner import Completed, run_command
from tests.factories import new_record_id, record_body


@pytest.fixture
async def pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(fresh_dsn, min_size=1, max_size=1)  # one connection: countable
    yield made
    await made.close()


def content(**overrides: Any) -> RecordContent:
    return RecordContent.model_validate(loads(dumps(record_body(**overrides))))


def export(*ids: str) -> ReportExportResults:
    return ReportExportResults(
        results=tuple(ExportResult(accounting_record_id=i, outcome=ExportSuccess()) for i in ids)
    )


async def ready(pool: asyncpg.Pool, account: str, n: int) -> list[str]:
    caller = Caller(account, "platform", "setup")
    await run_command(
        pool,
        caller,
        CreateIntegration(new_integration_id="int_g", vendor="E", vendor_account_id="l"),
    )
    ids = [new_record_id() for _ in range(n)]
    for rid in ids:
        put = PutRecord(
            record_id=rid, content=content(), review_status=ReviewStatus.READY_FOR_EXPORT
        )
        await run_command(pool, caller, put)
    return ids


async def statements(pool: asyncpg.Pool) -> list[str]:
    seen: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda r: seen.append(r.query))
    return seen


async def gather(group: GroupCommit, *calls: tuple[Caller, Any]) -> list[Completed | BaseException]:
    return await asyncio.gather(*(group.run(c, m) for c, m in calls), return_exceptions=True)


async def test_concurrent_commands_are_written_together_each_with_its_outcome(
    pool: asyncpg.Pool, account: str
) -> None:
    ids = await ready(pool, account, 21)
    taken = await statements(pool)
    group = GroupCommit(pool)
    calls = [(Caller(account, f"c{i}", f"r{i}"), export(rid)) for i, rid in enumerate(ids[:20])]
    calls.append((Caller(account, "late", "r-late"), export(ids[5])))  # loses to c5
    calls.append((Caller(account, "mixed", "r-mixed"), export(ids[20], ids[6])))  # loses too
    outcomes = await gather(group, *calls)
    for _ in range(5):
        await asyncio.sleep(0)  # query-logger callbacks come on later loop turns

    assert [o.result for o in outcomes[:20] if isinstance(o, Completed)] == [[r] for r in ids[:20]]
    assert isinstance(outcomes[20], RecordsNotReadyForExport)
    assert isinstance(outcomes[21], RecordsNotReadyForExport)
    # 22 commands sent together: one read and one write statement for all of them.
    assert len(taken) == 2, taken
    async with pool.acquire() as conn:
        exported = await conn.fetch(
            "SELECT stream_id, metadata->>'client_id' AS client FROM events"
            " WHERE account_id = $1 AND type = 'ExportSucceeded' ORDER BY stream_id",
            account,
        )
        state = await conn.fetchval(
            "SELECT review_status FROM record_state WHERE account_id = $1 AND record_id = $2",
            account,
            ids[20],
        )
    assert sorted((r["stream_id"], r["client"]) for r in exported) == sorted(
        (rid, f"c{i}") for i, rid in enumerate(ids[:20])
    )
    assert state == "READY_FOR_EXPORT"  # the refused batch wrote nothing: all or nothing


async def test_commands_that_reach_the_queue_a_turn_or_two_later_join_the_batch(
    pool: asyncpg.Pool, account: str
) -> None:
    """Requests received together reach the queue over the next loop turns (each handler
    runs as a task of its own): the batch waits for them rather than leaving without."""
    ids = await ready(pool, account, 3)
    taken = await statements(pool)
    group = GroupCommit(pool)

    async def run_after(turns: int, caller: Caller, command: Any) -> Completed:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await group.run(caller, command)

    outcomes = await asyncio.gather(
        *(run_after(n, Caller(account, "c", f"r{n}"), export(rid)) for n, rid in enumerate(ids))
    )
    for _ in range(5):
        await asyncio.sleep(0)  # query-logger callbacks come on later loop turns

    assert [o.result for o in outcomes] == [[rid] for rid in ids]
    assert len(taken) == 2, taken  # one read and one write for the three


async def test_one_key_twice_in_one_batch_runs_once(pool: asyncpg.Pool, account: str) -> None:
    ids = await ready(pool, account, 3)
    group = GroupCommit(pool)
    keyed = Caller(account, "c", "r1", idempotency_key="k-1")
    again = Caller(account, "c", "r2", idempotency_key="k-1")
    outcomes = await gather(
        group,
        (Caller(account, "c", "r0"), export(ids[0])),
        (keyed, export(ids[1])),
        (again, export(ids[1])),
        (Caller(account, "c", "r3", idempotency_key="k-1"), export(ids[2])),
    )
    first, second, third = outcomes[1:]
    assert isinstance(first, Completed) and not first.replayed
    assert isinstance(second, Completed) and second.replayed and second.result == first.result
    assert isinstance(third, KeyReused)
    async with pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM events WHERE account_id = $1 AND stream_id = $2", account, ids[1]
        )
    assert count == 2  # created, exported once


async def test_a_command_the_database_refuses_fails_alone(pool: asyncpg.Pool, account: str) -> None:
    caller = Caller(account, "platform", "p")
    group = GroupCommit(pool)
    good = [PutRecord(record_id=new_record_id(), content=content()) for _ in range(4)]
    # PostgreSQL text cannot hold U+0000: the write of this one fails in the database.
    poison = PutRecord(record_id=new_record_id(), content=content(memo="a\x00b"))
    outcomes = await gather(group, *((caller, c) for c in [good[0], good[1], poison, *good[2:]]))
    assert [isinstance(o, Completed) for o in outcomes] == [True, True, False, True, True]
    assert isinstance(outcomes[2], asyncpg.PostgresError)


async def test_a_caller_gone_while_waiting_takes_its_command_with_it(
    pool: asyncpg.Pool, account: str
) -> None:
    ids = await ready(pool, account, 2)
    group = GroupCommit(pool)
    first = asyncio.create_task(group.run(Caller(account, "c", "r0"), export(ids[0])))
    waiting = asyncio.create_task(group.run(Caller(account, "c", "r1"), export(ids[1])))
    await asyncio.sleep(0)
    waiting.cancel()  # still queued behind the first
    await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.05)
    async with pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT review_status FROM record_state WHERE account_id = $1 AND record_id = $2",
            account,
            ids[1],
        )
    assert status == "READY_FOR_EXPORT"


async def test_the_command_read_is_planned_once_per_connection_not_per_command(
    pool: asyncpg.Pool, account: str
) -> None:
    ids = await ready(pool, account, 12)
    async with pool.acquire() as conn:  # other accounts' records: a table worth planning for
        await conn.execute(
            "INSERT INTO record_state (account_id, record_id, version, review_status,"
            " source_type, type, updated_at, state)"
            " SELECT 'other-' || (n % 50), 'rec-' || n, version, review_status, source_type,"
            " type, updated_at, state FROM record_state, generate_series(1, 20000) AS n"
            " WHERE account_id = $1 AND record_id = $2",
            account,
            ids[0],
        )
        await conn.execute("ANALYZE record_state")
    for i, rid in enumerate(ids):  # one record and one key each: the read's arrays vary
        caller = Caller(account, "c", f"r{i}", idempotency_key=f"key-{i}")
        await run_command(pool, caller, export(rid))
    async with pool.acquire() as conn:  # the pool's one connection, which ran them all
        plans = await conn.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%''key'' AS kind%'"
        )
    # PostgreSQL plans a prepared statement anew for its first five runs; after that it
    # keeps one plan, unless the values keep making a plan of their own look cheaper.
    assert [(p["generic_plans"], p["custom_plans"]) for p in plans] == [(len(ids) - 5, 5)]
