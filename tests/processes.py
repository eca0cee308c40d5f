"""Which processes belong to a PostgreSQL cluster, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def processes_working_in(directory: Path) -> list[int]:
    """Live processes whose working directory is `directory`: every postgres process of a
    cluster chdirs to its data directory, so this finds the whole server, children too."""
    wanted, found = str(directory.resolve()), []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{entry}/cwd") == wanted:
                found.append(int(entry))
        except OSError:
            continue  # gone, or a zombie
    return found
