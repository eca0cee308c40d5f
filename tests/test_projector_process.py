"""The catch-up projectors' child process lives and dies with its service: it seals in the
background, and a service killed outright leaves no projector running as an orphan."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg

from tests.live import Service, service_env


def children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def projector_children(pid: int) -> list[int]:
    return [
        child
        for child in children(pid)
        if b"project" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_killed_service_leaves_no_projector_behind(tmp_path: Path, fresh_dsn: str) -> None:
    env = service_env(tmp_path / "data", database_url=fresh_dsn, settings={"catchup_process": True})
    service = Service(tmp_path, env).start()
    assert service.proc is not None
    deadline = time.monotonic() + 20
    while not (found := projector_children(service.proc.pid)):
        assert time.monotonic() < deadline, "the service started no projector process"
        await asyncio.sleep(0.1)
    (child,) = found
    conn = await asyncpg.connect(fresh_dsn)
    try:  # the child follows the log: its projectors took their places
        while not await conn.fetchval("SELECT count(*) FROM projector_checkpoints"):
            assert time.monotonic() < deadline, "the child never ran a round"
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    os.kill(service.proc.pid, signal.SIGKILL)
    service.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, "the projector process outlived its service"
        await asyncio.sleep(0.1)
