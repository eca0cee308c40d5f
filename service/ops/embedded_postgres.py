"""A private PostgreSQL cluster run from the installed binaries (used when no DATABASE_URL is set).

The server listens only on a Unix socket in a directory of its own, with trust authentication:
whoever can enter that directory is superuser, so it is kept mode 0700.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

PORT = 5432
SUPERUSER = "postgres"
# initdb and postgres refuse to run as root; as root we run them as this account.
SERVER_ACCOUNT = "postgres"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
VERSIONED_BINDIRS = "/usr/lib/postgresql/*/bin"
# A socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
SERVER_OPTIONS = (
    "-c listen_addresses=''",
    "-c max_connections=200",
    "-c idle_in_transaction_session_timeout=60s",
    "-c fsync=on",
)
INSTALL_HINT = (
    "Install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), put its bin directory "
    "on PATH, or set DATABASE_URL to use an existing server."
)
START_TIMEOUT = 60


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


def _is_live_postgres(pid: int) -> bool:
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


def _lock_pid(lock: Path) -> int | None:
    try:
        first = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return None
    # postmaster.pid holds a negative pid for a single-user backend.
    return abs(int(first)) if first.lstrip("-").isdigit() else 0


def _processes_working_in(directory: Path) -> list[int] | None:
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

    def _server_account(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            raise RuntimeError(
                f"Running as root, but there is no {SERVER_ACCOUNT!r} user to run PostgreSQL as "
                "(initdb and postgres refuse to run as root). Create it (it comes with "
                "apt-get install postgresql) or run as an unprivileged user."
            ) from None

    def _run(
        self, program: Path | str, *args: str, new_session: bool = False
    ) -> subprocess.CompletedProcess[str]:
        # PG* variables (PGPORT, PGHOST, PGDATABASE...) would redirect the tools elsewhere.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        as_account: dict[str, Any] = {}
        account = self._server_account()
        if account is not None:
            as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            env |= {"HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name}
        return subprocess.run(
            [str(program), *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd="/",  # the server account may not be allowed into our working directory
            start_new_session=new_session,
            **as_account,
        )

    def _client(self, name: str) -> str:
        # psql/createdb may be missing beside a PATH symlink to pg_ctl; any version will do.
        if (self.bindir / name).is_file():
            return str(self.bindir / name)
        found = shutil.which(name)
        if found is None:
            raise PostgresNotFound(f"{name} not found in {self.bindir} or on PATH. {INSTALL_HINT}")
        return found

    def _give_to_server_account(self) -> None:
        account = self._server_account()
        socket_dir = self.socket_dir
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        socket_dir.chmod(0o700)
        if account is None:
            return
        uid, gid = account.pw_uid, account.pw_gid
        for path in (self.data_dir, socket_dir, self.log_file):
            if path.exists():
                os.chown(path, uid, gid)
        if self.pgdata.exists() and self.pgdata.stat().st_uid != uid:
            for root, dirs, files in os.walk(self.pgdata):
                for name in [".", *dirs, *files]:
                    os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
        for path in (self.data_dir, socket_dir):
            self._make_reachable(path, uid, gid)

    @staticmethod
    def _make_reachable(path: Path, uid: int, gid: int) -> None:
        # The server account must be able to search every parent (pytest's tmp dirs are
        # root-owned 0700): grant just the search bit that applies to it where it is missing.
        for parent in reversed(path.parents):
            st = parent.stat()
            if st.st_uid == uid:
                bit = stat.S_IXUSR
            elif st.st_gid == gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                parent.chmod(stat.S_IMODE(st.st_mode) | bit)

    # --- state ------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Whether a postmaster is alive for this data directory."""
        pid = _lock_pid(self.pgdata / "postmaster.pid")
        return pid is not None and pid > 0 and _is_live_postgres(pid)

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
        self._server_account()  # fail early as root without a server account
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
        done = self._run(initdb, *base, "--locale=C.UTF-8", "--lc-collate=C")
        if done.returncode != 0 and "locale" in done.stderr:
            done = self._run(initdb, *base, "--no-locale")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed for {self.pgdata}:\n{done.stdout}\n{done.stderr}")

    def _remove_stale_locks(self) -> None:
        # postgres refuses a lock file whose pid is alive, and after a crash that pid may be an
        # unreaped zombie or a recycled pid. Such a lock is removed, but only if no process of
        # the old server still works in the data directory; else postgres reports the conflict.
        working = _processes_working_in(self.pgdata.resolve())
        if working is None or any(_is_live_postgres(pid) for pid in working):
            return
        for lock in (
            self.pgdata / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self._port}.lock",
        ):
            pid = _lock_pid(lock)
            if pid is not None and not _is_live_postgres(pid):
                lock.unlink(missing_ok=True)

    def _launch(self) -> None:
        options = " ".join(
            [f"-k {shlex.quote(str(self.socket_dir))}", f"-p {self._port}", *SERVER_OPTIONS]
        )
        started = self._run(
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
        found = self._run(self._client("psql"), "-X", *connection, "-d", "postgres", "-tAc", query)
        if found.returncode != 0:
            raise RuntimeError(f"cannot query the embedded PostgreSQL server: {found.stderr}")
        if found.stdout.strip() == "1":
            return
        made = self._run(self._client("createdb"), *connection, "--", self.database)
        # Another process may have created it meanwhile.
        if made.returncode != 0 and "already exists" not in made.stderr:
            raise RuntimeError(f"createdb {self.database} failed: {made.stderr}")

    def stop(self) -> None:
        """Stop the server if this object started it; a reused server is left running."""
        if not self._started_here:
            return
        if self.is_running():
            done = self._run(
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
