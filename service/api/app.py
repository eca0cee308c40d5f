"""The composition root: create_app(settings) wires resources, middlewares and routes."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import structlog
from aiohttp import web

from projections.analytics.analyst import allow_analyst_login
from service.api.auth import VERIFIER, TokenVerifier
from service.api.guards import IN_FLIGHT, InFlight, limit_requests
from service.api.jsonio import dumps
from service.api.keys import COMMANDS, LAG, POOL, SETTINGS
from service.api.middleware import error_envelope, refuse_nul_in_url, request_context
from service.api.openapi import openapi_document
from service.api.routing import Operation
from service.api.server import http_limits
from service.api.views import (
    analytics,
    audit,
    exports,
    history,
    integrations,
    operations,
    platform,
    records,
)
from service.commands.group_commit import GroupCommit
from service.commands.runner import OneByOne
from service.database import close_pool, open_pool
from service.projector_process import run_in_child
from service.settings import Settings
from service.workers import LagWatch, catchup_projectors, run_catchup, signer_for

log = structlog.get_logger("service.api.app")
ROUTES = (
    operations.routes,
    integrations.routes,
    exports.routes,
    records.routes,
    platform.routes,
    history.routes,
    audit.routes,
    analytics.routes,
)


def all_operations() -> list[Operation]:
    return [op for table in ROUTES for op in table.operations]


@functools.cache
def service_document() -> dict[str, Any]:
    """The OpenAPI document of every route this service has. Shared: do not mutate it."""
    return openapi_document(all_operations())


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url, "create_app needs a database_url"
    app[POOL] = await open_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout,
        statement_timeout=settings.db_statement_timeout,
        idle_in_transaction_timeout=settings.db_idle_in_transaction_timeout,
        connect_timeout=settings.db_connect_timeout,
    )
    retries = settings.export_conflict_retries
    app[COMMANDS] = (
        GroupCommit(
            app[POOL],
            retries=retries,
            max_batch=settings.group_commit_max,
            parallel=settings.group_commit_parallel,
        )
        if settings.group_commit
        else OneByOne(app[POOL], retries)
    )
    if settings.analyst_password:
        async with app[POOL].acquire() as conn:
            if not await allow_analyst_login(conn, settings.analyst_password):
                log.warning("the analyst role is missing or may not be altered: no analyst login")
    yield
    await close_pool(app[POOL], settings.shutdown_timeout)


async def _catchup(app: web.Application) -> AsyncIterator[None]:
    """The catch-up projectors, in the background: in a child process (on another core than
    the requests'), in this process's event loop, or not at all (run apart, by the CLI)."""
    settings = app[SETTINGS]
    known = catchup_projectors(settings)
    app[LAG] = LagWatch(app[POOL], names=[p.name for p in known])
    if settings.catchup_in_service and settings.catchup_process:
        running = run_in_child(settings, [p.name for p in known], app[LAG])
    else:
        projectors = known if settings.catchup_in_service else []
        running = run_catchup(app[POOL], projectors, app[LAG])
    async for _ in running:
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_context, error_envelope, limit_requests, refuse_nul_in_url],
        client_max_size=settings.max_body_bytes,
        handler_args=http_limits(settings),
    )
    app[SETTINGS] = settings
    app[IN_FLIGHT] = InFlight(settings.max_concurrent_requests)
    app[VERIFIER] = TokenVerifier(
        audience=settings.jwt_audience,
        secret=settings.jwt_secret,
        public_key_file=settings.jwt_public_key_file,
        issuer=settings.jwt_issuer,
    )
    app[operations.OPENAPI_TEXT] = dumps(service_document())
    signer = signer_for(settings)
    if signer is not None:
        app[audit.SIGNER] = signer
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_catchup)
    for table in ROUTES:
        table.add_to(app)
    return app
