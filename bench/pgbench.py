"""The raw-PostgreSQL baseline: the same work as the service, straight in SQL, run by pgbench.

Its tables, in schema bench_raw, are created LIKE the service's (same columns, defaults,
keys and indexes), so they follow the service's migrations. They hold a copy of every
record the service was given (the COPY twin of each `import`), and the baseline's export
runs use fresh rows added for each of them under another account (RUNS_ACCOUNT).
Autovacuum is off on these tables only: cleaning up after one baseline run must not slow
the next measurement. List pages only read, so their baseline reads the service's own
table, the very rows the service answers from.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.cpu import CpuMeter

SCHEMA = "bench_raw"
RUNS_ACCOUNT = "acct_bench_raw_runs"
STATE_COLUMNS = (
    "account_id",
    "record_id",
    "version",
    "review_status",
    "source_type",
    "type",
    "updated_at",
    "state",
)
_TABLES = f"""
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.events (LIKE public.events INCLUDING ALL);
CREATE TABLE {SCHEMA}.record_state (LIKE public.record_state INCLUDING ALL);
ALTER TABLE {SCHEMA}.events SET (autovacuum_enabled = false);
ALTER TABLE {SCHEMA}.record_state SET (autovacuum_enabled = false);
"""
# Events carry the hash chain, as the service's do: SHA-256 over the previous event's hash
# and the event's bytes (the service hashes its canonical JSON; this hashes jsonb's text).
_GENESIS = "'\\x" + "00" * 32 + "'::bytea"
# The creation event of each mirrored record (as `import` appends one), not timed.
_CREATED_EVENTS = f"""
INSERT INTO {SCHEMA}.events (event_id, account_id, stream_id, version, type, data, metadata,
                             prev_hash, hash)
SELECT gen_random_uuid(), account_id, record_id, 1, 'RecordCreated', state,
       '{{"client_id": "cli:import", "request_id": "import-4f1c2d3e5a6b"}}',
       {_GENESIS}, sha256({_GENESIS} || convert_to(state::text, 'UTF8'))
FROM {SCHEMA}.record_state WHERE account_id = $1 AND record_id = ANY($2::text[])
"""
# Rows for the baseline's own runs: copies of a mirrored record under new ids.
_RUN_ROWS = f"""
INSERT INTO {SCHEMA}.record_state
    (account_id, record_id, version, review_status, source_type, type, updated_at, state)
SELECT $1, 'accr_' || $2 || '_' || n, 1, 'READY_FOR_EXPORT', t.source_type, t.type, now(),
       jsonb_set(t.state, '{{id}}', to_jsonb('accr_' || $2 || '_' || n))
FROM generate_series($3::bigint, $4::bigint) AS n,
     (SELECT source_type, type, state FROM {SCHEMA}.record_state LIMIT 1) AS t
"""

# The export of PER records: lock their state rows, append one event each, update the rows;
# each client walks its own range of fresh records (:i counts its transactions). Set-based
# for a batch (= ANY(array), one INSERT ... SELECT); plain equality for a single record.
_EXPORT = """\\set n {first} + :client_id * {span} + :i * {per}
\\set i :i + 1
BEGIN;
SELECT state FROM {schema}.record_state
WHERE account_id = '{account}' AND {which} FOR UPDATE;
INSERT INTO {schema}.events (event_id, account_id, stream_id, version, type, data, metadata,
                             prev_hash, hash)
{rows};
UPDATE {schema}.record_state
SET version = 2, review_status = 'EXPORTED', updated_at = now(),
    last_tx = pg_current_xact_id(), state = state || {patch}
WHERE account_id = '{account}' AND {which};
END;
"""
_ONE = "record_id = 'accr_{tag}_' || :n"
# The new event chains onto the stream's previous one (looked up, as the service's append
# does) and hashes its bytes.
_CHAINED = (
    "SELECT gen_random_uuid(), '{account}', p.stream_id, 2, {event}, p.hash,"
    " sha256(p.hash || convert_to({hashed}, 'UTF8'))"
    " FROM {schema}.events p WHERE p.account_id = '{account}' AND p.version = 1 AND "
)
_ONE_ROW = _CHAINED + "p.stream_id = 'accr_{tag}_' || :n"
_BATCH = "generate_series(:n, :n + {last}) AS g"
_MANY = "record_id = ANY(ARRAY(SELECT 'accr_{tag}_' || g FROM " + _BATCH + "))"
_MANY_ROWS = _CHAINED + "p.stream_id = ANY(ARRAY(SELECT 'accr_{tag}_' || g FROM " + _BATCH + "))"
_EVENT = {
    "vendor": "ERP_A",
    "reference_id": "r1",
    "deep_link_url": None,
    "integration_id": "int_0123456789abcdef01234567",
    "vendor_account_id": "ledger-bench",
}
_METADATA = {"client_id": "bench", "request_id": "0123456789abcdef0123456789abcdef"}
_PATCH = {"version": 2, "review_status": "EXPORTED", "export": {**_EVENT, "status": "SUCCEEDED"}}

# A page of the list as the API answers it: the total, then 100 records (and one more, to
# know whether a next page exists), in one read-only snapshot. Reads only: it runs on the
# service's own table, so both sides read the very same rows.
_PAGE = """BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT count(*) FROM {schema}.record_state WHERE account_id = '{account}'{filter};
SELECT record_id, updated_at, state FROM {schema}.record_state
WHERE account_id = '{account}'{filter} ORDER BY updated_at, record_id LIMIT 101;
END;
"""
READY_FILTER = " AND review_status = 'READY_FOR_EXPORT'"


async def create_tables(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_TABLES)
    finally:
        await conn.close()


async def mirror(dsn: str, rows: Path, account: str, ids: list[str]) -> float:
    """COPY `rows` (text format) into the state table (timed: the seconds it took), then
    add their creation events (not timed)."""
    conn = await asyncpg.connect(dsn)
    try:
        start = asyncio.get_running_loop().time()
        await conn.copy_to_table(
            "record_state", schema_name=SCHEMA, source=rows, columns=STATE_COLUMNS, format="text"
        )
        seconds = asyncio.get_running_loop().time() - start
        await conn.execute(_CREATED_EVENTS, account, ids)
    finally:
        await conn.close()
    return seconds


async def add_run_rows(dsn: str, tag: str, first: int, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_RUN_ROWS, RUNS_ACCOUNT, tag, first, first + count - 1)
        ids = [f"accr_{tag}_{n}" for n in range(first, first + count)]
        await conn.execute(_CREATED_EVENTS, RUNS_ACCOUNT, ids)
    finally:
        await conn.close()


def _literal(value: object) -> str:
    return "'" + json.dumps(value).replace("'", "''") + "'"


def export_script(tag: str, first: int, span: int, per: int) -> str:
    """Export `per` records per transaction; client c's range starts at first + c * span."""
    event = f"'ExportSucceeded', {_literal(_EVENT)}, {_literal(_METADATA)}"
    hashed = _literal({"data": _EVENT, "metadata": _METADATA})
    names = {
        "account": RUNS_ACCOUNT,
        "tag": tag,
        "last": per - 1,
        "event": event,
        "hashed": hashed,
        "schema": SCHEMA,
    }
    which, rows = (_ONE, _ONE_ROW) if per == 1 else (_MANY, _MANY_ROWS)
    return _EXPORT.format(
        schema=SCHEMA,
        account=RUNS_ACCOUNT,
        first=first,
        span=span,
        per=per,
        which=which.format(**names),
        rows=rows.format(**names),
        patch=_literal(_PATCH),
    )


def page_script(account: str, ready_only: bool) -> str:
    return _PAGE.format(schema="public", account=account, filter=READY_FILTER if ready_only else "")


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    transactions: int
    failed: int
    p50_ms: float
    p99_ms: float
    most_by_one_client: int
    latencies_ms: list[float] = field(repr=False)
    cpu: dict[str, float]


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    return float(found[1]) if found else 0.0


def _log_lines(logs: Path) -> list[list[str]]:
    # One file per pgbench thread; per line: client, transaction number, latency in µs, ...
    rows: list[list[str]] = []
    for path in sorted(logs.iterdir()):
        rows.extend(line.split() for line in path.read_text().splitlines())
    return rows


def _prepare(workdir: Path, script: str) -> Path:
    """Write the script to workdir/script.sql; the empty folder for pgbench's logs."""
    logs = workdir / "logs"
    logs.mkdir(parents=True)
    (workdir / "script.sql").write_text(script)
    return logs


async def run(
    dsn: str,
    script: str,
    clients: int,
    workdir: Path,
    *,
    seconds: int | None = None,
    transactions: int | None = None,
    skip: int = 0,
    watch: dict[str, int],
) -> PgbenchResult:
    """pgbench -f script, for `seconds` or `transactions` per client; latencies from its
    per-transaction log (the first `skip` transactions of each client left out)."""
    logs = _prepare(workdir, script)
    limit = ["-T", f"{seconds:g}"] if seconds is not None else ["-t", str(transactions)]
    args = [
        *("-n", "-M", "prepared", "-c", str(clients), "-j", str(1 if clients == 1 else 2)),
        *limit,
        *("-D", "i=0", "--random-seed=1", "-f", str(workdir / "script.sql")),
        *("--log", f"--log-prefix={logs / 'tx'}", dsn),
    ]
    proc = await asyncio.create_subprocess_exec(
        "pgbench", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with CpuMeter({"pgbench": proc.pid, **watch}) as meter:
        out, err = await proc.communicate()
    text = out.decode()
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}): {err.decode()[-2000:]}")
    rows = _log_lines(logs)
    per_client: dict[str, int] = {}
    for row in rows:
        per_client[row[0]] = per_client.get(row[0], 0) + 1
    latencies = sorted(
        int(row[2]) / 1000 for row in rows if row[2].isdigit() and int(row[1]) >= skip
    )
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return PgbenchResult(
        tps=_number(r"tps = ([\d.]+) \(without initial connection time\)", text),
        transactions=int(_number(r"number of transactions actually processed: (\d+)", text)),
        failed=int(_number(r"number of failed transactions: (\d+)", text)),
        p50_ms=cuts[49],
        p99_ms=cuts[98],
        most_by_one_client=max(per_client.values(), default=0),
        latencies_ms=latencies,
        cpu=meter.shares(),
    )
