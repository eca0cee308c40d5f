"""Verify a projection: rebuild it from the log into shadow tables and compare them with the
live tables, row by row.

Both sides come from one snapshot: the live rows are read in the snapshot the rebuild folds
from. An inline projection holds every stream the snapshot holds. A projection kept by a
catch-up projector is compared where its projector stands: each stream is rebuilt up to the
version the live tables hold or, if further, the last version its checkpoint has passed (a
stream it should have reached but has not then shows as a difference).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import islice
from typing import Any

import asyncpg

from eventstore.streams import Stream
from eventstore.types import Conn
from projections.rebuild import PROJECTIONS
from projections.rebuild.shadow import shadow_workspace
from projections.rebuild.snapshot import Cut, fold_snapshot
from projections.stream_projection import StreamProjection
from projections.tables import Table, ident

_REACHED = """
SELECT account_id, stream_id, max(version) AS version FROM (
    SELECT e.account_id, e.stream_id, e.version
    FROM events e JOIN projector_checkpoints c ON c.projector = $1
    WHERE (e.tx, e.position) <= (c.tx::text::xid8, c.position) AND e.type = ANY($2::text[])
    UNION ALL {versions}
) AS folded
GROUP BY account_id, stream_id
"""
_SHOWN = 200  # characters of a value shown in a difference


async def compare_projection(pool: asyncpg.Pool, name: str, *, limit: int = 50) -> list[str]:
    """Rebuild projection `name` (`analytics`, `record_state` or `integrations`) into shadow
    tables and compare them with the live ones. One line per difference, naming the table,
    the row's key and what differs (at most `limit` per table, then a count); none when the
    live tables are what the log says."""
    projection = PROJECTIONS[name]
    shadow = f"verify_{name}"
    async with shadow_workspace(pool, projection, shadow) as work:
        reader, writer, live = work.reader, work.writer, work.live
        async with reader.transaction(isolation="repeatable_read", readonly=True):
            cut = await _reached(reader, projection, live)
            await fold_snapshot(reader, writer, projection, shadow, cut=cut)
            found: list[str] = []
            for table in projection.tables:
                found += await _compare(table, reader, live, writer, shadow, limit)
            return found


async def _reached(conn: Conn, projection: StreamProjection, live: str) -> Cut | None:
    versions = projection.versions_query(live)
    if not projection.kept_by_projector or versions is None:
        return None
    rows = await conn.fetch(
        _REACHED.format(versions=versions), projection.name, sorted(projection.event_types)
    )
    reached = {(r["account_id"], r["stream_id"]): r["version"] for r in rows}

    def cut(stream: Stream) -> int:
        return int(reached.get((stream[0].account_id, stream[0].stream_id), 0))

    return cut


async def _rows(conn: Conn, table: Table, schema: str) -> AsyncIterator[tuple[Any, ...]]:
    columns = ", ".join(map(ident, table.columns))
    sql = f"SELECT {columns} FROM {table.at(schema)} ORDER BY {table.key_order()}"
    async for row in conn.cursor(sql, prefetch=2000):
        yield tuple(row)


async def _compare(
    table: Table, reader: Conn, live: str, writer: Conn, shadow: str, limit: int
) -> list[str]:
    differences = _differences(table, _rows(reader, table, live), _rows(writer, table, shadow))
    async with writer.transaction(readonly=True):  # a cursor needs one
        found = [line async for line in differences]
    shown = list(islice(found, limit))
    if len(found) > limit:
        shown.append(f"{table.name}: {len(found) - limit} more differences")
    return shown


async def _differences(
    table: Table,
    live: AsyncIterator[tuple[Any, ...]],
    rebuilt: AsyncIterator[tuple[Any, ...]],
) -> AsyncIterator[str]:
    """Merge two key-ordered row streams; say how each key differs."""
    width = len(table.key)
    a, b = await anext(live, None), await anext(rebuilt, None)
    while a is not None or b is not None:
        key_a = a[:width] if a is not None else None
        key_b = b[:width] if b is not None else None
        if b is None or (key_a is not None and key_b is not None and key_a < key_b):
            yield f"{table.name} {_key(table, a)}: in the live table, not in the log's fold"
            a = await anext(live, None)
        elif a is None or (key_a is not None and key_b is not None and key_b < key_a):
            yield f"{table.name} {_key(table, b)}: missing from the live table"
            b = await anext(rebuilt, None)
        else:
            changed = [
                f"{column} is {_shown(x)}, the log says {_shown(y)}"
                for column, x, y in zip(table.columns, a, b, strict=True)
                if x != y
            ]
            if changed:
                yield f"{table.name} {_key(table, a)}: " + "; ".join(changed)
            a, b = await anext(live, None), await anext(rebuilt, None)


def _key(table: Table, row: tuple[Any, ...] | None) -> str:
    assert row is not None
    return " ".join(f"{column}={value}" for column, value in zip(table.key, row, strict=False))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
