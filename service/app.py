"""The composition root: create_app(settings) wires resources, middlewares and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from eventstore.migrate import migrate
from eventstore.pool import create_pool
from service.appkeys import POOL, SETTINGS
from service.auth import VERIFIER, TokenVerifier
from service.metrics import routes as metrics_routes
from service.middleware import error_envelope, refuse_nul_in_url, request_context
from service.openapi import routes as openapi_routes
from service.settings import Settings
from service.views import exports, health, integrations, internal, records

log = structlog.get_logger("service")


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url, "create_app needs a database_url"
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        command_timeout=settings.db_command_timeout,
    )
    async with pool.acquire() as conn:
        applied = await migrate(conn)
    if applied:
        log.info("migrations applied", migrations=applied)
    app[POOL] = pool
    yield
    await pool.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_context, error_envelope, refuse_nul_in_url],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[VERIFIER] = TokenVerifier(
        audience=settings.jwt_audience,
        secret=settings.jwt_secret,
        public_key_file=settings.jwt_public_key_file,
        issuer=settings.jwt_issuer,
    )
    app.cleanup_ctx.append(_database)
    for table in (
        health.routes,
        metrics_routes,
        openapi_routes,
        integrations.routes,
        exports.routes,
        records.routes,
        internal.routes,
    ):
        app.router.add_routes(table)
    return app
