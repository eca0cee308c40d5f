"""Benchmark: rebuild rate of the projections beside a COPY-out of the events table.

Run from the repository root: `.venv/bin/python -m bench.rebuild_rate [--events N]`.

Writes N events (default 1,000,000) of realistic record histories, then times, in the same
run, `COPY events TO STDOUT` (the raw rate at which PostgreSQL hands out the log) and a full
`rebuild` of `record_state` and of `analytics` (replay into shadow tables, swap). With
DATABASE_URL set it works in a database `bench_<random>` on that server, dropped at the end;
otherwise in a temporary embedded cluster.

The events go in through `eventstore.append` (one statement per 1000, the hash chain
computed as for every append): the same events the deciders make, without the command
layer's per-request work, which `bench.run` and `import` measure, and the rebuild never reads.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from bench.log_rates import copy_out_rate
from domain.integrations import IntegrationCreated
from domain.records import (
    ExportError,
    ExportFailed,
    ExportSucceeded,
    RecordCreated,
    RecordEvent,
    RecordRevised,
    ReviewStatusChanged,
)
from domain.values import RecordContent, ReviewStatus
from eventstore.pool import dumps, loads
from eventstore.store import append
from eventstore.types import StreamWrite
from projections.codecs import INTEGRATIONS, RECORDS
from projections.rebuild import PROJECTIONS
from projections.rebuild.rebuild import rebuild
from service.database import open_pool
from service.ops.demo import demo_record
from service.ops.embedded_postgres import EmbeddedPostgres

WAVE = 1000  # records per step; each step also moves the two waves before it along
ACCOUNTS = 10
COPY_REPEATS = 3
META = {"client_id": "bench-connector", "request_id": "bench"}
console = Console()


def contents(n: int) -> list[RecordContent]:
    rng, base = random.Random(7), datetime(2026, 11, 1, tzinfo=UTC)
    return [RecordContent.model_validate(loads(dumps(demo_record(rng, i, base)))) for i in range(n)]


def steps(total: int) -> Iterator[list[tuple[str, int, list[RecordEvent]]]]:
    """Batches of (record id, expected version, its new events): each step creates a wave
    of records, revises half of the previous wave and makes it ready, and reports on the
    wave before that (one in seven fails). About 3.5 events per record."""
    templates, made, wave = contents(200), 0, 0
    integration = {"integration_id": "int_bench", "vendor": "ERP_A", "vendor_account_id": "l-1"}
    ready = ReviewStatusChanged(
        from_status=ReviewStatus.PREPARE, to_status=ReviewStatus.READY_FOR_EXPORT
    )
    while made < total:
        batch: list[tuple[str, int, list[RecordEvent]]] = []
        for i in range(WAVE):
            content = templates[(wave * WAVE + i) % len(templates)]
            created = RecordCreated(
                record_id=_id(wave, i), content=content, review_status=ReviewStatus.PREPARE
            )
            batch.append((_id(wave, i), 0, [created]))
        for i in range(WAVE if wave >= 1 else 0):
            revised = [RecordRevised(changes={"memo": f"#{i}"})] if i % 2 == 0 else []
            batch.append((_id(wave - 1, i), 1, [*revised, ready]))
        for i in range(WAVE if wave >= 2 else 0):
            report: RecordEvent = (
                ExportFailed(**integration, error=ExportError(message="GL account closed"))
                if i % 7 == 0
                else ExportSucceeded(**integration, reference_id=f"je-{wave}-{i}")
            )
            batch.append((_id(wave - 2, i), 3 if i % 2 == 0 else 2, [report]))
        made += sum(len(events) for _, _, events in batch)
        wave += 1
        yield batch


def _id(wave: int, i: int) -> str:
    return f"accr_b{wave:05d}_{i:04d}"


async def write_events(pool: asyncpg.Pool, total: int) -> int:
    written = 0
    async with pool.acquire() as conn:
        for account in range(ACCOUNTS):
            created = IntegrationCreated(
                integration_id="int_bench", vendor="ERP_A", vendor_account_id="l-1"
            )
            events = [INTEGRATIONS.encode(created, META)]
            write = StreamWrite(f"acct_bench_{account}", "integrations", 0, events)
            written += len(await append(conn, [write]))
        for batch in steps(total - written):
            writes = [
                StreamWrite(_account(rid), rid, version, [RECORDS.encode(e, META) for e in events])
                for rid, version, events in batch
            ]
            for start in range(0, len(writes), 1000):
                written += len(await append(conn, writes[start : start + 1000]))
            if written // 100_000 > (written - len(writes)) // 100_000:
                console.print(f"written {written:,} events")
        await conn.execute("VACUUM ANALYZE events")
    return written


def _account(record_id: str) -> str:
    return f"acct_bench_{int(record_id[-4:]) % ACCOUNTS}"


async def measure(dsn: str, total: int) -> None:
    pool = await open_pool(dsn, min_size=1, max_size=8)
    try:
        events = await write_events(pool, total)
        _, copy_rate = await copy_out_rate(dsn, COPY_REPEATS)
        table = Table(title=f"Rebuild rate on {events:,} events")
        for column in ("what", "events/s", "seconds", "x COPY-out"):
            table.add_column(column, justify="left" if column == "what" else "right")
        seconds = events / copy_rate
        table.add_row("COPY events TO STDOUT", f"{copy_rate:,.0f}", f"{seconds:.1f}", "1")
        for name in ("record_state", "analytics"):
            report = await rebuild(pool, PROJECTIONS[name])
            rate = report.events / report.seconds
            ratio = f"{rate / copy_rate:.2f}"
            table.add_row(f"rebuild {name}", f"{rate:,.0f}", f"{report.seconds:.1f}", ratio)
        console.print(table)
    finally:
        await pool.close()


async def on_server(url: str, total: int) -> None:
    name = "bench_" + secrets.token_hex(6)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        await measure(urlunsplit(urlsplit(url)._replace(path="/" + name)), total)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    total = parser.parse_args(argv).events
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(on_server(url, total))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    cluster = EmbeddedPostgres(root / "pg", database="bench")
    try:
        with cluster:
            asyncio.run(measure(cluster.dsn, total))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
