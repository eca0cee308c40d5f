"""Database outages under load, with the service as a real process: requests fail fast
with the 503 envelope, /readyz says 503, nothing hangs; once PostgreSQL is back the service
recovers by itself within seconds, and nothing acknowledged is lost.

With DATABASE_URL the server is stopped (pg_ctl stop) and, apart, frozen (SIGSTOP: it
accepts connections and answers nothing). In embedded mode its postmaster is killed and the
service restarts the cluster itself."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from service.ops.embedded_postgres import EmbeddedPostgres
from service.ops.postgres_processes import processes_working_in
from service.ops.serving import EXIT_DATABASE_LOST
from tests.conftest import FIGURES
from tests.contract import ERROR_CODES
from tests.invariants import check_log
from tests.journal import Journal, connector, platform, setup_account
from tests.live import Service, bearer, embedded_dsn, postmaster_pid, service_env

# Fail-fast bounds the service is configured with, and what "nothing hangs" allows.
TIMEOUTS = {"db_connect_timeout": 1, "db_command_timeout": 1.5, "request_timeout": 2}
HANG = 3.0


@dataclass(frozen=True)
class Probe:
    path: str
    started: float
    seconds: float
    status: int | None
    body: Any
    retry_after: str | None


async def probe(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], path: str
) -> Probe:
    started = time.monotonic()
    try:
        async with session.get(
            url + path, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:
            body, status, retry = await resp.json(), resp.status, resp.headers.get("Retry-After")
    except (TimeoutError, aiohttp.ClientError):
        body, status, retry = None, None, None
    return Probe(path, started, time.monotonic() - started, status, body, retry)


@asynccontextmanager
async def under_load(service: Service, account: str) -> AsyncIterator[tuple[Journal, list[Probe]]]:
    """Connectors and the platform writing, and probes of a read and of /readyz, all the
    while; the probes' answers are collected."""
    journal = Journal(service.base, bearer(account))
    probes: list[Probe] = []
    rng = random.Random(3)
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=40)

        async def probing(path: str) -> None:
            while True:
                probes.append(await probe(session, service.base, journal.headers, path))
                await asyncio.sleep(0.02)

        workers = [connector(session, journal, ledger, rng) for _ in range(3)]
        workers += [platform(session, journal, ledger, rng)]
        workers += [probing("/v3/accounting/records?limit=1"), probing("/readyz")]
        tasks = [asyncio.create_task(w) for w in workers]
        try:
            yield journal, probes
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sent in journal.in_doubt():  # a connector retries what it could not know
                await journal.send(session, sent)


async def until(condition: Callable[[], bool], within: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "never happened"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def answered_during(probes: list[Probe], start: float, end: float) -> list[Probe]:
    return [p for p in probes if start <= p.started and p.started + p.seconds <= end]


def assert_failed_fast(probes: list[Probe]) -> None:
    assert len([p for p in probes if p.path == "/readyz"]) >= 3, probes
    for p in probes:
        assert p.seconds < HANG, f"{p.path} took {p.seconds:.1f} s"
        assert p.status == 503, p
        assert p.retry_after == "1"
        assert set(p.body) == {"error_code", "message", "details"}
        assert p.body["error_code"] in ERROR_CODES


async def outage(
    service: Service, begin: Callable[[], object], end: Callable[[], object], account: str, dsn: str
) -> tuple[float, int]:
    """Load, `begin` the outage, watch for a while, `end` it; the seconds from the start of
    `end` (PostgreSQL's start included) to the first 200 of /readyz, and how many probes
    failed fast meanwhile."""
    async with under_load(service, account) as (journal, probes):
        await asyncio.sleep(0.5)
        begin()
        down = time.monotonic()
        # A probe that was under way when the outage began waits out the request timeout
        # (2 s), then each takes the connect timeout (1 s): the watch holds three of them
        # with a second to spare on a busy machine.
        await asyncio.sleep(HANG + 3.5)
        up = time.monotonic()
        during = answered_during(probes, down + 0.5, up)
        assert_failed_fast(during)
        end()  # returns once PostgreSQL accepts connections again
        back = time.monotonic() - up
        back += await until(
            lambda: any(p.path == "/readyz" and p.started > up and p.status == 200 for p in probes),
            20,
        )
        await asyncio.sleep(0.5)
        after = [p for p in probes if p.started > up + back + 0.2]
        assert after and all(p.status == 200 for p in after), after
    found = await check_log(dsn, account, journal)
    assert found.found == found.acknowledged
    return back, len(during)


def signals(cluster: EmbeddedPostgres, signum: int) -> Callable[[], None]:
    """Send `signum` to every process of the cluster's server."""

    def send() -> None:
        for pid in processes_working_in(cluster.pgdata) or []:
            os.kill(pid, signum)

    return send


async def test_database_url_outage_stop_and_freeze(tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "server", database="accounting")
    cluster.start()
    service = Service(
        tmp_path, service_env(tmp_path / "data", database_url=cluster.dsn, settings=TIMEOUTS)
    )
    try:
        service.start()
        account = f"acct_out_{uuid.uuid4().hex[:8]}"
        stopped = await outage(service, cluster.stop, cluster.start, account, cluster.dsn)
        account = f"acct_frz_{uuid.uuid4().hex[:8]}"

        frozen = await outage(
            service,
            signals(cluster, signal.SIGSTOP),
            signals(cluster, signal.SIGCONT),
            account,
            cluster.dsn,
        )
        assert service.proc is not None and service.proc.poll() is None, "the service restarted"
        assert service.stop() == 0
    finally:
        signals(cluster, signal.SIGCONT)()
        if service.proc is not None and service.proc.poll() is None:
            service.kill()
        cluster.stop()
    FIGURES.append(
        f"outage (DATABASE_URL): stopped -> {stopped[1]} probes failed fast (503, < {HANG} s), "
        f"ready {stopped[0]:.2f} s after pg_ctl start began; frozen -> {frozen[1]} probes "
        f"failed fast, ready {frozen[0]:.2f} s after the thaw; acknowledged lost 0"
    )


async def test_embedded_outage_the_service_restarts_its_cluster(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = Service(tmp_path, service_env(data, settings=TIMEOUTS)).start()
    account = f"acct_emb_{uuid.uuid4().hex[:8]}"
    try:
        async with under_load(service, account) as (journal, probes):
            await asyncio.sleep(0.5)
            killed = time.monotonic()
            os.kill(postmaster_pid(data), signal.SIGKILL)
            await until(
                lambda: any(
                    p.path == "/readyz" and p.started > killed and p.status == 503 for p in probes
                ),
                10,
            )
            recovery = await until(
                lambda: any(
                    p.path == "/readyz" and p.started > killed and p.status == 200 for p in probes
                ),
                30,
            )
            await asyncio.sleep(0.5)
        assert service.proc is not None and service.proc.poll() is None, "the service restarted"
        outage_answers = [p for p in probes if p.started > killed and p.status != 200]
        for p in outage_answers:
            assert p.status == 503 and p.seconds < HANG, p
        found = await check_log(embedded_dsn(data), account, journal)
        assert found.found == found.acknowledged
        assert any(e.get("event") == "embedded PostgreSQL restarted" for e in service.log_events())
        assert service.stop() == 0
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.kill()
    FIGURES.append(
        f"outage (embedded, postmaster killed): restarted by the service, ready again "
        f"{recovery:.2f} s after the kill; {len(outage_answers)} requests failed fast with 503 "
        f"meanwhile; exports acknowledged {found.acknowledged}, found {found.found}"
    )


async def test_embedded_cluster_that_cannot_come_back_makes_the_service_exit_3(
    tmp_path: Path,
) -> None:
    """Its data directory gone, the cluster cannot be restarted: rather than answer 503
    forever, the service exits non-zero for a supervisor (and never makes a new, empty
    cluster in its place)."""
    data = tmp_path / "data"
    service = Service(tmp_path, service_env(data, settings={"embedded_restart_deadline": 2}))
    service.start()
    pgdata = data / "postgres" / "pgdata"
    try:
        os.kill(postmaster_pid(data), signal.SIGKILL)
        pgdata.rename(pgdata.with_name("pgdata.moved"))
        assert service.proc is not None
        assert await asyncio.to_thread(service.proc.wait, 60) == EXIT_DATABASE_LOST
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.kill()
    assert not (pgdata / "PG_VERSION").exists(), "a new cluster was made in its place"
    events = [e.get("event") for e in service.log_events()]
    assert "embedded PostgreSQL cannot be restarted" in events
