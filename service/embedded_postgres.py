"""A private PostgreSQL cluster run from the installed binaries (no DATABASE_URL given)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

PORT = 5432
SUPERUSER = "postgres"
# Unix socket paths are limited to 107 bytes; keep well under.
MAX_SOCKET_PATH = 100


class PostgresNotFound(RuntimeError):
    pass


def _has_server(bindir: Path) -> bool:
    return all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres"))


def find_bindir() -> Path:
    """initdb/pg_ctl/postgres from PATH, `pg_config --bindir`, or /usr/lib/postgresql/*/bin."""
    searched: list[str] = []
    on_path = shutil.which("pg_ctl")
    candidates: list[Path] = [Path(on_path).resolve().parent] if on_path else []
    searched.append("PATH")
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    searched.append("pg_config --bindir")
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(v) for v in versions)
    searched.append("/usr/lib/postgresql/*/bin")
    for candidate in candidates:
        if _has_server(candidate):
            return candidate
    raise PostgresNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
        + ", ".join(searched)
        + ". Install them (Debian: apt-get install postgresql) or set DATABASE_URL."
    )


class EmbeddedPostgres:
    """initdb on first start, pg_ctl start/stop; listens only on a private Unix socket."""

    def __init__(self, data_dir: Path, database: str = "accounting") -> None:
        self.data_dir = data_dir.resolve()
        self.database = database
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self._bindir: Path | None = None
        self._socket_dir: Path | None = None
        self._started_here = False

    # --- who runs the server ----------------------------------------------------------

    def _run_as(self) -> dict[str, Any]:
        # initdb and postgres refuse to run as root: use the unprivileged `postgres` user.
        if os.geteuid() != 0:
            return {}
        try:
            user = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise RuntimeError(
                "running as root needs an unprivileged 'postgres' user for the cluster"
            ) from None
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _give_to_server_user(self, path: Path) -> None:
        owner = self._run_as()
        if not owner:
            return
        for root, _, files in os.walk(path):
            os.chown(root, owner["user"], owner["group"])
            for name in files:
                os.chown(os.path.join(root, name), owner["user"], owner["group"])
        # The server user must be able to reach the folder through its parents.
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)

    def _tool(self, name: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if self._bindir is None:
            self._bindir = find_bindir()
        return subprocess.run(
            [str(self._bindir / name), *args],
            capture_output=True,
            text=True,
            check=False,
            **self._run_as(),
            **kwargs,
        )

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            remembered = self.data_dir / "socket.path"
            if remembered.exists() and Path(remembered.read_text().strip()).is_dir():
                self._socket_dir = Path(remembered.read_text().strip())
            else:
                candidate = self.data_dir / "run"
                if len(f"{candidate}/.s.PGSQL.{PORT}") >= MAX_SOCKET_PATH:
                    candidate = Path(tempfile.mkdtemp(prefix="pgsock-"))
                candidate.mkdir(parents=True, exist_ok=True)
                remembered.write_text(str(candidate))
                self._socket_dir = candidate
        return self._socket_dir

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@/{self.database}?host={self.socket_dir}&port={PORT}"

    def is_running(self) -> bool:
        return (
            self.pgdata.exists()
            and self._tool("pg_ctl", "status", "-D", str(self.pgdata)).returncode == 0
        )

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        socket_dir = self.socket_dir
        self._give_to_server_user(self.data_dir)
        if socket_dir != self.data_dir / "run":
            self._give_to_server_user(socket_dir)
        if not self.is_running():
            self._start_server(socket_dir)
            self._started_here = True
        self._create_database()
        return self.dsn

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._give_to_server_user(self.data_dir)
        done = self._tool(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _start_server(self, socket_dir: Path) -> None:
        options = (
            f"-k {socket_dir} -p {PORT} -c listen_addresses='' -c max_connections=200"
            " -c idle_in_transaction_session_timeout=60s"
        )
        started = self._tool(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-o",
            options,
            # Its own session: a Ctrl-C at the terminal reaches us, and we stop the cluster.
            start_new_session=True,
        )
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stderr}\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _create_database(self) -> None:
        common = ["-h", str(self.socket_dir), "-p", str(PORT), "-U", SUPERUSER]
        exists = self._tool(
            "psql",
            *common,
            "-d",
            "postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
        )
        if exists.returncode != 0:
            raise RuntimeError(f"cannot reach the embedded cluster: {exists.stderr}")
        if exists.stdout.strip() != "1":
            made = self._tool("createdb", *common, self.database)
            if made.returncode != 0 and "already exists" not in made.stderr:
                raise RuntimeError(f"createdb failed: {made.stderr}")

    def stop(self) -> None:
        """Stop the server if this object started it (a reused server is left running)."""
        if not self._started_here:
            return
        self._tool("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        self._started_here = False

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
