"""The analytics projector killed mid-way, then restarted, leaves exactly the rows of an
uninterrupted run: once with a failure injected between its writes and its checkpoint, once
with a real SIGKILL of the `project --follow` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest

from eventstore.types import Conn, RecordedEvent
from projections.analytics.projection import analytics_projector
from projections.catchup import catch_up, checkpoint, run_round
from projections.rebuild.verify import compare_projection
from service.database import open_pool
from service.ops.demo import seed_demo
from tests.analytics_oracle import actual_tables, expected_tables
from tests.conftest import AUDIENCE, SECRET
from tests.test_cli import run_cli

ACCOUNTS = ["acct_r1", "acct_r2"]


@pytest.fixture
async def pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A fresh database holding two demo accounts' events, none projected yet."""
    made = await open_pool(fresh_dsn, max_size=6)
    for account in ACCOUNTS:
        await seed_demo(made, account, 150)
    yield made
    await made.close()


class FailsAfterWriting:
    """The analytics projector, failing once its rows are written, before the runner moves
    the checkpoint: a crash at the worst moment."""

    def __init__(self) -> None:
        self.inner = analytics_projector()
        self.name = self.inner.name

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent]) -> None:
        await self.inner.apply(conn, events)
        raise RuntimeError("killed between the rows and the checkpoint")

    async def tick(self, conn: Conn) -> None:
        return None


async def assert_exactly_the_log(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await actual_tables(conn, ACCOUNTS) == await expected_tables(conn, ACCOUNTS)
    assert await compare_projection(pool, "analytics") == []


async def test_a_failure_between_rows_and_checkpoint_leaves_no_trace(pool: asyncpg.Pool) -> None:
    projector = analytics_projector()
    for _ in range(3):
        assert await run_round(pool, projector, batch=50) == 50
    async with pool.acquire() as conn:
        before, at = await actual_tables(conn, ACCOUNTS), await checkpoint(conn, projector.name)
    with pytest.raises(RuntimeError, match="killed"):
        await run_round(pool, FailsAfterWriting(), batch=50)
    async with pool.acquire() as conn:
        assert await actual_tables(conn, ACCOUNTS) == before
        assert await checkpoint(conn, projector.name) == at
    assert await catch_up(pool, analytics_projector(), batch=50) > 0
    await assert_exactly_the_log(pool)


async def test_a_killed_cli_runner_resumes_to_the_rows_of_an_uninterrupted_run(
    pool: asyncpg.Pool, fresh_dsn: str, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*) FROM events")
    env = os.environ | {
        "DATABASE_URL": fresh_dsn,
        "JWT_SECRET": SECRET,
        "JWT_AUDIENCE": AUDIENCE,
        "DATA_DIR": str(tmp_path),
    }
    runner = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "service", "project", "--follow", "--batch", "5"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        projected = await _when_partway(pool, total)
    finally:
        runner.send_signal(signal.SIGKILL)
        await asyncio.wait_for(runner.wait(), 30)
    assert runner.returncode == -signal.SIGKILL
    assert 0 < projected < total, "the kill came after the run, not during it"
    done = run_cli("project", "--batch", "5", dsn=fresh_dsn, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    await assert_exactly_the_log(pool)


async def _when_partway(pool: asyncpg.Pool, total: int) -> int:
    """Wait until the projector has passed a quarter of the log; how far it had come."""
    deadline = time.monotonic() + 60
    async with pool.acquire() as conn:
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT events FROM projector_checkpoints WHERE projector = 'analytics'"
            )
            if done and done >= total // 4:
                return int(done)
            await asyncio.sleep(0.005)
    raise AssertionError("the projector never got going")
