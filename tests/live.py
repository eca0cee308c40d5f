"""`python -m service serve` as a real process, for tests that kill it, stop its database or
read its logs: start it, wait until it is ready, signal it, read what it wrote."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from service.ops.embedded_postgres import EmbeddedPostgres
from tests.conftest import AUDIENCE, SECRET, make_token

NONE: Mapping[str, object] = MappingProxyType({})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """One run of the service process; its output goes to files in `folder`."""

    folder: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> Path:
        return self.folder / f"stderr-{self.runs}.log"

    @property
    def stdout(self) -> Path:
        return self.folder / f"stdout-{self.runs}.log"

    def start(self, ready_within: float = 90.0) -> Service:
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
        env |= {"PORT": str(self.port), "LOG_FORMAT": "json", **self.env}
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--no-demo"],
                stdout=out,
                stderr=err,
                env=env,
            )
        self.wait_ready(ready_within)
        return self

    def wait_ready(self, within: float = 30.0) -> float:
        """Seconds until /readyz answered 200."""
        started = time.monotonic()
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited {self.proc.returncode}:\n{self.tail()}")
            if self.ready_status() == 200:
                return time.monotonic() - started
            if time.monotonic() - started > within:
                raise AssertionError(f"service never became ready:\n{self.tail()}")
            time.sleep(0.05)

    def ready_status(self) -> int | None:
        try:
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=3) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=30)

    def stop(self, within: float = 60.0) -> int:
        self.signal(signal.SIGTERM)
        assert self.proc is not None
        return self.proc.wait(timeout=within)

    def tail(self, lines: int = 40) -> str:
        text = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_lines(self) -> list[str]:
        """Every line the service wrote to stderr, in every run."""
        return [
            line
            for run in range(1, self.runs + 1)
            for line in (self.folder / f"stderr-{run}.log").read_text(errors="replace").splitlines()
        ]

    def log_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines()]


def service_env(
    data_dir: Path, *, database_url: str | None = None, settings: Mapping[str, object] = NONE
) -> dict[str, str]:
    """The environment of a service on `data_dir` (embedded unless `database_url`), with
    `settings` (names as in service.settings) set."""
    env = {
        "DATA_DIR": str(data_dir),
        "JWT_SECRET": SECRET,
        "JWT_AUDIENCE": AUDIENCE,
        **{name.upper(): str(value) for name, value in settings.items()},
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def embedded_dsn(data_dir: Path) -> str:
    """The DSN of the cluster an embedded service runs under `data_dir`."""
    return EmbeddedPostgres(data_dir / "postgres", database="accounting").dsn


def postmaster_pid(data_dir: Path) -> int:
    lock = data_dir / "postgres" / "pgdata" / "postmaster.pid"
    return int(lock.read_text().split("\n", 1)[0])


def bearer(account: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(account, ttl=3600)}"}
