"""The auditors' and analysts' side of a run: how fast the log is read back (the feed over
HTTP, a projection rebuild) beside a COPY-out of the events table, and what the log and
the record states cost on disk."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import aiohttp
import asyncpg

from bench.api import ApiError
from bench.context import Bench
from bench.report import Figure, Side
from projections.rebuild import PROJECTIONS
from projections.rebuild.rebuild import rebuild
from service.database import open_pool

LOG = "reading the log back"
STORAGE = "storage"
FEED_PAGE = 1000  # the largest page the contract allows


async def copy_out_rate(dsn: str, repeats: int = 3) -> tuple[int, float]:
    """Events, and the median events/s of `COPY events TO STDOUT` (every byte received)."""

    async def drop(data: bytes) -> None:
        return None

    conn = await asyncpg.connect(dsn)
    try:
        events: int = await conn.fetchval("SELECT count(*) FROM public.events")
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await conn.copy_from_table("events", schema_name="public", output=drop)
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return events, events / statistics.median(times)


async def feed_rate(base: str, token: str, seconds: float) -> tuple[int, float]:
    """Events read from GET /v3/accounting/events, page after page, for about `seconds`."""
    read, cursor, started = 0, "", time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while time.perf_counter() - started < seconds:
            query = f"limit={FEED_PAGE}" + (f"&after={cursor}" if cursor else "")
            async with http.get(f"{base}/v3/accounting/events?{query}") as answer:
                if answer.status != 200:
                    raise ApiError(f"GET events: {answer.status} {await answer.text()}")
                page = await answer.json()
            if not page["items"]:
                break
            read += len(page["items"])
            cursor = page["next_cursor"]
    return read, read / (time.perf_counter() - started)


@dataclass(frozen=True)
class LogRates:
    """The feed read over HTTP for `feed_seconds`, then a rebuild of each of `projections`,
    each beside COPY-out of the whole events table in the same run."""

    feed_seconds: float
    projections: tuple[str, ...]

    async def run(self, bench: Bench) -> list[Figure]:
        bench.say(f"[bold]{LOG}[/]")
        events, copy_rate = await copy_out_rate(bench.dsn, repeats=3 if self.projections else 1)
        copy = Side(copy_rate, detail={"events": events})
        bench.say(f"  COPY events TO STDOUT: {copy_rate:,.0f} events/s ({events:,} events)")
        read, rate = await feed_rate(bench.service.url, bench.token, self.feed_seconds)
        bench.say(f"  feed over HTTP: {rate:,.0f} events/s ({read:,} events)")
        figures = [
            Figure(
                LOG,
                f"GET /v3/accounting/events, {FEED_PAGE} a page; raw: COPY events TO STDOUT",
                "events/s",
                Side(rate, detail={"events": read}),
                copy,
            )
        ]
        pool = await open_pool(bench.dsn, min_size=1, max_size=4)
        try:
            for name in self.projections:
                done = await rebuild(pool, PROJECTIONS[name])
                ours = done.events / done.seconds
                bench.say(f"  rebuild {name}: {ours:,.0f} events/s ({done.events:,} events)")
                figures.append(
                    Figure(
                        LOG,
                        f"rebuild {name} ({done.events:,} events); raw: COPY-out",
                        "events/s",
                        Side(ours, detail={"events": done.events, "s": done.seconds}),
                        copy,
                    )
                )
        finally:
            await pool.close()
        return figures


# What each part of the two big tables is for: the figures' notes.
PURPOSE = {
    "events": "event bodies (jsonb), metadata, hash chain",
    "events_pkey": "(account, position): an account's events in log order (proofs, history)",
    "events_account_id_stream_id_version_key": "a stream's versions: the append's guard",
    "events_event_id_key": "event ids unique",
    "events_feed": "the gap-safe global feed (projectors, sealer)",
    "events_account_feed": "an account's gap-safe feed (GET /v3/accounting/events)",
    "record_state": "each record's current state (jsonb) and its filter columns",
    "record_state_pkey": "a record by id (commands, GET by id, ids=)",
    "record_state_by_update": "the list in updated_at order, updated_at filters",
    "record_state_by_status": "review_status filters (a connector's READY_FOR_EXPORT poll)",
    "record_state_by_last_tx": "snapshot paging: rows changed since a cursor's snapshot",
}

_PARTS = """
SELECT c.relname AS part, pg_table_size(c.oid) AS bytes FROM pg_class c
WHERE c.oid = ('public.' || $1)::regclass
UNION ALL
SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = ('public.' || $1)::regclass
"""


class Storage:
    """Bytes on disk per event and per record state, table (with TOAST) and each index."""

    async def run(self, bench: Bench) -> list[Figure]:
        bench.say(f"[bold]{STORAGE}[/]")
        conn = await asyncpg.connect(bench.dsn)
        try:
            await conn.execute("VACUUM ANALYZE public.events, public.record_state")
            figures = []
            for table, unit in (("events", "event"), ("record_state", "record")):
                rows: int = await conn.fetchval(f"SELECT count(*) FROM public.{table}")
                parts = await conn.fetch(_PARTS, table)
                total = sum(p["bytes"] for p in parts)
                bench.say(f"  {table}: {total / rows:,.0f} bytes/{unit} ({rows:,} rows)")
                figures.append(
                    Figure(
                        STORAGE,
                        f"{table}: all",
                        f"B/{unit}",
                        Side(total / rows),
                        higher_is_better=False,
                    )
                )
                figures.extend(
                    Figure(
                        STORAGE,
                        f"{table}: {p['part']}",
                        f"B/{unit}",
                        Side(p["bytes"] / rows),
                        higher_is_better=False,
                        notes=[PURPOSE.get(p["part"], "")],
                    )
                    for p in parts
                )
        finally:
            await conn.close()
        return figures
