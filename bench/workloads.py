"""What a run measures, in order: `workloads(sizes)` is the list to extend.

A workload is anything with `run(bench) -> list[Figure]`; its figures become rows of the
table under their section. A new one is one class (here or in its own module) and one
entry in `workloads()`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Protocol

from rich.markup import escape

from bench import api, cluster, pgbench, wrk
from bench.context import ACCOUNT, QUICK, Bench, Sizes
from bench.log_rates import LogRates, Storage
from bench.report import Figure, Side

BUSY_LOAD_GENERATOR = 0.5  # of a core: above it, the load generator may be the bottleneck
BUSY_MACHINE = 0.3  # of a core used by other processes: the figure was squeezed
FEW_REQUESTS = 30  # fewer in a timed run: a rough figure


def service_cap(sizes: Sizes, per_request: int) -> int:
    """Records/s the seeding provides for: well above what the service does today. A
    faster service uses up its records and its run ends early, which the figure says."""
    return sizes.service_caps.get(per_request, max(sizes.service_caps.values()))


def raw_cap(per_request: int) -> int:
    """Records/s the baseline's rows provide for; past them its figure is flagged."""
    return 10_000 if per_request == 1 else 30_000


def _span(records_per_second: int, seconds: float, parts: int, per_request: int) -> int:
    """Records for each of `parts` load generators: a whole number of requests."""
    return math.ceil(records_per_second * seconds / parts / per_request) * per_request


class Workload(Protocol):
    async def run(self, bench: Bench) -> list[Figure]: ...


# --- export-results --------------------------------------------------------------------


def _unit(per_request: int) -> str:
    return "req/s" if per_request == 1 else "records/s"


def records_wanted(sizes: Sizes, per: int, clients: int) -> int:
    """Seeded records a service run of this shape asks for (warm-up and timed run)."""
    threads, seconds = wrk.threads_for(clients), (sizes.warmup_seconds, sizes.run_seconds)
    return threads * sum(_span(service_cap(sizes, per), s, threads, per) for s in seconds)


async def _service_side(
    bench: Bench, per: int, clients: int, grow: bool, figure: Figure
) -> Side | None:
    if not bench.has_wrk:
        figure.notes.append("service not measured: " + wrk.INSTALL_HINT)
        return None
    threads = wrk.threads_for(clients)
    warm_seconds, run_seconds = bench.sizes.warmup_seconds, bench.sizes.run_seconds
    got = await bench.records(records_wanted(bench.sizes, per, clients), grow)
    await cluster.checkpoint(bench.dsn)
    each = got.count // threads // per * per  # records for each wrk thread
    warm_span = int(each * warm_seconds / (warm_seconds + run_seconds)) // per * per
    url, watch = bench.service.url, bench.watch_service()
    warm_ids = wrk.Ids(got.tag, got.first, warm_span)
    warm = await wrk.run(url, bench.token, warm_ids, per, clients, warm_seconds, watch)
    run_ids = wrk.Ids(got.tag, got.first + threads * warm_span, each - warm_span)
    done = await wrk.run(url, bench.token, run_ids, per, clients, run_seconds, watch)
    if warm.errors:
        figure.flags.append(f"warm-up: {warm.errors} errors ({warm.sample[:120]})")
    if done.errors:
        figure.flags.append(
            f"{done.failed} non-2xx and {done.socket_errors} socket errors"
            f" in {done.ok + done.failed} requests ({done.sample[:120]})"
        )
    if done.threads_out_of_records:
        figure.notes.append(f"ran {done.seconds:.1f} s: used all {threads * each:,} records")
    if done.cpu.get("wrk", 0.0) > BUSY_LOAD_GENERATOR:
        figure.flags.append(f"wrk used {done.cpu['wrk']:.0%} of a core: may be the bottleneck")
    _busy(done.cpu, figure)
    if done.ok + done.failed < FEW_REQUESTS:
        figure.notes.append(f"only {done.ok + done.failed} requests: rough")
    return Side(
        value=done.requests_per_second * per,
        p50_ms=done.p50_ms,
        p99_ms=done.p99_ms,
        cpu=done.cpu,
        detail={
            "requests_ok": done.ok,
            "requests_failed": done.failed,
            "socket_errors": done.socket_errors,
            "seconds": done.seconds,
            "requests_per_second": done.requests_per_second,
            "wrk_threads": threads,
            "records_for_the_run": threads * (each - warm_span),
            "records_in_account": bench.records_in_account,
            "error_sample": done.sample,
        },
    )


def _busy(cpu: dict[str, float], figure: Figure) -> None:
    note = "busy machine: see CPU other"
    if cpu.get("other", 0.0) > BUSY_MACHINE and note not in figure.notes:
        figure.notes.append(note)


async def _raw_side(bench: Bench, per: int, clients: int, figure: Figure) -> Side:
    warm_seconds, run_seconds = bench.sizes.raw_warmup_seconds, bench.sizes.run_seconds
    warm_span = _span(raw_cap(per), warm_seconds, clients, per)
    run_span = _span(raw_cap(per), run_seconds, clients, per)
    tag = bench.new_tag("x")
    await pgbench.add_run_rows(bench.dsn, tag, 0, clients * (warm_span + run_span))
    await cluster.checkpoint(bench.dsn)
    folder, watch = bench.workdir / tag, bench.watch_raw()
    if warm_seconds:
        script = pgbench.export_script(tag, 0, warm_span, per)
        await pgbench.run(
            bench.dsn, script, clients, folder / "warmup", seconds=warm_seconds, watch=watch
        )
    script = pgbench.export_script(tag, clients * warm_span, run_span, per)
    done = await pgbench.run(
        bench.dsn, script, clients, folder / "run", seconds=run_seconds, watch=watch
    )
    if done.most_by_one_client * per > run_span:
        figure.flags.append("baseline ran past its rows: its figure is too high (raise raw_cap)")
    if done.failed:
        figure.flags.append(f"baseline: {done.failed} failed transactions")
    _busy(done.cpu, figure)
    return Side(
        value=done.tps * per,
        p50_ms=done.p50_ms,
        p99_ms=done.p99_ms,
        cpu=done.cpu,
        detail={"transactions": done.transactions, "tps": done.tps, "rows": clients * run_span},
    )


@dataclass(frozen=True)
class Export:
    """export-results, `per_request` records per request from `clients` connections, beside
    pgbench doing the same transactions. The figure goes to each of `sections`. With
    grow=False the run uses records already in the account (and maybe fewer than asked)."""

    per_request: int
    clients: int
    sections: tuple[str, ...] = ("export-results",)
    grow: bool = True

    @property
    def name(self) -> str:
        per, clients = self.per_request, self.clients
        return f"{per} record{'s' * (per > 1)}/request, {clients} client{'s' * (clients > 1)}"

    async def run(self, bench: Bench) -> list[Figure]:
        bench.say(f"[bold]export-results, {self.name}[/]")
        per, clients = self.per_request, self.clients
        figure = Figure(self.sections[0], self.name, _unit(per), service=None)
        figure.service = await _service_side(bench, per, clients, self.grow, figure)
        figure.baseline = await _raw_side(bench, per, clients, figure)
        ours, raw = figure.service, figure.baseline
        shown = f"service {ours.value:,.0f} (p50 {ours.p50_ms:.1f} ms)" if ours else "service -"
        cpu = " ".join(f"{k} {v:.0%}" for k, v in (ours.cpu if ours else {}).items())
        bench.say(
            f"  {shown}, raw {raw.value:,.0f} (p50 {raw.p50_ms:.2f} ms) {_unit(per)}"
            f"{'; CPU in the service run: ' + cpu if cpu else ''}"
        )
        for flag in figure.flags:
            bench.say(f"  [bold red]! {escape(flag)}[/]")
        held = f" (account then: {bench.records_in_account:,})"
        return [
            dataclasses.replace(
                figure,
                section=section,
                name=figure.name + ("" if section == "export-results" else held),
            )
            for section in self.sections
        ]


# --- seeding and cost growth -----------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    """Import `records` in one go, for the workloads that follow (no figure of its own)."""

    records: int

    async def run(self, bench: Bench) -> list[Figure]:
        bench.say(f"[bold]seeding {self.records:,} records for the next runs[/]")
        await bench.seed(self.records)
        return []


def growth_section(records: int, sizes: Sizes) -> str:
    quick = " (quick run: not 1,000,000)" if sizes is QUICK and records == sizes.big_account else ""
    return f"cost growth: {records:,} records in the account{quick}"


async def page_figure(bench: Bench, section: str, ready_only: bool) -> Figure:
    """Median latency of sequential GETs of one list page, beside the same SQL in pgbench."""
    samples = bench.sizes.page_samples
    path = api.READY_PAGE if ready_only else api.FIRST_PAGE
    timings, total = await api.page_latencies(bench.service.url, bench.token, path, samples)
    raw = await pgbench.run(
        bench.dsn,
        pgbench.page_script(ACCOUNT, ready_only),
        1,
        bench.workdir / bench.new_tag("page"),
        transactions=samples + 2,
        skip=2,
        watch=bench.watch_raw(),
    )
    ours_ms = sorted(t * 1000 for t in timings)
    median = ours_ms[len(ours_ms) // 2]
    name = f"GET {'READY_FOR_EXPORT' if ready_only else 'first'} page (100 of {total:,})"
    bench.say(f"  {name}: service {median:.1f} ms, raw {raw.p50_ms:.2f} ms (medians)")
    return Figure(
        section,
        name,
        "ms",
        Side(median, detail={"samples_ms": ours_ms}),
        Side(raw.p50_ms, detail={"samples_ms": raw.latencies_ms}),
        higher_is_better=False,
    )


@dataclass(frozen=True)
class AccountSize:
    """The account grown to `records`, then one page of the list, filtered and not."""

    records: int

    async def run(self, bench: Bench) -> list[Figure]:
        section = growth_section(self.records, bench.sizes)
        bench.say(f"[bold]{section}[/]")
        missing = self.records - bench.records_in_account
        if missing > 0:
            rate = bench.imported / bench.import_seconds if bench.imported else 3_000
            bench.say(f"  importing {missing:,} records (about {missing / rate:,.0f} s)")
            await bench.seed(missing)
        return [
            await page_figure(bench, section, ready_only=True),
            await page_figure(bench, section, ready_only=False),
        ]


# --- bulk load -------------------------------------------------------------------------


class BulkLoad:
    """`import` as timed while seeding the run, next to COPY of the same rows."""

    async def run(self, bench: Bench) -> list[Figure]:
        if not bench.imported:
            return []
        return [
            Figure(
                "bulk load",
                f"import of {bench.imported:,} records; raw: COPY of the same rows",
                "records/s",
                Side(bench.imported / bench.import_seconds, detail={"s": bench.import_seconds}),
                Side(bench.imported / bench.copy_seconds, detail={"s": bench.copy_seconds}),
            )
        ]


def workloads(sizes: Sizes) -> list[Workload]:
    small = growth_section(sizes.small_account, sizes)
    big = growth_section(sizes.big_account, sizes)
    main = [Export(1, 1), Export(1, 32), Export(100, 4), Export(1000, 4)]
    return [
        AccountSize(sizes.small_account),
        Export(1, 8, ("export-results", small)),
        Seed(sum(records_wanted(sizes, w.per_request, w.clients) for w in main)),
        *main,
        AccountSize(sizes.big_account),
        Export(1, 8, (big,)),
        BulkLoad(),
        LogRates(sizes.feed_seconds, sizes.rebuilds),
        Storage(),
    ]
