"""Test harness: a real PostgreSQL cluster for the session, started from the installed
binaries (or TEST_DATABASE_URL, a server you provide), migrated once."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from eventstore.pool import connect
from projections.audit.signer import load_or_create_key
from service.api.app import create_app
from service.api.auth import ALL_SCOPES, issue_token
from service.database import migrate_schema
from service.ops.embedded_postgres import EmbeddedPostgres
from service.settings import Settings
from tests.openapi_check import answer_problems

SECRET = "test-secret-that-is-long-enough-for-hs256"
AUDIENCE = "accounting-api"
TEMPLATE = "accounting_template"


def _with_database(dsn: str, database: str) -> str:
    head, _, tail = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{tail}" if tail else "")


@pytest.fixture(scope="session")
def server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A DSN to any database on the test server (used to create test databases)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    cluster = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")), database="postgres")
    with cluster:
        yield cluster.dsn


async def _recreate(server_dsn: str, name: str, template: str | None = None) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(
            f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")
        )
    finally:
        await admin.close()
    return _with_database(server_dsn, name)


@pytest.fixture(scope="session")
async def template_dsn(server_dsn: str) -> str:
    dsn = await _recreate(server_dsn, TEMPLATE)
    conn = await connect(dsn)
    try:
        await migrate_schema(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="session")
async def shared_dsn(server_dsn: str, template_dsn: str) -> str:
    """One migrated database shared by tests that isolate themselves by account."""
    return await _recreate(server_dsn, "accounting_shared", TEMPLATE)


@pytest.fixture
async def fresh_dsn(server_dsn: str, template_dsn: str) -> str:
    """A new, migrated, empty database for tests that read the global log."""
    return await _recreate(server_dsn, "t_" + uuid.uuid4().hex[:12], TEMPLATE)


@pytest.fixture
async def empty_dsn(server_dsn: str) -> str:
    """A new database with no schema at all."""
    return await _recreate(server_dsn, "e_" + uuid.uuid4().hex[:12])


@pytest.fixture
async def conn(fresh_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(fresh_dsn)
    yield connection
    await connection.close()


@pytest.fixture
def account() -> str:
    return "acct_" + uuid.uuid4().hex[:10]


def make_token(
    account_id: str,
    scopes: tuple[str, ...] | list[str] = ALL_SCOPES,
    client_id: str = "test-client",
    ttl: int = 600,
) -> str:
    return issue_token(
        SECRET,
        audience=AUDIENCE,
        account_id=account_id,
        scopes=scopes,
        client_id=client_id,
        ttl_seconds=ttl,
    )


# The checkpoints' signing key of every test service (made once per test run).
SIGNING_KEY = Path(tempfile.gettempdir()) / f"test-audit-key-{os.getpid()}.pem"


def settings_for(dsn: str, **overrides: Any) -> Settings:
    """A test service on `dsn`. Catch-up projectors do not run in the background unless
    asked: tests that need the log sealed run the sealer themselves, deterministically."""
    load_or_create_key(SIGNING_KEY)
    given: dict[str, Any] = {
        "database_url": dsn,
        "jwt_secret": SECRET,
        "jwt_audience": AUDIENCE,
        "db_pool_max": 60,
        "audit_signing_key_file": SIGNING_KEY,
        "catchup_in_service": False,
    }
    return Settings(**(given | overrides))


@dataclass(frozen=True)
class Answer:
    method: str
    path_template: str | None
    status: int
    content_type: str
    body: bytes


ANSWERS = web.AppKey("answers", list[Answer])


async def _keep_answer(request: web.Request, response: web.StreamResponse) -> None:
    resource = request.match_info.route.resource
    body = response.body if isinstance(response, web.Response) else b""
    request.app[ANSWERS].append(
        Answer(
            request.method,
            resource.canonical if resource is not None else None,
            response.status,
            response.content_type,
            body if isinstance(body, bytes) else b"",
        )
    )


def _watched(application: web.Application) -> web.Application:
    application[ANSWERS] = []
    application.on_response_prepare.append(_keep_answer)
    return application


def _check_answers(application: web.Application) -> None:
    found = [
        f"{a.method} {a.path_template} -> {a.status}: {problem}"
        for a in application[ANSWERS]
        for problem in answer_problems(a.method, a.path_template, a.status, a.content_type, a.body)
    ]
    assert not found, "answers that break the OpenAPI documents:\n" + "\n".join(found)


@pytest.fixture
def app(shared_dsn: str) -> Iterator[web.Application]:
    """The service on the shared database. Every answer it gives during the test, as sent,
    is checked against our OpenAPI document and the public one."""
    application = _watched(create_app(settings_for(shared_dsn)))
    yield application
    _check_answers(application)


@pytest.fixture
def app_with(shared_dsn: str) -> Iterator[Callable[..., web.Application]]:
    """Make apps on the shared database with some settings changed; their answers are
    checked like `app`'s."""
    made: list[web.Application] = []

    def make(**settings: Any) -> web.Application:
        changed = settings_for(shared_dsn).model_copy(update=settings)
        made.append(_watched(create_app(changed)))
        return made[-1]

    yield make
    for application in made:
        _check_answers(application)


# Figures the reliability tests report (crash cycles, requests acknowledged and found...),
# printed at the end of the run.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
async def client(aiohttp_client: Callable[..., object], app: web.Application) -> TestClient:  # type: ignore[type-arg]
    made = await aiohttp_client(app)  # type: ignore[operator]
    assert isinstance(made, TestClient)
    return made


@pytest.fixture
def auth(account: str) -> dict[str, str]:
    """Headers of a caller on `account` with every scope."""
    return {"Authorization": f"Bearer {make_token(account)}"}
