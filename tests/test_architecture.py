"""domain/ is pure: no I/O library and none of the other packages."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parent.parent / "domain"
FORBIDDEN = {
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
    "eventstore",
    "projections",
    "service",
    "tests",
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_no_io_and_no_other_package() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert files, "domain package not found"
    offenders = {
        f.name: sorted(imported_roots(f) & FORBIDDEN)
        for f in files
        if imported_roots(f) & FORBIDDEN
    }
    assert offenders == {}


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncpg\nfrom service.api.app import create_app\n")
    assert imported_roots(bad) & FORBIDDEN == {"asyncpg", "service"}
