"""Bounds on the work a request may cause: timeouts on the service's database sessions,
the pool's size, the request timeout and the number of requests in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from service.api.guards import IN_FLIGHT
from service.api.keys import POOL
from tests.api import count_events, create_integration, export, ok, ready_records
from tests.conftest import make_token

MakeApp = Callable[..., web.Application]


async def serve(aiohttp_client: Any, app: web.Application) -> TestClient:  # type: ignore[type-arg]
    client: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    return client


@asynccontextmanager
async def integration_locked(dsn: str, account: str) -> AsyncIterator[None]:
    """Hold the account's integration row FOR UPDATE: export-results (which takes it FOR
    SHARE) waits until the block ends."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "SELECT 1 FROM integrations WHERE account_id = $1 FOR UPDATE", account
            )
            yield
    finally:
        await conn.close()


async def until(condition: Callable[[], bool], wait: float = 10.0) -> None:
    deadline = time.monotonic() + wait
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def test_service_sessions_carry_statement_and_idle_transaction_timeouts(
    aiohttp_client: Any, app_with: MakeApp
) -> None:
    app = app_with(db_statement_timeout=0.25, db_idle_in_transaction_timeout=0.3)
    await serve(aiohttp_client, app)
    pool = app[POOL]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "250ms"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "300ms"
        started = time.monotonic()
        try:
            await conn.fetchval("SELECT pg_sleep(5)")
            raise AssertionError("a 5 s statement outlived a 250 ms statement_timeout")
        except asyncpg.QueryCanceledError:
            assert time.monotonic() - started < 2
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await asyncio.sleep(0.8)
        try:
            await conn.fetchval("SELECT 1")
            raise AssertionError("a session idle in a transaction was not ended")
        except (asyncpg.IdleInTransactionSessionTimeoutError, asyncpg.InterfaceError):
            pass  # the server ended the session (asyncpg may have noticed first)
    async with pool.acquire() as conn:  # the pool replaced the ended session
        assert await conn.fetchval("SELECT 1") == 1


async def test_the_pool_never_opens_more_connections_than_its_bound(
    aiohttp_client: Any, app_with: MakeApp, shared_dsn: str
) -> None:
    app = app_with(db_pool_min=1, db_pool_max=3)
    client = await serve(aiohttp_client, app)
    assert app[POOL].get_max_size() == 3 and app[POOL].get_min_size() == 1
    auth = {"Authorization": f"Bearer {make_token('acct_pool')}"}
    before = await _backends(shared_dsn)
    answers = await asyncio.gather(
        *(client.get("/v3/accounting/records", headers=auth) for _ in range(40))
    )
    assert {a.status for a in answers} == {200}
    assert app[POOL].get_size() <= 3
    assert await _backends(shared_dsn) - before <= 3


async def _backends(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await conn.close()


async def test_a_request_past_its_timeout_is_503_and_keeps_nothing(
    aiohttp_client: Any, app_with: MakeApp, shared_dsn: str, account: str, auth: dict[str, str]
) -> None:
    client = await serve(aiohttp_client, app_with(request_timeout=0.5))
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    before = await count_events(client, account)
    async with integration_locked(shared_dsn, account):
        started = time.monotonic()
        resp = await client.post(
            "/v3/accounting/records/export-results", json={"results": [ok(rid)]}, headers=auth
        )
        waited = time.monotonic() - started
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error_code"] == "INTERNAL_ERROR"
    assert 0.5 <= waited < 3
    assert await count_events(client, account) == before
    record = await (await client.get(f"/v3/accounting/records/{rid}", headers=auth)).json()
    assert record["review_status"] == "READY_FOR_EXPORT"


async def test_past_the_limit_of_requests_in_flight_it_is_503_but_probes_answer(
    aiohttp_client: Any, app_with: MakeApp, shared_dsn: str, account: str, auth: dict[str, str]
) -> None:
    app = app_with(max_concurrent_requests=2)
    client = await serve(aiohttp_client, app)
    await create_integration(client, auth)
    first, second = await ready_records(client, auth, 2)
    async with integration_locked(shared_dsn, account):
        held = [asyncio.create_task(export(client, auth, [ok(rid)])) for rid in (first, second)]
        await until(lambda: app[IN_FLIGHT].count == 2)
        refused = await client.get("/v3/accounting/records", headers=auth)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "1"
        assert (await refused.json())["details"] == {"reason": "too many requests in flight"}
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/healthz")).status == 200
    assert [status for status, _ in await asyncio.gather(*held)] == [200, 200]
    assert app[IN_FLIGHT].count == 0
    assert (await client.get("/v3/accounting/records", headers=auth)).status == 200
