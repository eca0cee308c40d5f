"""Where the PostgreSQL server programs are installed (initdb, pg_ctl, postgres)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
VERSIONED_BINDIRS = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = (
    "Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), put its bin directory "
    "on PATH, or set DATABASE_URL to use an existing server."
)


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server programs (initdb, pg_ctl, postgres) are not installed or not found."""


def _has_server(bindir: Path) -> bool:
    return all(
        (bindir / tool).is_file() and os.access(bindir / tool, os.X_OK) for tool in SERVER_TOOLS
    )


def _version_key(bindir: str) -> tuple[int, ...]:
    # Numeric order, so that 16 beats 9.6.
    try:
        return tuple(int(part) for part in Path(bindir).parent.name.split("."))
    except ValueError:
        return (-1,)


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    searched: list[str] = []
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        # The real installation behind a symlink first: it also holds psql and createdb.
        for bindir in dict.fromkeys([Path(pg_ctl).resolve().parent, Path(pg_ctl).parent]):
            if _has_server(bindir):
                return bindir
            searched.append(f"{bindir} (pg_ctl on PATH)")
    else:
        searched.append("PATH (no pg_ctl)")

    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and out.stdout.strip() and _has_server(bindir):
            return bindir
        searched.append(f"{out.stdout.strip() or '?'} (pg_config --bindir)")
    else:
        searched.append("pg_config --bindir (no pg_config on PATH)")

    for candidate in sorted(glob.glob(VERSIONED_BINDIRS), key=_version_key, reverse=True):
        if _has_server(Path(candidate)):
            return Path(candidate)
    searched.append(VERSIONED_BINDIRS)

    raise PostgresNotFound(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found. Searched: "
        + "; ".join(searched)
        + ". "
        + INSTALL_HINT
    )
