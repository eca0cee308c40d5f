"""The `analyst` role's login (its grants come with the migrations)."""

from __future__ import annotations

import asyncpg

from eventstore.types import Conn


async def allow_analyst_login(conn: Conn, password: str) -> bool:
    """Let `analyst` log in with `password`. Roles are cluster-wide: the last service to
    start on a cluster sets it. False when the role is missing or we may not alter it."""
    if not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = 'analyst'"):
        return False
    # ALTER ROLE takes no parameters: the password goes in as a quoted literal.
    statement = await conn.fetchval(
        "SELECT format('ALTER ROLE analyst WITH LOGIN PASSWORD %L', $1::text)", password
    )
    try:
        await conn.execute(statement)
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True
