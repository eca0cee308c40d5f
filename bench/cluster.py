"""A throwaway PostgreSQL cluster for one benchmark run, and what it says about itself.

The only module of bench/ that imports the service's code: the embedded cluster it uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from service.ops.embedded_postgres import EmbeddedPostgres

SETTINGS = ("shared_buffers", "fsync", "synchronous_commit", "wal_level", "max_connections")


@dataclass(frozen=True)
class Cluster:
    dsn: str
    pgdata: Path

    def postmaster_pid(self) -> int:
        return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


@contextmanager
def cluster(root: Path) -> Iterator[Cluster]:
    """initdb + start under root, stop on exit."""
    postgres = EmbeddedPostgres(root / "postgres", database="bench")
    try:
        dsn = postgres.start()
        yield Cluster(dsn, postgres.pgdata)
    finally:
        postgres.stop()  # also after a failed start


async def checkpoint(dsn: str) -> None:
    """Write every dirty page out and start the WAL afresh. Run before each timed run, so
    that none falls inside it, and so that the run writes into WAL files recycled from the
    seeding's rather than creating (zero-filling) new ones: a server that has run a while
    does the same, while a new cluster's first WAL files stall the commits that need them."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def facts(dsn: str) -> dict[str, str]:
    """The server's version and the settings that matter for write throughput."""
    conn = await asyncpg.connect(dsn)
    try:
        found = {"version": str(await conn.fetchval("SHOW server_version"))}
        for name in SETTINGS:
            found[name] = str(await conn.fetchval(f"SHOW {name}"))
    finally:
        await conn.close()
    return found
