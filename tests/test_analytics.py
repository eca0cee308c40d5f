"""The analytics projection against a real PostgreSQL: after a random mix of API actions its
tables are what the tests' own fold of the log says."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from eventstore.store import read_stream
from eventstore.streams import Stream
from eventstore.types import Conn
from projections.analytics import projection as analytics_projection
from projections.analytics.fold import RecordFacts, record_facts
from projections.analytics.projection import ANALYTICS
from projections.catchup import catch_up, lag
from projections.rebuild import PROJECTIONS
from projections.stream_projection import StreamProjector
from service.api.app import create_app
from service.api.keys import POOL
from tests.analytics_oracle import actual_tables, expected_tables
from tests.api import (
    Client,
    create_integration,
    export,
    fail,
    ok,
    put_record,
    ready_records,
    set_status,
)
from tests.conftest import make_token, settings_for
from tests.test_schema_evolution import ACCOUNT as EVOLVED
from tests.test_schema_evolution import write_a_version_1_failure


async def settle(pool: asyncpg.Pool, name: str = "analytics") -> None:
    """Project everything committed (the service may be projecting too)."""
    projector = StreamProjector(ANALYTICS, ANALYTICS.schema, name)
    for _ in range(200):
        await catch_up(pool, projector)
        async with pool.acquire() as conn:
            if (await lag(conn, name)).events == 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the analytics projector never caught up")


async def random_actions(client: Client, auth: dict[str, str], rng: random.Random) -> None:
    """Records put, revised, moved and reported on, through two integrations in turn."""
    first = await create_integration(client, auth, vendor="ERP_A", account="ledger-a")
    ids: list[str] = []
    for n in range(24):
        currency = rng.choice(["USD", "EUR"])
        amount = rng.randint(100, 99_999) / 100  # as JSON: exactly these digits
        money = {"amount": amount, "currency": currency}
        body: dict[str, Any] = {"amount": money, "memo": f"memo {n}"}
        body["line_items"] = [
            {"id": f"li_{n}_d", "type": "DEBIT", "amount": money, "memo": "debit"},
            {"id": f"li_{n}_c", "type": "CREDIT", "amount": money},
        ]
        body["vendor"] = {"id": "v", "name": rng.choice(["Acme", "Globex", "Initech"])}
        ids.append((await put_record(client, auth, **body))["id"])
    for step in range(60):
        if step == 30:  # the second half reports through another ERP
            resp = await client.post(
                f"/v3/accounting/integration/{first['integration_id']}/disconnect", headers=auth
            )
            assert resp.status == 200
            await create_integration(client, auth, vendor="ERP_B", account="ledger-b")
        record_id = rng.choice(ids)
        action = rng.choice(["revise", "ready", "ready", "report", "report", "review"])
        got = await client.get(f"/v3/accounting/records/{record_id}", headers=auth)
        status = (await got.json())["review_status"]
        if status == "EXPORTED":
            continue
        if action == "revise":
            await put_record(client, auth, record_id, memo=f"revised {step}")
        elif action == "review":
            await set_status(client, auth, record_id, "REVIEW")
        elif status != "READY_FOR_EXPORT":
            await set_status(client, auth, record_id, "READY_FOR_EXPORT")
        else:
            item = ok(record_id, f"je-{step}") if rng.random() < 0.6 else fail(record_id)
            code, answer = await export(client, auth, [item])
            assert code == 200, answer


async def test_tables_equal_the_tests_own_fold_of_the_log(
    client: Client, account: str, auth: dict[str, str]
) -> None:
    other = account + "_b"
    other_auth = {"Authorization": f"Bearer {make_token(other)}"}
    await random_actions(client, auth, random.Random(11))
    await random_actions(client, other_auth, random.Random(12))
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    await settle(pool)
    async with pool.acquire() as conn:
        expected = await expected_tables(conn, [account, other])
        assert await actual_tables(conn, [account, other]) == expected
    assert len(expected["export_attempts"]) > 10
    assert {row[2] for row in expected["daily_exports"]} == {"ERP_A", "ERP_B"}
    assert {row[3] for row in expected["daily_exports"]} == {"EXPORTED", "FAILED"}


async def test_row_types_match_the_tables_the_migrations_made(shared_dsn: str) -> None:
    conn: Conn = await asyncpg.connect(shared_dsn)
    try:
        for projection in PROJECTIONS.values():
            schema = projection.schema or "public"
            for table in projection.tables:
                columns = await conn.fetch(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    schema,
                    table.name,
                )
                assert tuple(c[0] for c in columns) == table.columns, table.name
    finally:
        await conn.close()


async def test_both_stored_shapes_of_a_failure_reach_the_tables(fresh_dsn: str) -> None:
    """An ExportFailed stored as version 1 (message alone) is upcast on the way in; one of
    version 2 brings its code."""
    auth = {"Authorization": f"Bearer {make_token(EVOLVED)}"}
    async with TestClient(TestServer(create_app(settings_for(fresh_dsn)))) as client:
        await create_integration(client, auth)
        old_id, new_id = await ready_records(client, auth, 2)
        await write_a_version_1_failure(fresh_dsn, old_id)
        failure = {"error_message": "Vendor unknown", "error_code": "VENDOR_UNKNOWN"}
        item = {"accounting_record_id": new_id, "failure": failure}
        code, body = await export(client, auth, [item])
        assert code == 200, body
        pool = client.server.app[POOL]
        await settle(pool)
        async with pool.acquire() as conn:
            expected = await expected_tables(conn, [EVOLVED])
            assert await actual_tables(conn, [EVOLVED]) == expected
    assert {(row[1], row[9], row[10]) for row in expected["export_attempts"]} == {
        (old_id, "GL account 6099 is closed", None),
        (new_id, "Vendor unknown", "VENDOR_UNKNOWN"),
    }


async def _line_item_ids(pool: asyncpg.Pool, account: str, record_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT line_item_id FROM analytics.record_line_items"
            " WHERE account_id = $1 AND record_id = $2 ORDER BY line_number",
            account,
            record_id,
        )
    return [row["line_item_id"] for row in rows]


async def test_line_items_follow_a_revision_and_stay_through_later_events(
    client: Client, account: str, auth: dict[str, str]
) -> None:
    """Each step projected on its own: the revision replaces the rows, the status change
    and the report (which leave the content alone) keep them."""
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    await create_integration(client, auth)
    money = {"amount": 12.5, "currency": "USD"}

    def items(*ids: str) -> list[dict[str, Any]]:
        kinds = ("DEBIT", "CREDIT")
        pairs = zip(ids, kinds, strict=True)
        return [{"id": i, "type": kind, "amount": money} for i, kind in pairs]

    record_id = (await put_record(client, auth, amount=money, line_items=items("a", "b")))["id"]
    await settle(pool)
    assert await _line_item_ids(pool, account, record_id) == ["a", "b"]
    await put_record(client, auth, record_id, amount=money, line_items=items("c", "d"))
    await settle(pool)
    assert await _line_item_ids(pool, account, record_id) == ["c", "d"]
    await set_status(client, auth, record_id, "READY_FOR_EXPORT")
    await settle(pool)
    code, answer = await export(client, auth, [ok(record_id)])
    assert code == 200, answer
    await settle(pool)
    assert await _line_item_ids(pool, account, record_id) == ["c", "d"]
    async with pool.acquire() as conn:
        assert await actual_tables(conn, [account]) == await expected_tables(conn, [account])


async def test_a_fold_makes_line_item_rows_only_for_a_record_whose_content_changed(
    client: Client, account: str, auth: dict[str, str], monkeypatch: Any
) -> None:
    """A report leaves the content alone: its round folds the record without making the
    line-item rows it would throw away, and every other row is the full fold's."""
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    await create_integration(client, auth)
    record_id = (await put_record(client, auth))["id"]
    await set_status(client, auth, record_id, "READY_FOR_EXPORT")
    await settle(pool)
    asked: list[bool] = []

    def spied(stream: Stream, *, line_items: bool = True) -> RecordFacts:
        asked.append(line_items)
        return record_facts(stream, line_items=line_items)

    monkeypatch.setattr(analytics_projection, "record_facts", spied)
    code, answer = await export(client, auth, [ok(record_id)])
    assert code == 200, answer
    await settle(pool)
    assert asked == [False]
    async with pool.acquire() as conn:
        stream = await read_stream(conn, account, record_id)
        assert await actual_tables(conn, [account]) == await expected_tables(conn, [account])
    whole, bare = record_facts(stream), record_facts(stream, line_items=False)
    assert whole.line_items and bare.line_items == ()
    assert (bare.record, bare.lifecycle, bare.attempts) == (
        whole.record,
        whole.lifecycle,
        whole.attempts,
    )
