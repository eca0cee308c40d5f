"""What every workload works with: sizes, the running service, and the seeded records."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import dataset, pgbench
from bench.report import console
from bench.service_proc import Service

ACCOUNT = "acct_bench"
IMPORT_CHUNK = 200_000  # records per import file (and per batch of ids)


@dataclass(frozen=True)
class Sizes:
    name: str
    run_seconds: int  # wrk -d and pgbench -T take whole seconds
    warmup_seconds: int
    # pgbench's tps leaves out its connection set-up and its rows were just written: its
    # warm-up matters least, and the quick run skips it to stay under two minutes.
    raw_warmup_seconds: int
    small_account: int
    big_account: int
    feed_seconds: float  # reading GET /v3/accounting/events page after page
    rebuilds: tuple[str, ...]  # projections rebuilt from the whole log
    # Records/s seeded for a run, by records per request: seeding (through `import`) takes
    # most of a run's time, so the quick run seeds closer to what the service does.
    service_caps: dict[int, int]
    page_samples: int = 20


FULL = Sizes(
    "full",
    run_seconds=10,
    warmup_seconds=2,
    raw_warmup_seconds=2,
    small_account=10_000,
    big_account=1_000_000,
    feed_seconds=10,
    rebuilds=("record_state", "analytics"),
    service_caps={1: 4_000, 100: 8_000, 1000: 8_000},
)
QUICK = Sizes(
    "quick",
    run_seconds=3,
    warmup_seconds=1,
    raw_warmup_seconds=0,
    small_account=10_000,
    big_account=60_000,
    feed_seconds=2,
    rebuilds=(),  # 20 s each on the quick run's log: the full run has them
    service_caps={1: 2_500, 100: 5_000, 1000: 5_000},
)


@dataclass
class Batch:
    """Seeded records accr_TAG_n, n < size; those from `taken` on were never handed out."""

    tag: str
    size: int
    taken: int = 0

    @property
    def left(self) -> int:
        return self.size - self.taken


@dataclass(frozen=True)
class Records:
    tag: str
    first: int
    count: int


@dataclass
class Bench:
    sizes: Sizes
    dsn: str
    workdir: Path
    service: Service
    token: str
    postmaster: int
    has_wrk: bool
    records_in_account: int = 0
    imported: int = 0
    import_seconds: float = 0.0
    copy_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    _batches: list[Batch] = field(default_factory=list)
    _tags: itertools.count[int] = field(default_factory=itertools.count)

    def say(self, text: str) -> None:
        console.print(f"[dim]{time.monotonic() - self.started:6.0f}s[/] {text}")

    def new_tag(self, kind: str) -> str:
        return f"{kind}{next(self._tags)}"

    def watch_service(self) -> dict[str, int]:
        """The processes whose CPU a service run reports (besides the load generator)."""
        return {"svc": self.service.pid, "pg": self.postmaster}

    def watch_raw(self) -> dict[str, int]:
        return {"pg": self.postmaster}

    async def seed(self, count: int) -> None:
        """`count` new READY_FOR_EXPORT records in the account: into the service with
        `import`, into the baseline's tables with COPY of the same rows (both timed)."""
        for done in range(0, count, IMPORT_CHUNK):
            size = min(IMPORT_CHUNK, count - done)
            tag = self.new_tag("s")
            jsonl, rows = self.workdir / f"{tag}.jsonl", self.workdir / f"{tag}.rows"
            ids = dataset.write(jsonl, rows, ACCOUNT, tag, size)
            imported = await self.service.import_file(jsonl, ACCOUNT)
            copied = await pgbench.mirror(self.dsn, rows, ACCOUNT, ids)
            jsonl.unlink()
            rows.unlink()
            self._batches.append(Batch(tag, size))
            self.imported += size
            self.import_seconds += imported
            self.copy_seconds += copied
            self.records_in_account += size
            self.say(
                f"  seeded {size:,} records: import {size / imported:,.0f} records/s,"
                f" COPY {size / copied:,.0f} rows/s ({self.records_in_account:,} in the account)"
            )

    async def records(self, wanted: int, grow: bool) -> Records:
        """`wanted` seeded records nobody used, in one range. With grow=False the account
        keeps its size: a range as large as it has is handed out, maybe fewer."""
        assert wanted <= IMPORT_CHUNK, "a range comes from one import file"
        fitting = [b for b in self._batches if b.left >= wanted]
        if not fitting and grow:
            await self.seed(wanted)
            fitting = [self._batches[-1]]
        batch = fitting[0] if fitting else max(self._batches, key=lambda b: b.left)
        count = min(wanted, batch.left)
        batch.taken += count
        return Records(batch.tag, batch.taken - count, count)
