"""`python -m bench.run [--quick]`: the service measured as a user runs it, next to raw
PostgreSQL doing the same work, on a throwaway cluster. See README, "Performance"."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bench import api, cluster, pgbench, report, wrk
from bench.context import ACCOUNT, FULL, QUICK, Bench, Sizes
from bench.report import Figure, console
from bench.service_proc import Service
from bench.workloads import workloads

RESULTS = Path(__file__).with_name("results")
cli = typer.Typer(add_completion=False)


async def _tools() -> dict[str, str]:
    proc = await asyncio.create_subprocess_exec(
        "pgbench", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    found = {"pgbench": out.decode().strip()}
    if wrk.available():
        found["wrk"] = await wrk.version()
    return found


async def measure(sizes: Sizes, workdir: Path) -> tuple[dict[str, Any], list[Figure]]:
    with cluster.cluster(workdir) as pg:
        facts = report.machine(await cluster.facts(pg.dsn), await _tools())
        console.print(f"Machine: {report.machine_line(facts)}", markup=False)
        service = Service(pg.dsn, workdir)
        await service.start()
        try:
            token = await service.token(ACCOUNT)
            await api.create_integration(service.url, token)
            await pgbench.create_tables(pg.dsn)
            bench = Bench(
                sizes, pg.dsn, workdir, service, token, pg.postmaster_pid(), wrk.available()
            )
            bench.say(f"service up at {service.url} (pid {service.pid}), cluster {pg.pgdata}")
            figures: list[Figure] = []
            for workload in workloads(sizes):
                figures.extend(await workload.run(bench))
        except Exception:
            console.print(service.describe(), markup=False)
            raise
        finally:
            await service.stop()
    return facts, figures


@cli.command()
def main(
    quick: Annotated[
        bool, typer.Option("--quick", help="smaller sizes and shorter runs (about 2 minutes)")
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="keep the temporary folder (cluster, logs)")
    ] = False,
) -> None:
    """Measure export-results, list pages and import against raw PostgreSQL."""
    sizes = QUICK if quick else FULL
    if not wrk.available():
        console.print(f"[bold yellow]{wrk.INSTALL_HINT}: the HTTP load figures are skipped.[/]")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        facts, figures = asyncio.run(measure(sizes, workdir))
    finally:
        if keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{stamp}-{sizes.name}.json"
    settings = {"sizes": sizes.__dict__, "wall_clock_seconds": round(elapsed)}
    report.write(out, facts, settings, figures)
    console.print()
    console.print(report.table(figures, f"{sizes.name} run, {elapsed:.0f} s"))
    console.print(f"Machine: {report.machine_line(facts)}", markup=False)
    console.print(
        "speed vs raw: service throughput / baseline throughput; for GET latencies baseline"
        " / service (1.00 = as fast as raw PostgreSQL). CPU: share of one core."
    )
    console.print(f"Results: {out} (and {out.with_suffix('.md').name})")


if __name__ == "__main__":
    cli()
