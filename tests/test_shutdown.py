"""SIGTERM stops the service gracefully: it stops accepting at once, finishes the requests
in flight (within SHUTDOWN_TIMEOUT; past it they are cancelled and roll back), closes its
pool and stops its embedded cluster, leaving no PostgreSQL process behind."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg

from service.ops.embedded_postgres import EmbeddedPostgres
from service.ops.postgres_processes import processes_working_in
from tests.journal import EXPORT, Journal, Sent, setup_account
from tests.live import Service, bearer, embedded_dsn, service_env


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


async def refuses_connections(port: int) -> bool:
    return await asyncio.to_thread(_refuses, port)


async def until(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


async def exports_waiting(dsn: str) -> bool:
    """Whether an export-results write waits on the integration row's lock. (Two requests
    sent together may be one write, grouped, or a write and one queued behind it.)"""
    conn = await asyncpg.connect(dsn)
    try:
        return (
            int(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%FOR SHARE%'"
                )
            )
            > 0
        )
    finally:
        await conn.close()


async def shutdown_with_requests_in_flight(folder: Path, finish: bool) -> list[Sent]:
    """Two export-results requests wait on a lock of the integration row; SIGTERM comes; the
    lock is released (`finish`) or held past the shutdown timeout."""
    data = folder / "data"
    service = Service(folder, service_env(data, settings={"shutdown_timeout": 2})).start()
    dsn = embedded_dsn(data)
    account = f"acct_stop_{uuid.uuid4().hex[:8]}"
    journal = Journal(service.base, bearer(account))
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=2)
        holder = await asyncpg.connect(dsn)
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM integrations WHERE account_id = $1 FOR UPDATE", account)
        batches = [[rid] for rid in sorted(ledger.ready)]
        sent = [
            journal.new(
                "POST",
                EXPORT,
                {"results": [{"accounting_record_id": rid, "success": {}}]},
                {rid: "ExportSucceeded"},
            )
            for (rid,) in batches
        ]
        flying = [asyncio.create_task(journal.send(session, s)) for s in sent]
        await until(lambda: exports_waiting(dsn))
        stopping = time.monotonic()
        service.signal(15)  # SIGTERM
        await until(lambda: refuses_connections(service.port), 5)
        assert all(not task.done() for task in flying), "in-flight requests ended early"
        if finish:
            await lock.commit()
        answers = await asyncio.gather(*flying)
        assert service.proc is not None
        code = await asyncio.to_thread(service.proc.wait, 30)
        took = time.monotonic() - stopping
        await holder.close()
    assert code == 0, service.tail()
    assert took < 2 + 5, f"shutdown took {took:.1f} s"
    pgdata = data / "postgres" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "the cluster was not stopped"
    assert processes_working_in(pgdata) == [], "a PostgreSQL process was left running"
    events = [e.get("event") for e in service.log_events()]
    assert "stopping" in events and "stopped" in events
    return answers


async def test_sigterm_finishes_requests_in_flight(tmp_path: Path) -> None:
    answers = await shutdown_with_requests_in_flight(tmp_path, finish=True)
    assert [sent.status for sent in answers] == [200, 200]


async def test_sigterm_cancels_requests_past_the_shutdown_timeout(tmp_path: Path) -> None:
    answers = await shutdown_with_requests_in_flight(tmp_path, finish=False)
    assert all(sent.status in (None, 503) for sent in answers), [s.status for s in answers]
    cluster = EmbeddedPostgres(tmp_path / "data" / "postgres", database="accounting")
    with cluster:  # the data, as the next start finds it: the cancelled requests left nothing
        conn = await asyncpg.connect(cluster.dsn)
        try:
            keys = {s.key for s in answers}
            found = await conn.fetchval(
                "SELECT count(*) FROM events WHERE metadata->>'idempotency_key' = ANY($1::text[])",
                list(keys),
            )
        finally:
            await conn.close()
    assert found == 0
