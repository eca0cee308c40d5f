"""Benchmark: the event store and the export-results path beside raw PostgreSQL.

Run from the repository root: `.venv/bin/python -m bench.run` (or `make bench`).

With DATABASE_URL set, a fresh database `bench_<random>` is created on that server and
dropped at the end; otherwise a private PostgreSQL cluster is started in a temporary
folder and stopped at the end. Every figure is measured a few times and printed as
median (min - max) next to a raw-SQL baseline doing the same writes or reads with no
event-store machinery. Nothing here passes or fails: it only prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.table import Table

from domain.exports import ExportResult, ExportSuccess, ReportExportResults
from domain.integrations import CreateIntegration
from eventstore.pool import connect, create_pool, dumps, loads
from eventstore.store import _READ_ALL, append, read_all  # the query, to show its plan
from eventstore.types import START, Conn, NewEvent, StreamWrite
from service.commands.caller import Caller
from service.commands.runner import run_command
from service.database import migrate_schema
from service.ops.bulk_import import import_lines
from service.ops.embedded_postgres import EmbeddedPostgres
from tests.factories import record_body

# Sizes: the whole run stays well under two minutes on two shared cores.
REPEATS = 5
FEED_REPEATS = 3
WRITERS = 16
APPEND_SECONDS = 3.0
WARMUP_SECONDS = 0.3
BATCH_STREAMS = 100
BATCH_EVENTS_PER_STREAM = 10
BATCH_RUNS = 7
EXPORT_BATCH = 100
EXPORT_BATCHES_PER_REPEAT = 6
EXPORT_REPEATS = 5
FEED_PAGE = 1000

APPEND_ACCOUNT = "acct_bench_append"
BATCH_ACCOUNT = "acct_bench_batch"
EXPORT_ACCOUNT = "acct_bench_export"
EVENT_TYPE = "BenchAppended"
MEMO = "benchmark event with a short memo"

_RAW_TABLES = """
CREATE TABLE bench_raw (
    id         bigserial PRIMARY KEY,
    account_id text,
    stream_id  text,
    version    integer,
    type       text,
    data       jsonb
);
CREATE TABLE bench_state (
    id     text PRIMARY KEY,
    status text
);
"""
_RAW_COLUMNS = ["account_id", "stream_id", "version", "type", "data"]
_RAW_INSERT = """
INSERT INTO bench_raw (account_id, stream_id, version, type, data) VALUES ($1, $2, $3, $4, $5)
"""
_RAW_UNNEST = """
INSERT INTO bench_raw (account_id, stream_id, version, type, data)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
"""
_RAW_EXPORT_UPDATE = "UPDATE bench_state SET status = 'EXPORTED' WHERE id = ANY($1::text[])"
# Same columns as eventstore.store reads, keyset-paged on position alone.
_RAW_FEED = """
SELECT position, tx::text::bigint AS tx, event_id, account_id, stream_id, version, type,
       schema_version, data, metadata, recorded_at
FROM events WHERE position > $1 ORDER BY position LIMIT $2
"""

# Piped output (make bench | tee) would otherwise be squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 120)
Row = tuple[str, str, int, str, Any]


# --- figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Repeated measurements of one figure."""

    values: list[float]
    unit: str
    digits: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def _fmt(self, value: float) -> str:
        return f"{value:,.{self.digits}f}"

    def cell(self) -> str:
        return (
            f"{self._fmt(self.median)} {self.unit}"
            f"  ({self._fmt(min(self.values))} - {self._fmt(max(self.values))})"
        )


@dataclass(frozen=True)
class Result:
    """One line of the summary: ratio = ours / baseline on the first figure of each side."""

    name: str
    ours: list[Sample]
    baseline: list[Sample]
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours[0].median / self.baseline[0].median


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.results.append(result)
        console.print(
            f"  -> [bold]{result.name}[/]: ours {result.ours[0].cell()}, "
            f"baseline {result.baseline[0].cell()}, ratio {result.ratio:.2f}"
        )

    def table(self, title: str) -> Table:
        table = Table(title=title, show_lines=True)
        table.add_column("measurement")
        table.add_column("ours: median (min - max)", justify="right")
        table.add_column("baseline: median (min - max)", justify="right")
        table.add_column("ratio ours/baseline", justify="right")
        for number, result in enumerate(self.results, start=1):
            table.add_row(
                f"{result.name} [{number}]",
                "\n".join(s.cell() for s in result.ours),
                "\n".join(s.cell() for s in result.baseline),
                f"{result.ratio:.2f}",
            )
        return table

    def notes(self) -> list[str]:
        return [f"[{n}] {result.note}" for n, result in enumerate(self.results, start=1)]


def event_data(writer: int, seq: int) -> dict[str, Any]:
    return {"writer": writer, "seq": seq, "amount": "100.50", "memo": MEMO}


# --- 1. one event per transaction, many writers ----------------------------------------

Step = Callable[[Conn], Awaitable[None]]


async def concurrent_rate(
    pool: asyncpg.Pool, seconds: float, make_step: Callable[[int], Step]
) -> float:
    """Transactions per second of WRITERS connections each running its own step in a loop."""
    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(pool.acquire()) for _ in range(WRITERS)]
        steps = [make_step(k) for k in range(WRITERS)]
        start = time.perf_counter()
        deadline = start + seconds

        async def loop(conn: Conn, step: Step) -> int:
            done = 0
            while time.perf_counter() < deadline:
                await step(conn)
                done += 1
            return done

        counts = await asyncio.gather(*(loop(c, s) for c, s in zip(conns, steps, strict=True)))
        elapsed = time.perf_counter() - start
    return sum(counts) / elapsed


def ours_append_step(tag: str) -> Callable[[int], Step]:
    def make(writer: int) -> Step:
        stream = f"append-{tag}-{writer}"
        version = 0

        async def step(conn: Conn) -> None:
            nonlocal version
            event = NewEvent(type=EVENT_TYPE, data=event_data(writer, version + 1))
            async with conn.transaction():
                await append(conn, [StreamWrite(APPEND_ACCOUNT, stream, version, [event])])
            version += 1

        return step

    return make


def raw_append_step(tag: str) -> Callable[[int], Step]:
    def make(writer: int) -> Step:
        stream = f"append-{tag}-{writer}"
        version = 0

        async def step(conn: Conn) -> None:
            nonlocal version
            async with conn.transaction():
                await conn.execute(
                    _RAW_INSERT,
                    APPEND_ACCOUNT,
                    stream,
                    version + 1,
                    EVENT_TYPE,
                    event_data(writer, version + 1),
                )
            version += 1

        return step

    return make


async def bench_append(pool: asyncpg.Pool, report: Report) -> None:
    console.rule(f"1. append, one event per transaction, {WRITERS} writers, {APPEND_SECONDS} s")
    await concurrent_rate(pool, WARMUP_SECONDS, ours_append_step("warm"))
    await concurrent_rate(pool, WARMUP_SECONDS, raw_append_step("warm"))
    ours: list[float] = []
    raw: list[float] = []
    for rep in range(REPEATS):
        ours.append(await concurrent_rate(pool, APPEND_SECONDS, ours_append_step(str(rep))))
        raw.append(await concurrent_rate(pool, APPEND_SECONDS, raw_append_step(str(rep))))
        console.print(f"  run {rep + 1}: ours {ours[-1]:,.0f} tx/s, raw {raw[-1]:,.0f} tx/s")
    report.add(
        Result(
            f"append 1 event/tx, {WRITERS} writers",
            [Sample(ours, "ev/s")],
            [Sample(raw, "ev/s")],
            f"{WRITERS} connections, each its own stream, {APPEND_SECONDS:g} s per run;"
            " ours: append() of 1 event per tx; baseline: one plain INSERT per tx into"
            " bench_raw (bigserial PK only)",
        )
    )


# --- 2. one batch of 1000 events -------------------------------------------------------


def batch_writes(tag: str) -> list[StreamWrite]:
    return [
        StreamWrite(
            BATCH_ACCOUNT,
            f"batch-{tag}-{s}",
            0,
            [
                NewEvent(type=EVENT_TYPE, data=event_data(s, e + 1))
                for e in range(BATCH_EVENTS_PER_STREAM)
            ],
        )
        for s in range(BATCH_STREAMS)
    ]


def batch_rows(tag: str) -> list[Row]:
    return [
        (BATCH_ACCOUNT, f"batch-{tag}-{s}", e + 1, EVENT_TYPE, event_data(s, e + 1))
        for s in range(BATCH_STREAMS)
        for e in range(BATCH_EVENTS_PER_STREAM)
    ]


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def copy_connection(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + dumps(value).encode(),
        decoder=lambda data: loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    return conn


async def batch_runs(
    conn: Conn,
    copier: asyncpg.Connection,
    ours: list[float],
    unnest: list[float],
    copy: list[float],
) -> None:
    """Milliseconds of each batch append, ours and both baselines, after one warm-up."""
    for run in range(BATCH_RUNS + 1):
        writes = batch_writes(str(run))
        rows = batch_rows(str(run))
        columns = [list(col) for col in zip(*rows, strict=True)]

        async def ours_call(writes: list[StreamWrite] = writes) -> None:
            async with conn.transaction():
                await append(conn, writes)

        async def unnest_call(columns: list[list[Any]] = columns) -> None:
            async with conn.transaction():
                await conn.execute(_RAW_UNNEST, *columns)

        async def copy_call(rows: list[Row] = rows) -> None:
            async with copier.transaction():
                await copier.copy_records_to_table("bench_raw", records=rows, columns=_RAW_COLUMNS)

        times = (await timed(ours_call), await timed(unnest_call), await timed(copy_call))
        if run == 0:
            continue
        ours.append(times[0] * 1000)
        unnest.append(times[1] * 1000)
        copy.append(times[2] * 1000)


async def bench_batch(dsn: str, pool: asyncpg.Pool, report: Report) -> None:
    size = BATCH_STREAMS * BATCH_EVENTS_PER_STREAM
    console.rule(f"2. batch append: {size} events in one call ({BATCH_STREAMS} streams)")
    ours: list[float] = []
    unnest: list[float] = []
    copy: list[float] = []
    # Binary COPY needs a binary jsonb encoder; the pool's codec is text-only.
    copier = await copy_connection(dsn)
    try:
        async with pool.acquire() as conn:
            await batch_runs(conn, copier, ours, unnest, copy)
    finally:
        await copier.close()

    def rate(ms: list[float]) -> Sample:
        return Sample([size / (m / 1000) for m in ms], "ev/s")

    def per_batch(ms: list[float]) -> Sample:
        return Sample(ms, "ms/batch", 1)

    report.add(
        Result(
            f"batch append {size} events",
            [rate(ours), per_batch(ours)],
            [rate(unnest), per_batch(unnest)],
            "ours: append() of 100 streams x 10 events in one tx; baseline: the same 1000 rows"
            " into bench_raw with one INSERT ... SELECT FROM unnest",
        )
    )
    report.add(
        Result(
            f"batch append {size} events",
            [rate(ours), per_batch(ours)],
            [rate(copy), per_batch(copy)],
            "as above; baseline: the same 1000 rows with copy_records_to_table (binary COPY)",
        )
    )


# --- 3. export-results -----------------------------------------------------------------


async def seed_export_account(pool: asyncpg.Pool, caller: Caller, ids: Sequence[str]) -> None:
    await run_command(
        pool,
        caller,
        CreateIntegration(
            new_integration_id="int_" + secrets.token_hex(12),
            vendor="ERP_A",
            vendor_account_id="ledger-1",
        ),
    )
    lines = (
        (number, json.dumps(record_body(id=rid, review_status="READY_FOR_EXPORT")))
        for number, rid in enumerate(ids, start=1)
    )
    start = time.perf_counter()
    imported = await import_lines(pool, caller, lines, batch_size=500)
    elapsed = time.perf_counter() - start
    if imported.created != len(ids) or imported.rejected:
        raise RuntimeError(f"seeding failed: {imported}")
    console.print(
        f"  seeded {len(ids):,} READY_FOR_EXPORT records with service.bulk.import_lines"
        f" in {elapsed:.2f} s ({len(ids) / elapsed:,.0f} records/s)"
    )
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO bench_state (id, status) SELECT unnest($1::text[]), 'READY_FOR_EXPORT'",
            list(ids),
        )


def export_command(ids: Sequence[str]) -> ReportExportResults:
    return ReportExportResults(
        results=tuple(
            ExportResult(accounting_record_id=rid, outcome=ExportSuccess(reference_id=f"ref-{rid}"))
            for rid in ids
        )
    )


async def ours_export(pool: asyncpg.Pool, caller: Caller, command: ReportExportResults) -> None:
    await run_command(pool, caller, command)  # raises the DomainError of a refusal


async def raw_export(pool: asyncpg.Pool, ids: list[str], rows: list[Row]) -> None:
    columns = [list(col) for col in zip(*rows, strict=True)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_RAW_EXPORT_UPDATE, ids)
        await conn.execute(_RAW_UNNEST, *columns)


def export_rows(ids: Sequence[str]) -> list[Row]:
    data = {"integration_id": "int_bench", "vendor": "ERP_A", "vendor_account_id": "ledger-1"}
    return [
        (EXPORT_ACCOUNT, rid, 2, "ExportSucceeded", data | {"reference_id": f"ref-{rid}"})
        for rid in ids
    ]


async def bench_export(pool: asyncpg.Pool, report: Report) -> None:
    per_repeat = EXPORT_BATCH * EXPORT_BATCHES_PER_REPEAT
    total = per_repeat * EXPORT_REPEATS + EXPORT_BATCH  # one batch warms up
    console.rule(f"3. export-results, batches of {EXPORT_BATCH}, {total:,} records")
    caller = Caller(EXPORT_ACCOUNT, "bench", "bench-seed")
    all_ids = [f"accr_{uuid.uuid4().hex[:16]}" for _ in range(total)]
    await seed_export_account(pool, caller, all_ids)
    batches = [all_ids[i : i + EXPORT_BATCH] for i in range(0, total, EXPORT_BATCH)]

    async def ours_run(chunk: list[list[str]]) -> float:
        commands = [export_command(ids) for ids in chunk]
        callers = [Caller(EXPORT_ACCOUNT, "bench", uuid.uuid4().hex) for _ in chunk]
        start = time.perf_counter()
        for who, command in zip(callers, commands, strict=True):
            await ours_export(pool, who, command)
        return time.perf_counter() - start

    async def raw_run(chunk: list[list[str]]) -> float:
        rows = [export_rows(ids) for ids in chunk]
        start = time.perf_counter()
        for ids, batch_rows in zip(chunk, rows, strict=True):
            await raw_export(pool, ids, batch_rows)
        return time.perf_counter() - start

    await ours_run(batches[:1])
    await raw_run(batches[:1])
    ours: list[float] = []
    raw: list[float] = []
    for rep in range(EXPORT_REPEATS):
        first = 1 + rep * EXPORT_BATCHES_PER_REPEAT
        chunk = batches[first : first + EXPORT_BATCHES_PER_REPEAT]
        ours.append(await ours_run(chunk))
        raw.append(await raw_run(chunk))
        console.print(
            f"  run {rep + 1}: ours {per_repeat / ours[-1]:,.0f} records/s,"
            f" raw {per_repeat / raw[-1]:,.0f} records/s"
        )

    def rate(seconds: list[float]) -> Sample:
        return Sample([per_repeat / s for s in seconds], "rec/s")

    def per_batch(seconds: list[float]) -> Sample:
        return Sample([s * 1000 / EXPORT_BATCHES_PER_REPEAT for s in seconds], "ms/batch", 1)

    report.add(
        Result(
            f"export-results, {EXPORT_BATCH} records/call, sequential",
            [rate(ours), per_batch(ours)],
            [rate(raw), per_batch(raw)],
            "ours: run_command + report_export_results, one call per 100 records, one after"
            " another; baseline: in one tx, UPDATE bench_state ... WHERE id = ANY($1) + one"
            " unnest INSERT of 100 rows into bench_raw",
        )
    )


# --- 4. feed read ----------------------------------------------------------------------


async def plan_shape(conn: Conn, sql: str, *args: object) -> str:
    """The plan's nodes, outermost first, e.g. 'Limit > Sort > Seq Scan on events'."""
    nodes: list[str] = []
    for row in await conn.fetch("EXPLAIN " + sql, *args):
        line = str(row[0]).strip()
        if line.startswith("->") or (not nodes and "(cost=" in line):
            nodes.append(line.removeprefix("->").split("(cost=")[0].strip())
    return " > ".join(nodes)


async def bench_feed(pool: asyncpg.Pool, report: Report) -> None:
    console.rule(f"4. feed read, pages of {FEED_PAGE}")

    async def ours_read(conn: Conn) -> int:
        cursor = START
        seen = 0
        while True:
            page = await read_all(conn, cursor, limit=FEED_PAGE)
            if not page.events:
                return seen
            seen += len(page.events)
            cursor = page.cursor

    async def raw_read(conn: Conn) -> int:
        position = 0
        seen = 0
        while True:
            rows = await conn.fetch(_RAW_FEED, position, FEED_PAGE)
            if not rows:
                return seen
            seen += len(rows)
            position = rows[-1]["position"]

    ours: list[float] = []
    raw: list[float] = []
    async with pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*) FROM events")
        middle = await conn.fetchrow(
            "SELECT tx::text AS tx, position FROM events ORDER BY position OFFSET $1 LIMIT 1",
            total // 2,
        )
        if middle is None:
            raise RuntimeError("the event log is empty")
        ours_plan = await plan_shape(
            conn, _READ_ALL, middle["tx"], middle["position"], None, FEED_PAGE
        )
        raw_plan = await plan_shape(conn, _RAW_FEED, middle["position"], FEED_PAGE)
        console.print(f"  plan of a read_all page: {ours_plan}", markup=False)
        console.print(f"  plan of a baseline page: {raw_plan}", markup=False)
        await ours_read(conn)
        await raw_read(conn)
        for rep in range(FEED_REPEATS):
            for read, into in ((ours_read, ours), (raw_read, raw)):
                start = time.perf_counter()
                seen = await read(conn)
                into.append(seen / (time.perf_counter() - start))
                if seen != total:
                    raise RuntimeError(f"read {seen} events of {total}")
            console.print(f"  run {rep + 1}: ours {ours[-1]:,.0f} ev/s, raw {raw[-1]:,.0f} ev/s")
    report.add(
        Result(
            f"feed read, {total:,} events",
            [Sample(ours, "ev/s")],
            [Sample(raw, "ev/s")],
            f"whole log, pages of {FEED_PAGE}; ours: read_all, plan {ours_plan};"
            f" baseline: keyset WHERE position > $1 ORDER BY position, plan {raw_plan}",
        )
    )


# --- set-up ----------------------------------------------------------------------------


async def prepare(dsn: str) -> str:
    """Migrate, create the baseline tables; answer the server's description."""
    conn = await connect(dsn)
    try:
        await migrate_schema(conn)
        await conn.execute(_RAW_TABLES)
        version = await conn.fetchval("SHOW server_version")
        settings = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("synchronous_commit", "fsync", "shared_buffers")
        }
    finally:
        await conn.close()
    return f"PostgreSQL {version} (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"


async def bench(dsn: str, embedded: bool) -> None:
    started = time.perf_counter()
    server = await prepare(dsn)
    where = "embedded cluster (temporary)" if embedded else "DATABASE_URL server, fresh database"
    console.print(f"[bold]{server}[/] - {where}; {os.cpu_count()} CPUs")
    report = Report()
    pool = await create_pool(dsn, min_size=WRITERS, max_size=WRITERS + 4)
    try:
        await bench_append(pool, report)
        await bench_batch(dsn, pool, report)
        await bench_export(pool, report)
        await bench_feed(pool, report)
    finally:
        await pool.close()
    console.print()
    console.print(
        report.table(
            f"{server}, {'embedded' if embedded else 'DATABASE_URL'}"
            f" - {time.perf_counter() - started:.0f} s"
        )
    )
    for note in report.notes():
        console.print(note, markup=False, highlight=False)
    console.print(
        "ratio > 1: ours faster than the baseline; < 1: ours slower (computed on the first"
        " figure of each cell). Figures are medians of repeated runs, (min - max) beside them."
    )


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def on_server(url: str) -> None:
    name = "bench_" + secrets.token_hex(6)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    try:
        await bench(with_database(url, name), embedded=False)
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        finally:
            await admin.close()


def main() -> None:
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(on_server(url))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    cluster = EmbeddedPostgres(root / "pg", database="bench")
    try:
        with cluster:
            asyncio.run(bench(cluster.dsn, embedded=True))
    finally:
        cluster.stop()  # also when start() failed half-way; a no-op after a clean exit
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
