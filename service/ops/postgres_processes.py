"""Whether a PostgreSQL server is alive, told from its lock files and /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def is_live_postgres(pid: int) -> bool:
    """Whether pid may be a running postgres (False for gone, zombie or other programs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        command = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, IndexError):
        return True  # no /proc to tell: trust kill()
    # After a crash (or reboot) the pid may be an unreaped zombie or recycled by another program.
    return state != "Z" and command in ("postgres", "postmaster")


def lock_pid(lock: Path) -> int | None:
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    # postmaster.pid holds a negative pid for a single-user backend.
    return abs(int(first)) if first.lstrip("-").isdigit() else 0


def processes_working_in(directory: Path) -> list[int] | None:
    """Pids whose working directory is `directory` (every postgres process chdirs to its
    data directory); None when that cannot be told (no /proc)."""
    if not Path("/proc/self/cwd").exists():
        return None
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(directory):
                    found.append(int(entry))
            except OSError:
                continue
    return found
