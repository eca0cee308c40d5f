"""The dependency rules the layout promises (ARCHITECTURE.md), checked on the source:
domain/ is pure, eventstore/ knows only the event log, projections/ knows no edge, and the
command layer knows no HTTP."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IO = {
    "asyncio",
    "asyncpg",
    "aiohttp",
    "socket",
    "subprocess",
    "os",
    "io",
    "pathlib",
    "logging",
    "structlog",
    "time",
    "random",
    "secrets",
    "uuid",
    "requests",
    "httpx",
    "psycopg",
    "sqlite3",
}
# package folder -> module prefixes its files may not import
RULES: dict[str, set[str]] = {
    "domain": IO | {"eventstore", "projections", "service", "tests"},
    "eventstore": {"aiohttp", "domain", "projections", "service", "tests"},
    "projections": {"aiohttp", "service", "tests"},
    "service/commands": {"aiohttp", "service.api", "service.ops", "tests"},
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def breaks(path: Path, forbidden: set[str]) -> list[str]:
    return sorted(
        module
        for module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    )


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_its_layer_may(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} not found"
    offenders = {str(f.relative_to(ROOT)): breaks(f, RULES[package]) for f in files}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncpg\nfrom service.api.app import create_app\nfrom service import ops\n"
    )
    assert {"service.api.app", "service.ops"} <= set(breaks(bad, RULES["service/commands"]))
    assert "asyncpg" not in breaks(bad, RULES["service/commands"])
    assert {"asyncpg", "service"} <= set(breaks(bad, RULES["domain"]))


def tables_created_by(package: str) -> set[str]:
    sql = " ".join(p.read_text() for p in (ROOT / package).rglob("migrations/*.sql"))
    names = re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?([\w.]+)", sql, re.IGNORECASE)
    # A table in a schema of its own (analytics.records) is named with its schema.
    return {name.lower().removeprefix("public.") for name in names}


def test_eventstore_never_names_a_table_it_does_not_own() -> None:
    others = tables_created_by("projections") | tables_created_by("service")
    assert {"record_state", "integrations", "idempotency_keys"} <= others
    named = {
        f"{path.relative_to(ROOT)}: {table}"
        for path in (ROOT / "eventstore").rglob("*")
        if path.suffix in (".py", ".sql")
        for table in others
        if re.search(rf"\b{table}\b", path.read_text(), re.IGNORECASE)
    }
    assert named == set()


def test_each_table_has_one_owner() -> None:
    owners = {pkg: tables_created_by(pkg) for pkg in ("eventstore", "projections", "service")}
    assert owners["eventstore"] == {"events"}
    assert not owners["projections"] & owners["service"]
