"""EmbeddedPostgres against the installed PostgreSQL binaries.

One cluster serves the module (initdb is the slow part); tests that stop or crash it leave it
running again. Under root, pytest's tmp dirs are root-owned 0700, which is the case to handle.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from service.ops import postgres_install
from service.ops.embedded_postgres import EmbeddedPostgres
from service.ops.postgres_install import PostgresNotFound, find_bindir
from service.ops.postgres_processes import processes_working_in


def postmaster_pid(cluster: EmbeddedPostgres) -> int:
    return int((cluster.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def cluster_processes(cluster: EmbeddedPostgres) -> list[int]:
    return processes_working_in(cluster.pgdata)


def wait_until_gone(cluster: EmbeddedPostgres, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while cluster_processes(cluster):
        assert time.monotonic() < deadline, f"still running: {cluster_processes(cluster)}"
        time.sleep(0.05)


def assert_stopped(cluster: EmbeddedPostgres) -> None:
    assert not (cluster.pgdata / "postmaster.pid").exists()
    assert not cluster.is_running()
    assert cluster_processes(cluster) == []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("embedded") / "pg")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
    assert_stopped(pg)


def fake_bindir(path: Path, tools: tuple[str, ...] = ("initdb", "pg_ctl", "postgres")) -> Path:
    path.mkdir(parents=True)
    for tool in tools:
        (path / tool).write_text("#!/bin/sh\n")
        (path / tool).chmod(0o755)
    return path


# --- finding the binaries -----------------------------------------------------------------


def test_find_bindir_finds_the_server_programs() -> None:
    bindir = find_bindir()
    for tool in ("initdb", "pg_ctl", "postgres"):
        assert (bindir / tool).is_file()


def test_find_bindir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = fake_bindir(tmp_path / "path", tools=("pg_ctl",))  # no initdb: not enough
    fake_bindir(tmp_path / "lib" / "9.6" / "bin")
    fake_bindir(tmp_path / "lib" / "15" / "bin")
    fake_bindir(tmp_path / "lib" / "16" / "bin", tools=("initdb", "pg_ctl"))
    monkeypatch.setenv("PATH", str(on_path))  # and no pg_config there
    monkeypatch.setattr(postgres_install, "VERSIONED_BINDIRS", f"{tmp_path}/lib/*/bin")
    assert find_bindir() == tmp_path / "lib" / "15" / "bin"  # highest complete version

    fake_bindir(tmp_path / "more", tools=("initdb", "postgres"))
    for tool in ("initdb", "postgres"):
        (on_path / tool).symlink_to(tmp_path / "more" / tool)
    assert find_bindir() == on_path  # PATH wins once all three are there


def test_no_binaries_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres_install, "VERSIONED_BINDIRS", f"{tmp_path}/none/*/bin")
    with pytest.raises(PostgresNotFound) as raised:
        find_bindir()
    message = str(raised.value)
    for searched in ("PATH", "pg_config --bindir", f"{tmp_path}/none/*/bin"):
        assert searched in message
    assert "apt-get install postgresql" in message


# --- one cluster --------------------------------------------------------------------------


async def test_start_gives_a_working_dsn(cluster: EmbeddedPostgres) -> None:
    assert cluster.dsn == f"postgresql://postgres@/accounting?host={cluster.socket_dir}&port=5432"
    conn = await asyncpg.connect(cluster.dsn)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "accounting"
        assert await conn.fetchval("SHOW listen_addresses") == ""  # Unix socket only
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(cluster.dsn, min_size=1, max_size=2)
    try:
        assert await pool.fetchval("SELECT 2") == 2
    finally:
        await pool.close()


def test_server_runs_apart_from_us(cluster: EmbeddedPostgres) -> None:
    pid = postmaster_pid(cluster)
    # Its own session: a Ctrl-C at our terminal does not reach it.
    assert os.getsid(pid) == pid != os.getsid(0)
    # Only its account may enter the socket directory (trust authentication).
    assert stat.S_IMODE(cluster.socket_dir.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        assert Path(f"/proc/{pid}").stat().st_uid != 0
        assert (cluster.pgdata / "PG_VERSION").stat().st_uid != 0


async def test_second_instance_reuses_the_running_server(cluster: EmbeddedPostgres) -> None:
    pid = postmaster_pid(cluster)
    borrower = EmbeddedPostgres(cluster.data_dir, database="borrowed")
    with borrower:
        assert postmaster_pid(cluster) == pid
        conn = await asyncpg.connect(borrower.dsn)  # its database was created on that server
        assert await conn.fetchval("SELECT current_database()") == "borrowed"
        await conn.close()
    assert postmaster_pid(cluster) == pid  # ... and left running
    conn = await asyncpg.connect(cluster.dsn)
    assert await conn.fetchval("SELECT 1") == 1
    await conn.close()


async def test_data_survives_stop_and_start(cluster: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(cluster.dsn)
    await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
    await conn.close()
    initialized = (cluster.pgdata / "PG_VERSION").stat().st_mtime_ns

    cluster.stop()
    assert_stopped(cluster)
    cluster.stop()  # a second stop is harmless

    cluster.start()
    assert (cluster.pgdata / "PG_VERSION").stat().st_mtime_ns == initialized  # no new initdb
    conn = await asyncpg.connect(cluster.dsn)
    assert await conn.fetchval("SELECT v FROM kept") == "still here"
    await conn.close()


async def test_start_after_a_crash(cluster: EmbeddedPostgres) -> None:
    processes = cluster_processes(cluster)
    os.kill(postmaster_pid(cluster), signal.SIGKILL)
    wait_until_gone(cluster)  # its children notice and exit
    # The stale postmaster.pid may name an unreaped zombie, which pg_ctl alone rejects.
    assert (cluster.pgdata / "postmaster.pid").exists()
    assert not cluster.is_running()

    cluster.start()
    assert not set(processes) & set(cluster_processes(cluster))
    conn = await asyncpg.connect(cluster.dsn)
    assert await conn.fetchval("SELECT count(*) FROM pg_database") >= 1
    await conn.close()


def test_failed_start_reports_the_log(cluster: EmbeddedPostgres) -> None:
    cluster.stop()
    conf = cluster.pgdata / "postgresql.auto.conf"
    original = conf.read_text()
    conf.write_text(original + "no_such_setting = on\n")
    try:
        with pytest.raises(RuntimeError, match="no_such_setting") as raised:
            cluster.start()
        assert "postgres.log" in str(raised.value)
        assert_stopped(cluster)
    finally:
        conf.write_text(original)
        cluster.start()


# --- a data directory too deep for a socket path ------------------------------------------


def test_deep_data_dir_gets_a_short_socket_dir(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    cluster = EmbeddedPostgres(deep)
    socket_dir = cluster.socket_dir
    try:
        assert socket_dir.parent == Path(tempfile.gettempdir())
        assert socket_dir.name.startswith("pgsock-")
        with cluster:
            assert cluster.socket_dir == socket_dir
            # Another instance finds the server through the remembered socket directory.
            assert EmbeddedPostgres(deep).dsn == cluster.dsn
            assert EmbeddedPostgres(deep).start() == cluster.dsn
        assert_stopped(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
