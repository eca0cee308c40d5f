"""The event log and the projections checked against what the clients sent and got back.

    found = await check_log(dsn, account, journal)

Each request is tied to its events by the Idempotency-Key in their metadata. Checked:
every event was caused by a request that was sent; every request wrote all its events or
none; every acknowledged export (200) is in the log, with the outcome it reported; no record
is exported twice, and nothing follows an export; each record and the integrations, folded
from the log, equal their projection rows. `verify_when_available` runs `python -m service
verify` once that command exists (it is being built apart).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

from domain.records import RecordState
from eventstore.pool import connect
from eventstore.store import read_stream
from projections.integrations import list_integrations, load_integrations
from projections.records import fold_records
from tests.journal import Journal, Sent

EXPORTS = ("ExportSucceeded", "ExportFailed")


@dataclass(frozen=True)
class Found:
    acknowledged: int  # exports answered 200
    found: int  # of those, fully in the log with the outcomes reported
    in_doubt_committed: int  # requests that never got an answer, yet are in the log
    events: int


async def check_log(dsn: str, account: str, journal: Journal) -> Found:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT position, stream_id, version, type, metadata FROM events"
            " WHERE account_id = $1 ORDER BY position",
            account,
        )
        errors = [(s.key, s.statuses) for s in journal.sent.values() if 500 in s.statuses]
        assert not errors, f"requests answered 500: {errors}"
        caused: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            key = row["metadata"].get("idempotency_key")
            assert key in journal.sent, f"event {row['position']} was caused by no request sent"
            caused[key].append(row)
        found = sum(
            _check_request(sent, caused.get(sent.key, [])) for sent in journal.sent.values()
        )
        _check_exported_once(rows)
        await _check_projections(conn, account, {row["stream_id"] for row in rows})
    finally:
        await conn.close()
    in_doubt = sum(1 for s in journal.sent.values() if s.tries > 1 and s.key in caused)
    return Found(len(journal.acknowledged_exports()), found, in_doubt, len(rows))


def _check_request(sent: Sent, events: list[asyncpg.Record]) -> int:
    """1 when `sent` is an acknowledged export found in full in the log."""
    if not sent.is_export:
        streams = {row["stream_id"] for row in events}
        assert len(streams) <= 1, f"{sent.key} wrote to several streams: {streams}"
        return 0
    written = {row["stream_id"]: row["type"] for row in events}
    assert len(written) == len(events), f"{sent.key} wrote one record twice"
    assert written in ({}, sent.outcomes), f"{sent.key} was written by halves: {written}"
    if sent.status == 200:
        assert written == sent.outcomes, f"acknowledged export {sent.key} is not in the log"
        return 1
    if sent.status not in (None, 503):  # 503: the database went away, maybe after commit
        assert not written, f"refused export {sent.key} ({sent.status}) wrote events"
    return 0


def _check_exported_once(rows: list[asyncpg.Record]) -> None:
    streams: dict[str, list[str]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["stream_id"], r["version"])):
        streams[row["stream_id"]].append(row["type"])
    for stream, kinds in streams.items():
        if "ExportSucceeded" in kinds:
            assert kinds.count("ExportSucceeded") == 1, f"{stream} exported twice"
            assert kinds[-1] == "ExportSucceeded", f"{stream} changed after its export"


async def _check_projections(conn: Any, account: str, streams: set[str]) -> None:
    rows = await conn.fetch(
        "SELECT record_id, version, review_status, state FROM record_state WHERE account_id = $1",
        account,
    )
    projected = {row["record_id"]: row for row in rows}
    records = streams - {"integrations"}
    assert set(projected) == records, "record_state and the log name different records"
    for record_id in records:
        folded = fold_records(await read_stream(conn, account, record_id))
        row = projected[record_id]
        assert folded == RecordState.model_validate(row["state"]), f"{record_id}: fold != row"
        assert (row["version"], row["review_status"]) == (folded.version, folded.review_status)
    if "integrations" in streams:
        folded_items = sorted(
            (await load_integrations(conn, account)).items, key=lambda i: i.integration_id
        )
        table = sorted(await list_integrations(conn, account), key=lambda i: i.integration_id)
        assert folded_items == table, "integrations: fold != table"


def verify_when_available(env: dict[str, str]) -> bool:
    """Hook for `python -m service verify` (CONTRACT §6.2, built on another branch): once the
    command exists it must pass on the same data too. False while it does not exist."""
    run = [sys.executable, "-m", "service", "verify"]
    environment = os.environ | env
    asked = subprocess.run([*run, "--help"], env=environment, capture_output=True, timeout=60)
    if asked.returncode != 0:
        return False
    done = subprocess.run(run, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"verify failed:\n{done.stdout}\n{done.stderr}"
    return True
