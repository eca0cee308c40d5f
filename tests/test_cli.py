"""`python -m service ...` commands, run as a user would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import jwt

from projections.audit.signer import load_or_create_key
from tests.conftest import AUDIENCE, SECRET, SIGNING_KEY
from tests.factories import record_body


def run_cli(
    *args: str, dsn: str | None = None, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    load_or_create_key(SIGNING_KEY)  # a test run alone may not have made it yet
    env = os.environ | {
        "JWT_SECRET": SECRET,
        "JWT_AUDIENCE": AUDIENCE,
        "AUDIT_SIGNING_KEY_FILE": str(SIGNING_KEY),
    }
    if dsn:
        env["DATABASE_URL"] = dsn
    if data_dir:
        env["DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_token_command_prints_a_token_the_service_accepts() -> None:
    done = run_cli(
        "token",
        "--account",
        "acct_t",
        "--scope",
        "accounting.record.read",
        "--client",
        "erp-1",
        "--ttl",
        "120",
    )
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert (claims["account_id"], claims["scope"], claims["sub"]) == (
        "acct_t",
        "accounting.record.read",
        "erp-1",
    )
    assert claims["exp"] - claims["iat"] == 120


async def test_import_leaves_the_planner_statistics_of_what_it_loaded(
    fresh_dsn: str, tmp_path: Path
) -> None:
    # A table loaded from empty has no statistics (reltuples -1) until it is analysed;
    # pages read before autovacuum's next round would be planned blind.
    source = tmp_path / "records.jsonl"
    lines = [json.dumps({"id": f"accr_st{i}", **record_body()}) for i in range(50)]
    source.write_text("\n".join(lines) + "\n")
    conn = await asyncpg.connect(fresh_dsn)
    try:
        tuples = "SELECT reltuples FROM pg_class WHERE relname = 'record_state'"
        assert await conn.fetchval(tuples) == -1
        done = run_cli("import", str(source), "--account", "acct_stats", dsn=fresh_dsn)
        assert done.returncode == 0, done.stderr
        assert await conn.fetchval(tuples) == 50
    finally:
        await conn.close()


async def test_import_keeps_good_lines_and_reports_bad_ones(
    shared_dsn: str, tmp_path: Path, account: str
) -> None:
    good = [{"id": f"accr_imp{i}", **record_body()} for i in range(5)]
    lines = [
        json.dumps(good[0]),
        "{broken json",
        json.dumps(good[1]),
        json.dumps({"id": "accr_bad_type", **record_body(type="NOPE")}),
        json.dumps({**record_body()}),  # no id
        "",
        json.dumps(good[2]),
        json.dumps(good[3]),
        json.dumps(good[4]),
        json.dumps({**good[4], "memo": "revised in the same file"}),
        json.dumps({"id": "accr_nul", **record_body(memo="lunch\x00")}),
        json.dumps({"id": "accr_exported", **record_body(review_status="EXPORTED")}),
    ]
    source = tmp_path / "records.jsonl"
    source.write_text("\n".join(lines) + "\n")
    done = run_cli("import", str(source), "--account", account, "--batch-size", "3", dsn=shared_dsn)
    assert done.returncode == 1, done.stderr
    assert "line 2: not JSON" in done.stderr
    assert "line 4: type:" in done.stderr
    assert "line 5: id:" in done.stderr
    assert "line 11: memo: contains the NUL character" in done.stderr
    assert "line 12: review_status:" in done.stderr
    assert "created 5, revised 1, unchanged 0, rejected 5" in done.stdout
    conn = await asyncpg.connect(shared_dsn)
    try:
        rows = await conn.fetch(
            "SELECT record_id, version FROM record_state WHERE account_id = $1 ORDER BY record_id",
            account,
        )
        assert [(r["record_id"], r["version"]) for r in rows] == [
            (f"accr_imp{i}", 2 if i == 4 else 1) for i in range(5)
        ]
        metadata = await conn.fetchval(
            "SELECT metadata FROM events WHERE account_id = $1 LIMIT 1", account
        )
        assert json.loads(metadata)["client_id"] == "cli:import"
    finally:
        await conn.close()
    again = run_cli("import", str(source), "--account", account, dsn=shared_dsn)
    # The file walks the last record from its first body to its revised one again.
    assert "created 0, revised 2, unchanged 4, rejected 5" in again.stdout


async def test_seed_demo_fills_every_status_and_type_once(shared_dsn: str, account: str) -> None:
    done = run_cli("seed", "--demo", "--account", account, "--count", "200", dsn=shared_dsn)
    assert done.returncode == 0, done.stderr
    conn = await asyncpg.connect(shared_dsn)
    try:
        statuses = {
            r["review_status"]
            for r in await conn.fetch(
                "SELECT DISTINCT review_status FROM record_state WHERE account_id = $1", account
            )
        }
        assert statuses == {"PREPARE", "REVIEW", "READY_FOR_EXPORT", "EXPORTED"}
        types = await conn.fetchval(
            "SELECT count(DISTINCT type) FROM record_state WHERE account_id = $1", account
        )
        assert types >= 15
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM integrations WHERE account_id = $1 AND status = 'ACTIVE'",
                account,
            )
            == 1
        )
        events = await conn.fetchval("SELECT count(*) FROM events WHERE account_id = $1", account)
    finally:
        await conn.close()
    again = run_cli("seed", "--demo", "--account", account, dsn=shared_dsn)
    assert "already has data" in again.stderr
    conn = await asyncpg.connect(shared_dsn)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM events WHERE account_id = $1", account)
            == events
        )
    finally:
        await conn.close()
