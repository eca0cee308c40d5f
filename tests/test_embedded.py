"""The embedded PostgreSQL cluster and `python -m service serve` on it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from service import embedded_postgres
from service.embedded_postgres import EmbeddedPostgres, PostgresNotFound, find_bindir


def test_find_bindir_finds_the_server_tools() -> None:
    bindir = find_bindir()
    assert (bindir / "initdb").exists()
    assert (bindir / "pg_ctl").exists()


def test_no_binaries_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(embedded_postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(PostgresNotFound, match="apt-get install postgresql"):
        find_bindir()


async def test_cluster_keeps_data_across_restarts_and_reuse(tmp_path: Path) -> None:
    cluster = EmbeddedPostgres(tmp_path / "pg")
    dsn = cluster.start()
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
    await conn.close()

    borrower = EmbeddedPostgres(tmp_path / "pg")
    assert borrower.start() == dsn  # the running server is reused ...
    borrower.stop()
    assert cluster.is_running()  # ... and left running by the borrower

    cluster.stop()
    assert not cluster.is_running()
    assert not (tmp_path / "pg" / "pgdata" / "postmaster.pid").exists()

    with EmbeddedPostgres(tmp_path / "pg") as again:
        conn = await asyncpg.connect(again.dsn)
        assert await conn.fetchval("SELECT v FROM kept") == "still here"
        await conn.close()
    assert not again.is_running()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    env |= {"DATA_DIR": str(data_dir), "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    token = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not token:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("service exited before printing its token")
        if line.startswith("export TOKEN="):
            token = line.strip().removeprefix("export TOKEN=")
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("service never became ready")


def get_json(port: int, path: str, token: str) -> bytes:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        return bytes(resp.read())


def test_serve_without_database_url_runs_its_own_cluster(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc, token = start_service(data_dir, port)
    try:
        first = get_json(port, "/v3/accounting/records?limit=1000", token)
        assert b'"total_count":300' in first  # the demo account was seeded
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    pid_file = data_dir / "postgres" / "pgdata" / "postmaster.pid"
    assert not pid_file.exists(), "the cluster was not stopped"

    proc, token_again = start_service(data_dir, port)
    try:
        # Same data, not seeded twice; the first run's secret still signs valid tokens.
        assert b'"total_count":300' in get_json(port, "/v3/accounting/records?limit=1", token)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert token_again
    assert not pid_file.exists()
