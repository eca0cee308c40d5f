"""The catch-up projectors in a process of their own, started, watched and stopped by the
service: `python -m service project --follow` as a child. Their work (decoding and folding
whole streams, hashing trees) then runs on another core than the requests', and a child
that dies is started again. The service still measures their lag, for /metrics and
/readyz."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Sequence

import structlog

from service.settings import Settings
from service.workers import LagWatch

log = structlog.get_logger("service.projectors")
PARENT_PID = "SERVICE_PARENT_PID"  # tells the child whose exit must end it
RESTART_PAUSE = 1.0  # seconds before a child that ended is started again
STOP_TIMEOUT = 10.0


def _child_env(settings: Settings) -> dict[str, str]:
    """The service's own settings (its database included), as the child reads them."""
    assert settings.database_url, "the child follows the service's database"
    given = settings.model_dump(exclude_none=True)
    env = dict(os.environ) | {name.upper(): str(value) for name, value in given.items()}
    return env | {PARENT_PID: str(os.getpid())}


async def _supervise(settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service",
            "project",
            "--follow",
            "--quiet",
            env=_child_env(settings),
            stdin=asyncio.subprocess.DEVNULL,
        )
        log.info("catch-up projectors started in a child process", pid=child.pid)
        ended = asyncio.create_task(child.wait())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            stopping.cancel()
            await _end(child)
            return
        stopping.cancel()
        code = ended.result()
        log.warning("the catch-up projectors' process ended: starting it again", code=code)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RESTART_PAUSE)


async def _end(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        child.terminate()
        try:
            await asyncio.wait_for(child.wait(), STOP_TIMEOUT)
        except TimeoutError:
            child.kill()
            await child.wait()


async def _measure(watch: LagWatch, names: Sequence[str], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name in names:
            with contextlib.suppress(Exception):  # the database away: measured next time
                await watch.measure(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), watch.interval)


async def run_in_child(
    settings: Settings, names: Sequence[str], watch: LagWatch
) -> AsyncIterator[None]:
    """A cleanup context's shape: the child runs while the service does."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_supervise(settings, stop)),
        asyncio.create_task(_measure(watch, names, stop)),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
