"""Crash durability: the service, as a real process on its embedded PostgreSQL, is killed
with SIGKILL at random moments under concurrent export-results load (in some cycles its
PostgreSQL postmaster is killed too), restarted, and the log is checked against what every
client sent and got back (tests/invariants.py). Requests that got no answer are retried
with their Idempotency-Key after the restart, as a connector would."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid
from pathlib import Path

import aiohttp
import pytest

from eventstore.pool import connect
from service.ops.postgres_processes import processes_working_in
from tests.conftest import FIGURES
from tests.invariants import check_log, verify_when_available
from tests.journal import Journal, Ledger, connector, platform, setup_account
from tests.live import Service, bearer, embedded_dsn, postmaster_pid, service_env


async def crash_cycles(folder: Path, cycles: int, seed: int) -> str:
    rng = random.Random(seed)
    data = folder / "data"
    service = Service(folder, service_env(data, settings={"db_pool_max": 8})).start()
    account = f"acct_crash_{uuid.uuid4().hex[:8]}"
    journal = Journal(service.base, bearer(account))
    acknowledged = found = in_doubt = postmaster_kills = 0
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=60)
        for cycle in range(cycles):
            clients = [connector(session, journal, ledger, rng) for _ in range(4)]
            load = [
                asyncio.create_task(c) for c in [*clients, platform(session, journal, ledger, rng)]
            ]
            await asyncio.sleep(rng.uniform(0.2, 1.2))
            also_postgres = cycle % 3 == 1
            postmaster = postmaster_pid(data)
            service.kill()
            if also_postgres:
                os.kill(postmaster, signal.SIGKILL)
                postmaster_kills += 1
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)
            doubtful = journal.in_doubt()
            in_doubt += len(doubtful)
            service.start()
            for sent in doubtful:
                await journal.send(session, sent)
                assert sent.status not in (None, 503), f"retry of {sent.key}: {sent.status}"
            figures = await check_log(embedded_dsn(data), account, journal)
            assert figures.found == figures.acknowledged
            acknowledged, found = figures.acknowledged, figures.found
            await _resync(ledger, embedded_dsn(data), account)
    assert service.stop() == 0
    pgdata = data / "postgres" / "pgdata"
    # The restarted service owned the cluster it found running: it stopped it too.
    assert processes_working_in(pgdata) == [], "a PostgreSQL process was left running"
    assert not any('"export TOKEN' in line for line in service.stdout.read_text().splitlines())
    verified = verify_when_available(service.env)
    assert processes_working_in(pgdata) == [], "verify left PostgreSQL running"
    return (
        f"crash: {cycles} cycles survived ({postmaster_kills} with the postmaster killed too); "
        f"exports acknowledged {acknowledged}, found in the log {found}, lost 0; "
        f"{in_doubt} requests without an answer retried, "
        f"{figures.in_doubt_committed} of them had committed; "
        f"{figures.events} events checked; verify {'passed' if verified else 'not yet merged'}"
    )


async def _resync(ledger: Ledger, dsn: str, account: str) -> None:
    """After a crash the clients learn the records' states from the database."""
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT record_id, review_status FROM record_state WHERE account_id = $1", account
        )
    finally:
        await conn.close()
    ledger.ready = {r["record_id"] for r in rows if r["review_status"] == "READY_FOR_EXPORT"}
    ledger.review = {r["record_id"] for r in rows if r["review_status"] == "REVIEW"}


async def test_crash_durability(tmp_path: Path) -> None:
    FIGURES.append(await crash_cycles(tmp_path, cycles=3, seed=7))


@pytest.mark.long
async def test_crash_durability_long(tmp_path: Path) -> None:
    FIGURES.append(await crash_cycles(tmp_path, cycles=12, seed=20261125))
