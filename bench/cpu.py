"""CPU used during a run by the load generator, the service and PostgreSQL, read from /proc.

Each group is a process and its direct children (PostgreSQL's backends are the postmaster's
children). Processes are sampled a few times a second, so one that exits between two
samples loses at most that interval. Shares are of one core: 1.0 = one core busy all along.
"other" is the rest of the machine's busy time (this program, other users of shared cores):
a large share means the figures of that run were squeezed by something else.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import TracebackType

INTERVAL = 0.2
_TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds) of every process we can read."""
    found: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state, ppid, ... utime and stime are the 12th and 13th.
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat, first line)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


class CpuMeter:
    """`async with CpuMeter({"wrk": pid, ...}) as meter:` ... then `meter.shares()`."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._first: dict[int, float] = {}
        self._last: dict[str, dict[int, float]] = {name: {} for name in roots}
        self._busy = (0.0, 0.0)
        self._started = 0.0
        self._ended = 0.0
        self._task: asyncio.Task[None] | None = None

    def _sample(self, first: bool = False) -> None:
        processes = _processes()
        busy = _machine_busy()
        self._busy = (busy if first else self._busy[0], busy)
        if first:
            self._first = {pid: cpu for pid, (_, cpu) in processes.items()}
        for name, root in self.roots.items():
            for pid, (parent, cpu) in processes.items():
                if pid == root or parent == root:
                    self._last[name][pid] = cpu
        self._ended = time.monotonic()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            self._sample()

    async def __aenter__(self) -> CpuMeter:
        self._started = time.monotonic()
        self._sample(first=True)
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        self._sample()

    def shares(self) -> dict[str, float]:
        elapsed = max(self._ended - self._started, 1e-9)
        found = {
            name: sum(cpu - self._first.get(pid, 0.0) for pid, cpu in last.items()) / elapsed
            for name, last in self._last.items()
        }
        busy = (self._busy[1] - self._busy[0]) / elapsed
        return found | {"other": max(busy - sum(found.values()), 0.0)}
