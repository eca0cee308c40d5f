"""A private PostgreSQL cluster run from the installed binaries (used when no DATABASE_URL is set).

The server listens only on a Unix socket in a directory of its own, with trust authentication:
whoever can enter that directory is superuser, so it is kept mode 0700.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from service.ops.postgres_account import hand_over, run_tool, server_account
from service.ops.postgres_install import INSTALL_HINT, PostgresNotFound, find_bindir
from service.ops.postgres_processes import is_live_postgres, lock_pid, processes_working_in

PORT = 5432
SUPERUSER = "postgres"
# A socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
SERVER_OPTIONS = (
    "-c listen_addresses=''",
    "-c max_connections=200",
    "-c idle_in_transaction_session_timeout=60s",
    "-c fsync=on",
)
START_TIMEOUT = 60


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EmbeddedPostgres:
    """initdb on first start, then pg_ctl start/stop of a cluster under data_dir.

    A server already running on data_dir (started by another EmbeddedPostgres, maybe in another
    process) is reused and left running by stop().
    """

    def __init__(self, data_dir: Path, database: str = "accounting") -> None:
        self.data_dir = data_dir.resolve()
        self.database = database
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgres.log"
        self._socket_pointer = self.data_dir / "socket.path"
        self._bindir: Path | None = None
        self._socket_dir: Path | None = None
        self._port = PORT
        self._started_here = False

    # --- where ------------------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            preferred = self.data_dir / "run"
            socket = f"{preferred}/.s.PGSQL.{self._port}"
            # unix_socket_directories is a comma-separated list.
            if len(os.fsencode(socket)) < MAX_SOCKET_PATH and "," not in socket:
                self._socket_dir = preferred
            else:
                self._socket_dir = self._short_socket_dir()
        return self._socket_dir

    def _short_socket_dir(self) -> Path:
        # Remembered beside the data, so that restarts keep the same DSN.
        if self._socket_pointer.is_file():
            remembered = Path(self._socket_pointer.read_text().strip())
            if remembered.is_absolute() and remembered.is_dir():
                return remembered
        self.data_dir.mkdir(parents=True, exist_ok=True)
        short = Path(tempfile.mkdtemp(prefix="pgsock-"))
        self._socket_pointer.write_text(f"{short}\n")
        return short

    @property
    def dsn(self) -> str:
        host = quote(str(self.socket_dir), safe="/")
        database = quote(self.database, safe="")
        return f"postgresql://{SUPERUSER}@/{database}?host={host}&port={self._port}"

    # --- who --------------------------------------------------------------------------

    def _client(self, name: str) -> str:
        # psql/createdb may be missing beside a PATH symlink to pg_ctl; any version will do.
        if (self.bindir / name).is_file():
            return str(self.bindir / name)
        found = shutil.which(name)
        if found is None:
            raise PostgresNotFound(f"{name} not found in {self.bindir} or on PATH. {INSTALL_HINT}")
        return found

    def _give_to_server_account(self) -> None:
        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket_dir.chmod(0o700)
        hand_over([self.data_dir, socket_dir, self.log_file], self.pgdata)

    # --- state ------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether a postmaster is alive for this data directory."""
        pid = lock_pid(self.pgdata / "postmaster.pid")
        return pid is not None and pid > 0 and is_live_postgres(pid)

    def _postmaster_info(self) -> list[str]:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return []

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> str:
        """Start (or reuse) the server and create the database if missing; return the DSN."""
        server_account()  # fail early as root without a server account
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            self._adopt()
        else:
            self._give_to_server_account()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._remove_stale_locks()
            self._launch()
        try:
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def _adopt(self) -> None:
        # postmaster.pid names the socket directory and port in use, and says when ready.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            info = self._postmaster_info()
            if len(info) >= 8 and info[7].strip() == "ready" and info[4].strip():
                self._port = int(info[3])
                self._socket_dir = Path(info[4].strip())
                return
            if not self.is_running():
                raise RuntimeError(
                    f"PostgreSQL on {self.pgdata} stopped while we waited for it.\n"
                    + self._log_tail()
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on {self.pgdata} is running but never got ready")
            time.sleep(0.1)

    def _initdb(self) -> None:
        initdb = self.bindir / "initdb"
        base = ["-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
        # Byte-order collation (fast, predictable), but UTF-8 aware upper()/lower()/ILIKE.
        done = run_tool(initdb, *base, "--locale=C.UTF-8", "--lc-collate=C")
        if done.returncode != 0 and "locale" in done.stderr:
            done = run_tool(initdb, *base, "--no-locale")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed for {self.pgdata}:\n{done.stdout}\n{done.stderr}")

    def _remove_stale_locks(self) -> None:
        # postgres refuses a lock file whose pid is alive, and after a crash that pid may be an
        # unreaped zombie or a recycled pid. Such a lock is removed, but only if no process of
        # the old server still works in the data directory; else postgres reports the conflict.
        if processes_working_in(self.pgdata) is None:
            return
        # The backends of a server that died exit once they notice; wait for them.
        deadline = time.monotonic() + START_TIMEOUT
        while any(is_live_postgres(pid) for pid in processes_working_in(self.pgdata) or []):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        for lock in (
            self.pgdata / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self._port}.lock",
        ):
            pid = lock_pid(lock)
            if pid is not None and not is_live_postgres(pid):
                lock.unlink(missing_ok=True)

    def _launch(self) -> None:
        options = " ".join(
            [f"-k {shlex.quote(str(self.socket_dir))}", f"-p {self._port}", *SERVER_OPTIONS]
        )
        started = run_tool(
            self.bindir / "pg_ctl",
            "start",
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log_file),
            "-o",
            options,
            # Its own session: a Ctrl-C at the terminal reaches only us, and we stop the server.
            new_session=True,
        )
        # Even a failed start may leave a server behind (e.g. pg_ctl timed out waiting).
        self._started_here = True
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(
                f"PostgreSQL failed to start on {self.pgdata}: {started.stderr.strip()}\n"
                f"--- last lines of {self.log_file} ---\n{self._log_tail()}"
            )

    def _create_database(self) -> None:
        connection = ["-h", str(self.socket_dir), "-p", str(self._port), "-U", SUPERUSER]
        query = f"SELECT 1 FROM pg_database WHERE datname = {_sql_literal(self.database)}"
        found = run_tool(self._client("psql"), "-X", *connection, "-d", "postgres", "-tAc", query)
        if found.returncode != 0:
            raise RuntimeError(f"cannot query the embedded PostgreSQL server: {found.stderr}")
        if found.stdout.strip() == "1":
            return
        made = run_tool(self._client("createdb"), *connection, "--", self.database)
        # Another process may have created it meanwhile.
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise RuntimeError(f"createdb {self.database} failed: {made.stderr}")

    def own(self) -> None:
        """Make stop() stop the server even if it was found running (left by a process that
        died): the one that serves it owns it."""
        self._started_here = True

    def stop(self) -> None:
        """Stop the server if this object started or owns it; a reused one is left running."""
        if not self._started_here:
            return
        if self.is_running():
            done = run_tool(
                self.bindir / "pg_ctl", "stop", "-D", str(self.pgdata), "-m", "fast", "-w"
            )
            if done.returncode != 0 and self.is_running():
                raise RuntimeError(
                    f"pg_ctl stop failed for {self.pgdata}: {done.stderr.strip()}\n"
                    + self._log_tail()
                )
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
