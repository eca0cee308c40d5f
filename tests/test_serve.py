"""`python -m service serve` with no DATABASE_URL: its own cluster, seeded once, stopped on
SIGINT/SIGTERM with nothing left running, and the same data on the next start."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.ops.postgres_processes import processes_working_in


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Banner:
    """What `serve` prints for people: the token line and the curl examples."""

    token: str = ""
    examples: list[str] = field(default_factory=list)


def start_service(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], Banner]:
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
    banner = Banner()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError("service exited before printing its token")
        if line.startswith("export TOKEN="):
            banner.token = line.strip().removeprefix("export TOKEN=")
        elif line.startswith("curl "):
            banner.examples.append(line.strip())
        elif banner.examples:
            break  # the examples are the banner's last lines
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, banner
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


def run_example(example: str, token: str) -> Any:
    """Do what a printed `curl -H "..." "URL"` line does, after `export TOKEN=...`."""
    words = shlex.split(example.replace("$TOKEN", token))
    assert words[0] == "curl"
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    (url,) = [w for w in words[1:] if w.startswith("http")]
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        assert resp.status == 200, example
        return json.loads(resp.read())


def test_serve_without_database_url_runs_its_own_cluster(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc, banner = start_service(data_dir, port)
    token = banner.token
    try:
        first = get_json(port, "/v3/accounting/records?limit=1000", token)
        assert b'"total_count":300' in first  # the demo account was seeded
        # The printed examples work as printed.
        assert len(banner.examples) >= 2
        answers = [run_example(example, token) for example in banner.examples]
        assert len(answers[0]["items"]) == 2 and answers[0]["total_count"] == 300
        assert answers[1]["items"][0]["status"] == "ACTIVE"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    pgdata = data_dir / "postgres" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "the cluster was not stopped"
    assert processes_working_in(pgdata) == [], "a postgres process was left running"

    proc, again = start_service(data_dir, port)
    try:
        # Same data, not seeded twice; the first run's secret still signs valid tokens.
        assert b'"total_count":300' in get_json(port, "/v3/accounting/records?limit=1", token)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert again.token
    assert not (pgdata / "postmaster.pid").exists()
    assert processes_working_in(pgdata) == []
