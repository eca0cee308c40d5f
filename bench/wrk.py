"""Drive export-results over HTTP with wrk and bench/export.lua."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuMeter

SCRIPT = Path(__file__).with_name("export.lua")
INSTALL_HINT = "wrk is not installed (Debian/Ubuntu: apt-get install wrk)"


def available() -> bool:
    return shutil.which("wrk") is not None


async def version() -> str:
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-v", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return out.decode().splitlines()[0].split(" Copyright")[0] if out else "wrk"


def threads_for(connections: int) -> int:
    """One thread for one connection, two otherwise (the machine has two cores)."""
    return 1 if connections == 1 else 2


@dataclass(frozen=True)
class Ids:
    """Records accr_TAG_n, n from `first`, `span` of them for each wrk thread."""

    tag: str
    first: int
    span: int


@dataclass(frozen=True)
class WrkResult:
    ok: int
    failed: int
    socket_errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    threads_out_of_records: int
    sample: str
    cpu: dict[str, float]

    @property
    def requests_per_second(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.failed + self.socket_errors


async def run(
    base_url: str,
    token: str,
    ids: Ids,
    per_request: int,
    connections: int,
    seconds: int,
    watch: dict[str, int],
) -> WrkResult:
    """One wrk run; `watch` names the processes (besides wrk) whose CPU share to report."""
    args = [
        *("-t", str(threads_for(connections)), "-c", str(connections)),
        *("-d", f"{seconds:g}s", "--timeout", "60s", "--latency"),
        *("-s", str(SCRIPT), base_url),
        *("--", token, ids.tag, str(ids.first), str(ids.span), str(per_request)),
    ]
    proc = await asyncio.create_subprocess_exec(
        "wrk", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with CpuMeter({"wrk": proc.pid, **watch}) as meter:
        out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {(err + out).decode()[-2000:]}")
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return WrkResult(**summary, cpu=meter.shares())
