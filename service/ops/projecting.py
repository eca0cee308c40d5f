"""`project` and `rebuild` (registered by __main__): the catch-up projectors run from the
command line, and rebuilds of projections from the whole log, with their progress shown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Protocol, TypeVar

import asyncpg
import structlog
import typer
import uvloop
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from projections.catchup import Projector, follow, run_round
from projections.rebuild import PROJECTIONS
from projections.rebuild.rebuild import RebuildReport, rebuild
from projections.stream_projection import StreamProjection
from service.database import open_pool
from service.logging import configure_logging
from service.ops.cli import database, err, load_settings
from service.projector_process import PARENT_PID
from service.workers import LagWatch, catchup_projectors

_PROJECTED = "SELECT events FROM projector_checkpoints WHERE projector = $1"
# After each round: show where the projector named stands.
Show = Callable[[str], Awaitable[None]]


class Rate(ProgressColumn):
    """Events per second, over the last moments."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "", style="progress.data.speed")


class Named(Protocol):
    name: str


N = TypeVar("N", bound=Named)


def pick(known: Sequence[N], name: str | None) -> list[N]:
    """The one called `name` (all when None); a name unknown is a usage error."""
    found = [item for item in known if name in (None, item.name)]
    if not found:
        raise typer.BadParameter(f"{name!r} is none of {[item.name for item in known]}")
    return found


async def project(
    dsn: str, projectors: Sequence[Projector], follow_feed: bool, batch: int, console: Console
) -> None:
    """Run `projectors` until they reach the head of the log or, following, until SIGINT or
    SIGTERM. Another runner of the same projector (the service) only makes rounds wait."""
    pool = await open_pool(dsn, min_size=1, max_size=len(projectors) + 2)
    try:
        if console.quiet:  # run by the service, which measures the lag itself
            await _run(pool, projectors, follow_feed, batch, None)
            return
        watch = LagWatch(pool, interval=0.5)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate())
        with Progress(*columns, console=console) as progress:
            tasks = {p.name: progress.add_task(p.name, total=None) for p in projectors}

            async def show(name: str) -> None:
                await watch.measure(name)
                async with pool.acquire() as conn:
                    done = int(await conn.fetchval(_PROJECTED, name) or 0)
                behind = watch.latest[name].events if name in watch.latest else 0
                progress.update(tasks[name], completed=done, total=done + behind)

            await _run(pool, projectors, follow_feed, batch, show)
    finally:
        await pool.close()


async def _run(
    pool: asyncpg.Pool,
    projectors: Sequence[Projector],
    follow_feed: bool,
    batch: int,
    show: Show | None,
) -> None:
    if follow_feed:
        await _follow(pool, projectors, batch, show)
    else:
        await asyncio.gather(*(_to_head(pool, p, batch, show) for p in projectors))


async def _to_head(pool: asyncpg.Pool, projector: Projector, batch: int, show: Show | None) -> None:
    while True:
        count = await run_round(pool, projector, batch)
        if show is not None:
            await show(projector.name)
        if count == 0:
            return
        if count is None:  # another runner holds it: wait for its round
            await asyncio.sleep(0.2)


async def _follow(
    pool: asyncpg.Pool, projectors: Sequence[Projector], batch: int, show: Show | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parent = os.environ.get(PARENT_PID)
    watching = asyncio.create_task(_while_parent_lives(int(parent), stop)) if parent else None
    try:
        await asyncio.gather(
            *(follow(pool, p, stop, batch=batch, on_round=show) for p in projectors)
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        if watching is not None:
            watching.cancel()


async def _while_parent_lives(parent: int, stop: asyncio.Event) -> None:
    """Run by a service (PARENT_PID): stop when it is gone, even killed outright, rather
    than follow the log as an orphan."""
    while not stop.is_set():
        if os.getppid() != parent:
            structlog.get_logger("service.projectors").warning("the service is gone: stopping")
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def rebuild_all(
    dsn: str, projections: Sequence[StreamProjection], console: Console
) -> list[RebuildReport]:
    """Rebuild each projection in turn, showing its progress and rate, then what it took."""
    pool = await open_pool(dsn, min_size=1, max_size=6)
    columns = (
        TextColumn("rebuilding {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeRemainingColumn(),
    )
    reports = []
    try:
        for projection in projections:
            with Progress(*columns, console=console) as progress:
                task = progress.add_task(projection.name, total=None)

                def advance(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                reports.append(await rebuild(pool, projection, progress=advance))
    finally:
        await pool.close()
    for r in reports:
        rate = r.events / max(r.seconds, 1e-6)
        console.print(
            f"{r.projection}: {r.events} events replayed ({rate:,.0f} events/s), "
            f"{r.followed} followed, swapped in after {r.seconds:.1f} s",
            highlight=False,
        )
    return reports


def project_command(
    name: Annotated[str | None, typer.Argument(help="one projector; all if left out")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="keep following the log")] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="events per round")] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", help="log lines only, no progress")] = False,
) -> None:
    """Run the catch-up projectors (the service runs them too, unless CATCHUP_IN_SERVICE=false)."""
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    projectors = pick(catchup_projectors(settings), name)
    console = Console(quiet=True) if quiet else err
    with database(settings) as ready:
        assert ready.database_url
        try:
            uvloop.run(project(ready.database_url, projectors, follow, batch, console))
        except Exception:
            if not quiet:
                raise
            # Run by the service: one log line like its own, and an exit status for its
            # supervisor, which starts the projectors again.
            structlog.get_logger("service.projectors").exception("catch-up projectors failed")
            raise typer.Exit(1) from None


def rebuild_command(
    projection: Annotated[str | None, typer.Argument(help="one; all if left out")] = None,
) -> None:
    """Replay the whole log into shadow tables and swap them in, while the API keeps answering."""
    projections = pick(list(PROJECTIONS.values()), projection)
    with database(load_settings()) as ready:
        assert ready.database_url
        uvloop.run(rebuild_all(ready.database_url, projections, err))


def register(cli: typer.Typer) -> None:
    cli.command(name="project")(project_command)
    cli.command(name="rebuild")(rebuild_command)
