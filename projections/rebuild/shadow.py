"""Shadow tables: copies of a projection's live tables, in a schema of their own, that a
rebuild fills and then swaps in.

A shadow table has the live table's columns, defaults, checks, comments, grants and
indexes, under the same names: its own schema keeps them apart until the swap, which drops
the live table and moves the shadow into its place, indexes and constraints along.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from eventstore.types import Conn
from projections.stream_projection import StreamProjection, live_schema
from projections.tables import Table, ident

_INDEXES = """
SELECT i.relname AS name, c.conname, pg_get_constraintdef(c.oid) AS constraint_sql,
       pg_get_indexdef(x.indexrelid) AS index_sql
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
WHERE x.indrelid = $1::regclass
ORDER BY i.relname
"""
_GRANTS = """
SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE c.oid = $1::regclass AND a.grantee <> c.relowner
"""
_COMMENT = """
SELECT format('COMMENT ON TABLE %s IS %L', $2::text, obj_description($1::regclass, 'pg_class'))
WHERE obj_description($1::regclass, 'pg_class') IS NOT NULL
"""


class Busy(Exception):
    """Another rebuild or verify of the same projection is running."""


@contextlib.asynccontextmanager
async def exclusive(pool: asyncpg.Pool, projection: str) -> AsyncIterator[None]:
    """One rebuild or verify of a projection at a time (a verify's snapshot must not see a
    swap half-way), held on a connection of its own for the block."""
    key = f"rebuild or verify {projection}"
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key):
            raise Busy(f"a rebuild or verify of {projection} is already running")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)


@dataclass(frozen=True)
class Workspace:
    reader: Conn  # for a snapshot of the log and the live tables
    writer: Conn  # fills the shadow tables
    live: str  # the schema of the live tables


@contextlib.asynccontextmanager
async def shadow_workspace(
    pool: asyncpg.Pool, projection: StreamProjection, shadow: str
) -> AsyncIterator[Workspace]:
    """The projection held for this rebuild or verify alone, its empty shadow tables in
    schema `shadow` (dropped at the end, whatever happens), and two connections to work."""
    async with (
        exclusive(pool, projection.name),
        pool.acquire() as reader,
        pool.acquire() as writer,
    ):
        live = await live_schema(writer, projection)
        await create_shadow(writer, projection, live, shadow)
        try:
            yield Workspace(reader, writer, live)
        finally:
            await drop_shadow(writer, shadow)


async def create_shadow(conn: Conn, projection: StreamProjection, live: str, shadow: str) -> None:
    """Empty copies of the projection's tables in schema `shadow` (made anew)."""
    await drop_shadow(conn, shadow)
    await conn.execute(f"CREATE SCHEMA {ident(shadow)}")
    for table in projection.tables:
        await _clone(conn, table, live, shadow)


async def drop_shadow(conn: Conn, shadow: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {ident(shadow)} CASCADE")


async def _clone(conn: Conn, table: Table, live: str, shadow: str) -> None:
    source, target = table.at(live), table.at(shadow)
    await conn.execute(f"CREATE TABLE {target} (LIKE {source} INCLUDING ALL EXCLUDING INDEXES)")
    for index in await conn.fetch(_INDEXES, source):
        if index["conname"] is not None:  # a primary key or unique constraint
            await conn.execute(
                f"ALTER TABLE {target} ADD CONSTRAINT {ident(index['conname'])} "
                + index["constraint_sql"]
            )
        else:
            unique = "UNIQUE " if index["index_sql"].startswith("CREATE UNIQUE") else ""
            method = index["index_sql"].split(" USING ", 1)[1]
            await conn.execute(
                f"CREATE {unique}INDEX {ident(index['name'])} ON {target} USING {method}"
            )
    for privilege, grantee in await conn.fetch(_GRANTS, source):
        await conn.execute(f"GRANT {privilege} ON {target} TO {grantee}")
    comment = await conn.fetchval(_COMMENT, source, target)
    if comment:
        await conn.execute(comment)


async def swap_tables(conn: Conn, projection: StreamProjection, live: str, shadow: str) -> None:
    """In the caller's transaction: the shadow tables take the live ones' place."""
    for table in projection.tables:
        await conn.execute(f"DROP TABLE {table.at(live)}")
        await conn.execute(f"ALTER TABLE {table.at(shadow)} SET SCHEMA {ident(live)}")


async def analyze(conn: Conn, projection: StreamProjection, schema: str) -> None:
    """Planner statistics for tables just filled (they move with the tables)."""
    for table in projection.tables:
        await conn.execute(f"ANALYZE {table.at(schema)}")
