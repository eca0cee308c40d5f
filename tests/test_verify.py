"""`verify` and `audit-export` as an auditor runs them, on a log made through the API: an
intact log verifies; each tampering (done as superuser, with the append-only trigger off)
is caught and named; the standalone verifier accepts the real bundle and refuses each
tampering of it, and a forged signature."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from projections.analytics.projection import analytics_projector
from projections.audit.sealer import Sealer
from projections.catchup import catch_up
from service.api.app import create_app
from service.api.keys import POOL
from service.workers import signer_for
from tests.api import create_integration, export, fail, ok, put_record, ready_records
from tests.conftest import _recreate, make_token, settings_for
from tests.test_cli import run_cli

ACCOUNT = "acct_audited"
OTHER = "acct_bystander"


async def _populate(dsn: str) -> None:
    """Records, exports and integrations of two accounts, sealed, with a last record
    created after the others (the tail a truncation removes)."""
    app = create_app(settings_for(dsn))
    async with TestClient(TestServer(app)) as client:
        for account in (ACCOUNT, OTHER):
            auth = {"Authorization": f"Bearer {make_token(account)}"}
            await create_integration(client, auth)
            ids = await ready_records(client, auth, 4)
            await export(client, auth, [ok(ids[0]), fail(ids[1])])
            await put_record(client, auth, memo="revised", record_id=ids[1])
        signer = signer_for(settings_for(dsn))
        assert signer is not None
        sealer = Sealer(signer, checkpoint_events=1, checkpoint_seconds=3600)
        await catch_up(app[POOL], sealer)
        auth = {"Authorization": f"Bearer {make_token(ACCOUNT)}"}
        await put_record(client, auth, record_id="accr_the_tail")
        await catch_up(app[POOL], sealer)
        await catch_up(app[POOL], analytics_projector())


@pytest.fixture(scope="module")
async def audited(server_dsn: str, template_dsn: str) -> str:
    """A populated database, the template of every test's copy."""
    name = "audited_" + uuid.uuid4().hex[:8]
    dsn = await _recreate(server_dsn, name, "accounting_template")
    await _populate(dsn)
    return name


@pytest.fixture
async def copy(server_dsn: str, audited: str) -> str:
    return await _recreate(server_dsn, "v_" + uuid.uuid4().hex[:10], audited)


async def tamper(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")  # triggers off
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def verify(dsn: str, *args: str) -> tuple[int, str]:
    done = run_cli("verify", *args, dsn=dsn)
    return done.returncode, done.stdout


async def test_an_intact_log_verifies(copy: str) -> None:
    code, out = verify(copy)
    assert (code, out.strip().splitlines()[-1]) == (0, "0 mismatches"), out


EDITS: dict[str, tuple[str, str]] = {
    "an event's data": (
        f"UPDATE events SET data = jsonb_set(data, '{{error,message}}', '\"fine\"')"
        f" WHERE account_id = '{ACCOUNT}' AND type = 'ExportFailed'",
        "the stored bytes do not hash to the stored hash",
    ),
    "a deleted event": (
        f"DELETE FROM events WHERE account_id = '{ACCOUNT}' AND type = 'ReviewStatusChanged'"
        " AND position = (SELECT min(position) FROM events WHERE type = 'ReviewStatusChanged'"
        f" AND account_id = '{ACCOUNT}')",
        "version 2 is missing",
    ),
    "two swapped events": (
        # Two rows trade everything but their place in the log: every chain still holds,
        # but the account's history was reordered.
        f"""CREATE TEMP TABLE pair AS
              SELECT * FROM events WHERE account_id = '{ACCOUNT}' AND position IN (
                  (SELECT min(position) FROM events WHERE account_id = '{ACCOUNT}'
                     AND stream_id <> 'integrations'),
                  (SELECT max(position) FROM events WHERE account_id = '{ACCOUNT}'
                     AND stream_id <> 'integrations' AND stream_id <> 'accr_the_tail'));
            UPDATE events SET stream_id = stream_id || '~', event_id = gen_random_uuid()
              WHERE position IN (SELECT position FROM pair);
            UPDATE events e SET (stream_id, version, type, schema_version, data, metadata,
                                 recorded_at, prev_hash, hash, event_id)
                = (o.stream_id, o.version, o.type, o.schema_version, o.data, o.metadata,
                   o.recorded_at, o.prev_hash, o.hash, o.event_id)
              FROM pair o
              WHERE e.position IN (SELECT position FROM pair) AND o.position <> e.position""",
        "its root is not the log's: history changed",
    ),
    "an edited analytics row": (
        f"UPDATE analytics.export_attempts SET outcome = 'EXPORTED'"
        f" WHERE account_id = '{ACCOUNT}' AND outcome = 'FAILED'",
        "export_attempts",
    ),
    "a record count": (
        f"INSERT INTO record_count_changes VALUES ('{ACCOUNT}', 'EXPORTED', 'CARD', 5)",
        "record_counts EXPORTED/CARD",
    ),
    "an edited projection row": (
        f"UPDATE record_state SET state = jsonb_set(state, '{{review_status}}', '\"REVIEW\"'),"
        f" review_status = 'REVIEW' WHERE account_id = '{ACCOUNT}'"
        " AND review_status = 'EXPORTED'",
        "differs from its events in review_status",
    ),
}


@pytest.mark.parametrize("case", sorted(EDITS))
async def test_verify_names_each_tampering(copy: str, case: str) -> None:
    sql, named = EDITS[case]
    await tamper(copy, sql)
    code, out = verify(copy)
    assert code == 1, out
    assert named in out, out
    assert all(ACCOUNT in line for line in out.splitlines()[:-1]), out


def _truncate_the_tail() -> list[str]:
    """Remove the last record's events, and every trace of them in the tree and projection:
    a log rewritten to be consistent in itself."""
    tail = (
        f"SELECT position FROM events WHERE account_id = '{ACCOUNT}'"
        " AND stream_id = 'accr_the_tail'"
    )
    cut = f"(SELECT min(leaf_index) FROM audit_leaves WHERE position IN ({tail}))"
    return [
        f"CREATE TEMP TABLE cut AS SELECT {cut} AS size",
        f"DELETE FROM events WHERE position IN ({tail})",
        "DELETE FROM record_state WHERE record_id = 'accr_the_tail'",
        *(
            f"DELETE FROM analytics.{table} WHERE record_id = 'accr_the_tail'"
            for table in ("records", "record_line_items", "record_lifecycle")
        ),
        f"DELETE FROM audit_leaves WHERE account_id = '{ACCOUNT}'"
        " AND leaf_index >= (SELECT size FROM cut)",
        f"DELETE FROM audit_nodes WHERE account_id = '{ACCOUNT}'"
        " AND (node_index + 1) * (1::bigint << level) > (SELECT size FROM cut)",
        f"DELETE FROM audit_checkpoints WHERE account_id = '{ACCOUNT}'"
        " AND tree_size > (SELECT size FROM cut)",
        f"UPDATE audit_trees SET size = (SELECT size FROM cut) WHERE account_id = '{ACCOUNT}'",
        "DELETE FROM record_count_changes",
        "DELETE FROM record_counts",
        "INSERT INTO record_counts SELECT account_id, review_status, source_type, count(*)"
        " FROM record_state GROUP BY 1, 2, 3",
    ]


async def latest_note(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(
            await conn.fetchval(
                "SELECT note FROM audit_checkpoints WHERE account_id = $1"
                " ORDER BY tree_size DESC LIMIT 1",
                ACCOUNT,
            )
        )
    finally:
        await conn.close()


async def test_a_truncated_tail_is_caught_against_a_saved_checkpoint(
    copy: str, tmp_path: Path
) -> None:
    saved = tmp_path / "checkpoint.note"
    saved.write_text(await latest_note(copy))
    await tamper(copy, *_truncate_the_tail())
    code, out = verify(copy)
    assert code == 0, "the rewrite is consistent in itself: " + out
    code, out = verify(copy, "--trusted-checkpoint", str(saved))
    assert code == 1
    assert f"{ACCOUNT} saved checkpoint" in out and "the log was truncated" in out, out


# --- the standalone verifier, on a real bundle ----------------------------------------


def export_bundle(dsn: str, out: Path) -> Path:
    done = run_cli("audit-export", "--account", ACCOUNT, "--out", str(out), dsn=dsn)
    assert done.returncode == 0, done.stderr
    return out


def standalone(bundle: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(bundle / "verify_bundle.py"), str(bundle), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=bundle,
    )
    return done.returncode, done.stdout + done.stderr


def rewrite(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(line + "\n" for line in change(path.read_text().splitlines())))


def _edit_data(lines: list[str]) -> list[str]:
    first = json.loads(lines[1])
    first["data"]["tampered"] = True
    return [lines[0], json.dumps(first), *lines[2:]]


def _swap(lines: list[str]) -> list[str]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def _forge(lines: list[str]) -> list[str]:
    last = json.loads(lines[-1])
    signature = last["note"].rstrip("\n").rsplit(" ", 1)[1]
    forged = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    last["note"] = last["note"].replace(signature, forged)
    return [*lines[:-1], json.dumps(last)]


TAMPERINGS: dict[str, tuple[str, Callable[[list[str]], list[str]], str]] = {
    "edited data": ("events.jsonl", _edit_data, "leaf 1"),
    "deleted event": ("events.jsonl", lambda lines: [lines[0], *lines[2:]], "leaf"),
    "swapped events": ("events.jsonl", _swap, "leaf 1"),
    "forged signature": ("checkpoints.jsonl", _forge, "signature"),
}


async def test_the_standalone_verifier_checks_a_real_bundle(copy: str, tmp_path: Path) -> None:
    bundle = export_bundle(copy, tmp_path / "bundle")
    code, out = standalone(bundle)
    assert code == 0, out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["account_id"] == ACCOUNT and manifest["events"] > 10


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
async def test_the_standalone_verifier_refuses_a_tampered_bundle(
    copy: str, tmp_path: Path, case: str
) -> None:
    name, change, named = TAMPERINGS[case]
    bundle = export_bundle(copy, tmp_path / "bundle")
    rewrite(bundle / name, change)
    code, out = standalone(bundle)
    assert code == 1, out
    assert named in out, out


async def test_the_standalone_verifier_catches_a_truncation_against_a_saved_checkpoint(
    copy: str, tmp_path: Path
) -> None:
    saved = tmp_path / "checkpoint.note"
    saved.write_text(await latest_note(copy))
    await tamper(copy, *_truncate_the_tail())
    bundle = export_bundle(copy, tmp_path / "bundle")
    assert standalone(bundle)[0] == 0  # consistent in itself
    code, out = standalone(bundle, "--trusted-checkpoint", str(saved))
    assert code == 1
    assert "truncated" in out, out
