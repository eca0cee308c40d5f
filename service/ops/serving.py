"""Running the service: the database it owns or is given, the HTTP server, and the way out.

SIGINT or SIGTERM stops it gracefully: the listening socket closes at once (new connections
are refused), idle connections are closed, requests in flight get SHUTDOWN_TIMEOUT seconds
to finish (then they are cancelled, and their transactions roll back), the pool closes, and
an embedded cluster is stopped last.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress

import structlog
import uvloop
from aiohttp import web

from service.api.app import create_app
from service.api.server import ServiceRunner
from service.ops import heap
from service.ops.cluster_watch import keep_alive
from service.ops.embedded_postgres import EmbeddedPostgres
from service.settings import Settings

EXIT_DATABASE_LOST = 3
log = structlog.get_logger("service")


@contextmanager
def owned_database(settings: Settings) -> Iterator[tuple[Settings, EmbeddedPostgres | None]]:
    """The configured server, or an embedded cluster under DATA_DIR for the duration."""
    if settings.database_url:
        yield settings, None
        return
    with EmbeddedPostgres(settings.data_dir.resolve() / "postgres") as cluster:
        yield settings.model_copy(update={"database_url": cluster.dsn}), cluster


def run_service(settings: Settings, cluster: EmbeddedPostgres | None) -> int:
    """Serve until a signal (exit status 0) or the loss of the embedded database (3)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve(settings, cluster))


async def _serve(settings: Settings, cluster: EmbeddedPostgres | None) -> int:
    stop = asyncio.Event()
    outcome = {"code": 0}

    def lost() -> None:
        outcome["code"] = EXIT_DATABASE_LOST
        stop.set()

    app = create_app(settings)
    if cluster is not None:
        app.cleanup_ctx.append(_watching(cluster, settings.embedded_restart_deadline, lost))
    runner = ServiceRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout)
    await runner.setup()
    heap.freeze_startup()  # the app, its pool and caches are made: they live as long as we do
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        if cluster is not None:
            cluster.own()  # listening: this process serves the cluster, even one it found
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("listening", url=f"http://{settings.host}:{settings.port}")
        await stop.wait()
        log.info("stopping", shutdown_timeout=settings.shutdown_timeout)
    finally:
        await runner.cleanup()
    return outcome["code"]


def _watching(
    cluster: EmbeddedPostgres, deadline: float, lost: Callable[[], None]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: the cluster is watched while the app runs."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        watch = asyncio.create_task(keep_alive(cluster, deadline=deadline, on_lost=lost))
        yield
        watch.cancel()
        with suppress(asyncio.CancelledError):
            await watch

    return context
