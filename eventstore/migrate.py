"""Numbered migrations, kept by the package that owns their tables, each applied once.

Every package that owns tables ships a `migrations/` folder of `NNN_name.sql` files (and,
where data must be computed, `NNN_name.py` files with `async def migrate(conn)`); the
ledger `schema_migrations` records (package, number) as applied. Packages are migrated in
the order given, all in one transaction.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eventstore.types import Conn

# Any fixed number: serialises concurrent migrators (two service processes starting at once).
_LOCK_KEY = 7_361_204_118

# The ledger. Databases from before packages kept their own migrations have a ledger keyed
# by number alone: its rows are kept under the name 'legacy' (the files now re-run are
# written to be re-runnable, so they find their tables in place).
_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text NOT NULL,
    number     integer NOT NULL,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, number));
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = 'schema_migrations'
                     AND column_name = 'component') THEN
        ALTER TABLE schema_migrations ADD COLUMN component text NOT NULL DEFAULT 'legacy';
        ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey,
            ADD PRIMARY KEY (component, number);
        ALTER TABLE schema_migrations ALTER COLUMN component DROP DEFAULT;
    END IF;
END $$;
"""


@dataclass(frozen=True)
class Migration:
    component: str
    number: int
    name: str
    run: Callable[[Conn], Awaitable[object]]


def bundled_migrations(package: str) -> list[Migration]:
    """The migrations shipped in `package`/migrations, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        name = Path(entry.name)
        number = name.stem.split("_", 1)[0]
        if name.suffix == ".sql" and number.isdigit():
            found.append(Migration(package, int(number), name.stem, _sql(entry.read_text())))
        elif name.suffix == ".py" and number.isdigit():
            found.append(Migration(package, int(number), name.stem, _python(package, entry)))
    return sorted(found, key=lambda m: m.number)


def _sql(text: str) -> Callable[[Conn], Awaitable[object]]:
    async def run(conn: Conn) -> None:
        await conn.execute(text)

    return run


def _python(package: str, entry: object) -> Callable[[Conn], Awaitable[object]]:
    spec = importlib.util.spec_from_file_location(
        f"{package}.migrations.m_{Path(str(entry)).stem}", str(entry)
    )
    assert spec is not None and spec.loader is not None, f"cannot load {entry}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run: Callable[[Conn], Awaitable[object]] = module.migrate
    return run


async def migrate(conn: Conn, packages: Sequence[str] = ("eventstore",)) -> list[str]:
    """Apply the pending migrations of each package in order; return those applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(_LEDGER)
        done = {
            (r["component"], r["number"])
            for r in await conn.fetch("SELECT component, number FROM schema_migrations")
        }
        for migration in (m for package in packages for m in bundled_migrations(package)):
            if (migration.component, migration.number) in done:
                continue
            await migration.run(conn)
            await conn.execute(
                "INSERT INTO schema_migrations (component, number, name) VALUES ($1, $2, $3)",
                migration.component,
                migration.number,
                migration.name,
            )
            applied_now.append(f"{migration.component}/{migration.name}")
    return applied_now
