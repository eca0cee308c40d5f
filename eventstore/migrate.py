"""Numbered SQL migrations, each applied once and recorded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eventstore.types import Conn

# Any fixed number: serialises concurrent migrators (two service processes starting at once).
_LOCK_KEY = 7_361_204_118


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in eventstore/migrations, in order."""
    folder = resources.files("eventstore") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = Path(entry.name)
        if name.suffix == ".sql":
            found.append(Migration(int(name.stem.split("_", 1)[0]), name.stem, entry.read_text()))
    return sorted(found, key=lambda m: m.number)


async def migrate(conn: Conn, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations in order; return the names applied now."""
    todo = bundled_migrations() if migrations is None else list(migrations)
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   number integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["number"] for r in await conn.fetch("SELECT number FROM schema_migrations")}
        for migration in todo:
            if migration.number in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)",
                migration.number,
                migration.name,
            )
            applied_now.append(migration.name)
    return applied_now
