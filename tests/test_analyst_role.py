"""The read-only `analyst` role, connected as: the migrations make it once per cluster and
grant it the analytics schema in every database; it logs in, reads the analytics tables,
writes nothing and reads nothing else; the psql command `serve` prints works as printed."""

from __future__ import annotations

import asyncio
import shlex
import shutil
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from eventstore.pool import connect
from projections.analytics.analyst import allow_analyst_login
from projections.analytics.projection import ANALYTICS, analytics_projector
from projections.catchup import catch_up
from service.database import migrate_schema, open_pool
from service.ops.cli import analyst_banner
from service.ops.demo import seed_demo
from service.ops.postgres_install import find_bindir

PASSWORD = "analyst-test-password"


def as_analyst(dsn: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"analyst:{PASSWORD}@{host}"))


@pytest.fixture
async def analyst(fresh_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as `analyst` to a database with a little projected data."""
    pool = await open_pool(fresh_dsn, max_size=3)
    try:
        await seed_demo(pool, "acct_analysed", 20)
        await catch_up(pool, analytics_projector())
        async with pool.acquire() as owner:
            assert await allow_analyst_login(owner, PASSWORD)
    finally:
        await pool.close()
    conn = await asyncpg.connect(as_analyst(fresh_dsn))
    yield conn
    await conn.close()


async def test_the_analyst_reads_every_analytics_table(analyst: asyncpg.Connection) -> None:
    counts = {
        table.name: await analyst.fetchval(f"SELECT count(*) FROM analytics.{table.name}")
        for table in ANALYTICS.tables
    }
    assert all(count > 0 for count in counts.values()), counts
    assert await analyst.fetchval("SELECT current_user") == "analyst"


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO analytics.daily_exports VALUES ('a', now(), 'v', 'FAILED', 'USD', 1, 1)",
        "UPDATE analytics.records SET memo = 'edited'",
        "DELETE FROM analytics.export_attempts",
        "TRUNCATE analytics.record_lifecycle",
        "CREATE TABLE analytics.mine (n integer)",
    ],
)
async def test_the_analyst_writes_nothing(analyst: asyncpg.Connection, statement: str) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await analyst.execute(statement)  # its sessions are read-only
    await analyst.execute("BEGIN READ WRITE")  # and asking for more gets nothing
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await analyst.execute(statement)
    finally:
        await analyst.execute("ROLLBACK")


@pytest.mark.parametrize(
    "table",
    ["events", "idempotency_keys", "record_state", "integrations", "projector_checkpoints"],
)
async def test_the_analyst_reads_nothing_else(analyst: asyncpg.Connection, table: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await analyst.fetch(f"SELECT * FROM {table} LIMIT 1")


async def test_migrating_another_database_grants_the_existing_role(empty_dsn: str) -> None:
    owner = await connect(empty_dsn)
    try:
        assert "projections.analytics/001_analytics" in await migrate_schema(owner)
        assert await allow_analyst_login(owner, PASSWORD)
        assert await owner.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = 'analyst'") == 1
    finally:
        await owner.close()
    conn = await asyncpg.connect(as_analyst(empty_dsn))
    try:
        assert await conn.fetchval("SELECT count(*) FROM analytics.records") == 0
    finally:
        await conn.close()


async def test_the_printed_psql_command_connects_as_the_analyst(
    analyst: asyncpg.Connection, fresh_dsn: str
) -> None:
    (line,) = [text for text in analyst_banner(fresh_dsn).splitlines() if text.startswith("psql")]
    beside_server = find_bindir() / "psql"
    psql = str(beside_server) if beside_server.exists() else shutil.which("psql")
    assert psql, "psql not found"
    query = "SELECT current_user, count(*) FROM analytics.records"
    done = await asyncio.create_subprocess_exec(
        psql,
        *shlex.split(line)[1:],
        *("-XAtc", query),
        env={"PGPASSWORD": PASSWORD},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, problems = await asyncio.wait_for(done.communicate(), 30)
    assert done.returncode == 0, problems
    assert out.decode().strip() == "analyst|20"
