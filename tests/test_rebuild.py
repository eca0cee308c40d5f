"""Rebuilds and verify against a real PostgreSQL: the API answers every request sent while
the three projections are rebuilt and swapped in, and the rebuilt tables equal what the log
says; a paging cursor taken before a rebuild pages on as before; verify names each
difference, and compares a catch-up projection where its projector stands."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from projections.rebuild import PROJECTIONS
from projections.rebuild.rebuild import rebuild
from projections.rebuild.shadow import Busy, exclusive
from projections.rebuild.verify import compare_projection
from service.api.app import create_app
from service.api.keys import POOL
from tests.api import Client, create_integration, export, fail, ok, put_record, ready_records
from tests.conftest import settings_for
from tests.test_analytics import settle
from tests.test_cli import run_cli


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], fresh_dsn: str) -> TestClient:  # type: ignore[type-arg]
    """The service on a database of its own; its analytics projector runs only when a test
    says so (`settle`)."""
    settings = settings_for(fresh_dsn).model_copy(update={"catchup_in_service": False})
    made = await aiohttp_client(create_app(settings))
    assert isinstance(made, TestClient)
    return made


def pool_of(client: Client) -> asyncpg.Pool:
    return client.server.app[POOL]  # type: ignore[union-attr]


async def some_history(client: Client, auth: dict[str, str]) -> list[str]:
    await create_integration(client, auth)
    ids = await ready_records(client, auth, 12)
    code, _ = await export(client, auth, [ok(i) for i in ids[:5]] + [fail(ids[5])])
    assert code == 200
    return ids


async def keep_calling(
    client: Client, auth: dict[str, str], stop: asyncio.Event, statuses: list[int]
) -> None:
    """Writes and reads of every kind, one after another, until `stop`."""
    while not stop.is_set():
        record = await put_record(client, auth)
        path = f"/internal/accounting/records/{record['id']}/review-status"
        calls = [
            client.post(path, json={"review_status": "READY_FOR_EXPORT"}, headers=auth),
            client.post(
                "/v3/accounting/records/export-results",
                json={"results": [ok(record["id"])]},
                headers=auth,
            ),
            client.get("/v3/accounting/records?limit=5", headers=auth),
            client.get(f"/v3/accounting/records/{record['id']}", headers=auth),
            client.get("/v3/accounting/integration", headers=auth),
            client.get("/v3/accounting/analytics/exports", headers=auth),
        ]
        statuses.append(201)
        for call in calls:
            async with call as resp:
                statuses.append(resp.status)


async def test_the_api_answers_throughout_rebuilds_that_equal_the_log(
    client: Client, auth: dict[str, str]
) -> None:
    await some_history(client, auth)
    pool = pool_of(client)
    await settle(pool)
    stop, statuses = asyncio.Event(), list[int]()
    load = asyncio.create_task(keep_calling(client, auth, stop, statuses))
    try:
        for projection in PROJECTIONS.values():
            report = await rebuild(pool, projection)
            assert report.events > 0
            sent = len(statuses)
            await asyncio.sleep(0.05)
            assert len(statuses) > sent, f"no answer came after rebuilding {projection.name}"
    finally:
        stop.set()
        await load
    assert len(statuses) > 20
    assert [s for s in statuses if s not in (200, 201)] == []
    await settle(pool)
    for name in PROJECTIONS:
        assert await compare_projection(pool, name) == [], name


async def test_a_cursor_taken_before_a_rebuild_pages_on_as_before(
    client: Client, auth: dict[str, str]
) -> None:
    ids = {(await put_record(client, auth, memo="first"))["id"] for _ in range(9)}
    resp = await client.get("/v3/accounting/records?limit=4", headers=auth)
    page = await resp.json()
    seen = [item["id"] for item in page["items"]]
    await put_record(client, auth, sorted(ids)[0], memo="revised since the first page")
    await put_record(client, auth, memo="created since the first page")
    await rebuild(pool_of(client), PROJECTIONS["record_state"])
    while page["next_cursor"]:
        resp = await client.get(
            "/v3/accounting/records", params={"cursor": page["next_cursor"]}, headers=auth
        )
        page = await resp.json()
        assert page["total_count"] == 9
        assert {item["memo"] for item in page["items"]} == {"first"}
        seen += [item["id"] for item in page["items"]]
    assert sorted(seen) == sorted(ids)


async def test_verify_names_each_difference(
    client: Client, account: str, auth: dict[str, str]
) -> None:
    ids = await some_history(client, auth)
    pool = pool_of(client)
    await settle(pool)
    await put_record(client, auth)  # not projected yet: no difference until it is
    assert [await compare_projection(pool, name) for name in PROJECTIONS] == [[], [], []]
    key = f"account_id={account} record_id={ids[0]}"
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE analytics.records SET memo = 'edited' WHERE record_id = $1", ids[0]
        )
        await conn.execute("DELETE FROM analytics.record_lifecycle WHERE record_id = $1", ids[0])
        await conn.execute(
            "UPDATE record_state SET review_status = 'PREPARE' WHERE record_id = $1", ids[0]
        )
        integration = await conn.fetchval("DELETE FROM integrations RETURNING integration_id")
    assert await compare_projection(pool, "analytics") == [
        f"records {key}: memo is 'edited', the log says 'Business lunch'",
        f"record_lifecycle {key}: missing from the live table",
    ]
    assert await compare_projection(pool, "record_state") == [
        f"record_state {key}: review_status is 'PREPARE', the log says 'EXPORTED'"
    ]
    assert await compare_projection(pool, "integrations") == [
        f"integrations account_id={account} integration_id={integration}: "
        "missing from the live table"
    ]


async def test_one_rebuild_or_verify_of_a_projection_at_a_time(client: Client) -> None:
    pool = pool_of(client)
    async with exclusive(pool, "record_state"):  # as a rebuild of record_state holds it
        with pytest.raises(Busy):
            await rebuild(pool, PROJECTIONS["record_state"])
        with pytest.raises(Busy):
            await compare_projection(pool, "record_state")
        assert await compare_projection(pool, "integrations") == []


async def test_the_rebuild_command_replays_and_reports(
    client: Client, auth: dict[str, str], fresh_dsn: str, tmp_path: Path
) -> None:
    await some_history(client, auth)
    done = run_cli("rebuild", "record_state", dsn=fresh_dsn, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "record_state: 30 events replayed" in done.stderr
    assert await compare_projection(pool_of(client), "record_state") == []


async def pages_across_swaps(client: Client, auth: dict[str, str], swaps: int) -> int:
    """Write and page while record_state is rebuilt `swaps` times; the pages that counted
    fewer records than had been created before they were asked for."""
    created, short, stop = 0, 0, asyncio.Event()

    async def write() -> None:
        nonlocal created
        while not stop.is_set():
            await put_record(client, auth)
            created += 1

    async def read() -> None:
        nonlocal short
        while not stop.is_set():
            before = created
            resp = await client.get("/v3/accounting/records?limit=1", headers=auth)
            short += (await resp.json())["total_count"] < before

    tasks = [asyncio.create_task(work()) for work in (write, write, read, read, read)]
    try:
        for _ in range(swaps):
            await rebuild(pool_of(client), PROJECTIONS["record_state"])
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert created > swaps
    return short


async def test_no_page_misses_a_record_across_swaps(client: Client, auth: dict[str, str]) -> None:
    assert await pages_across_swaps(client, auth, swaps=4) == 0


@pytest.mark.long
async def test_no_page_misses_a_record_across_many_swaps(
    client: Client, auth: dict[str, str]
) -> None:
    assert await pages_across_swaps(client, auth, swaps=60) == 0
