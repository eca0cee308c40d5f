"""The service as a user runs it: `python -m service serve|token|import` in subprocesses."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import time
from pathlib import Path

import aiohttp

READY_TIMEOUT = 60.0
CLI = (sys.executable, "-m", "service")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServiceError(RuntimeError):
    pass


class Service:
    """`serve --no-demo` on a free port against the given database, logging to a file."""

    def __init__(self, dsn: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "service.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "warning",
            "DATA_DIR": str(workdir / "service-data"),
        }
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        with self.log.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                *CLI, "serve", "--no-demo", env=self.env, stdout=log, stderr=log
            )
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.returncode is not None:
                    raise ServiceError(f"the service exited; see {self.log}")
                try:
                    async with http.get(self.url + "/readyz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise ServiceError(f"/readyz did not answer 200 within {READY_TIMEOUT:.0f} s")

    def describe(self, lines: int = 20) -> str:
        """Whether it still runs, and the end of its log: for a run that went wrong."""
        state = "running"
        if self._proc is not None and self._proc.returncode is not None:
            state = f"exited with status {self._proc.returncode}"
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"service (pid {self.pid}) {state}; last lines of its log:\n" + "\n".join(tail)

    async def stop(self) -> None:
        if self._proc is None or self._proc.returncode is not None:
            return
        self._proc.terminate()
        try:
            await asyncio.wait_for(self._proc.wait(), 30)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()

    async def cli(self, *args: str) -> str:
        """Run `python -m service ARGS` with the service's environment; its stdout."""
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise ServiceError(f"{' '.join(args[:2])} failed: {err.decode()[-2000:]}")
        return out.decode()

    async def token(self, account: str) -> str:
        printed = await self.cli(
            "token", "--account", account, "--client", "bench", "--ttl", "7200"
        )
        return printed.strip()

    async def import_file(self, path: Path, account: str) -> float:
        """Load a JSON Lines file through `import`; the wall-clock seconds it took."""
        start = time.perf_counter()
        await self.cli("import", str(path), "--account", account)
        return time.perf_counter() - start
