"""A database made by the migrations of the single-folder layout (kept verbatim in
tests/legacy_schema), holding data written the way that version wrote it, migrates
forward without loss and keeps working: reads, writes and idempotent replays."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from domain.integrations import IntegrationCreated
from domain.records import RecordCreated, RecordState
from domain.values import RecordContent, ReviewStatus
from eventstore.pool import connect, dumps, loads
from eventstore.store import read_stream
from service.api.app import create_app
from service.database import migrate_schema
from tests.conftest import make_token, settings_for
from tests.factories import record_body
from tests.test_hash_chain import assert_chained

LEGACY = Path(__file__).parent / "legacy_schema"
AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
ACCOUNT = "acct_legacy"
RECORD = "accr_legacy0001"
INTEGRATION = "int_legacy00001"
STORED_ANSWER = {"updated_accounting_record_ids": ["accr_legacy0000"]}


async def legacy_database(conn: asyncpg.Connection) -> None:
    """The old migrations with the old ledger, then data as the old code wrote it."""
    await conn.execute(
        "CREATE TABLE schema_migrations (number integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for number, sql in enumerate(sorted(LEGACY.glob("*.sql")), start=1):
        await conn.execute(sql.read_text())
        await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", number, sql.stem)
    meta = {"client_id": "old-client", "request_id": "old-request"}
    content = RecordContent.model_validate(loads(dumps(record_body())))
    created = RecordCreated(
        record_id=RECORD, content=content, review_status=ReviewStatus.READY_FOR_EXPORT
    )
    integration = IntegrationCreated(
        integration_id=INTEGRATION, vendor="ERP_A", vendor_account_id="ledger-1"
    )
    for stream, event in (("integrations", integration), (RECORD, created)):
        await conn.execute(
            "INSERT INTO events (event_id, account_id, stream_id, version, type, data, metadata,"
            " recorded_at) VALUES ($1, $2, $3, 1, $4, $5, $6, $7)",
            uuid.uuid4(),
            ACCOUNT,
            stream,
            type(event).__name__,
            event.model_dump(mode="python"),
            meta,
            AT,
        )
    await conn.execute(
        "INSERT INTO integrations VALUES ($1, $2, 'ERP_A', 'ledger-1', 'ACTIVE', $3, $3)",
        ACCOUNT,
        INTEGRATION,
        AT,
    )
    state = RecordState(
        id=RECORD,
        content=content,
        review_status=ReviewStatus.READY_FOR_EXPORT,
        version=1,
        updated_at=AT,
    )
    await conn.execute(
        "INSERT INTO record_state (account_id, record_id, version, review_status, source_type,"
        " type, updated_at, state) VALUES ($1, $2, 1, 'READY_FOR_EXPORT', 'CARD',"
        " 'CARD_EXPENSE_POST', $3, $4)",
        ACCOUNT,
        RECORD,
        AT,
        state.model_dump(mode="python"),
    )
    await conn.execute(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, body)"
        " VALUES ($1, 'legacy-key', 'an-old-fingerprint', 200, $2)",
        ACCOUNT,
        STORED_ANSWER,
    )


async def test_a_legacy_database_migrates_forward_and_keeps_working(
    empty_dsn: str, aiohttp_client: Callable[..., Any]
) -> None:
    conn = await connect(empty_dsn)
    try:
        await legacy_database(conn)
        applied = await migrate_schema(conn)
        assert "eventstore/001_events" in applied and "service.commands/001_idempotency" in applied
        assert await migrate_schema(conn) == []
        ledger = {
            (r["component"], r["name"])
            for r in await conn.fetch("SELECT component, name FROM schema_migrations")
        }
        assert ("legacy", "003_snapshot_paging") in ledger
        assert await conn.fetchval("SELECT count(*) FROM events") == 2
        for stream in ("integrations", RECORD):  # the old events got their chain, once
            assert_chained(await read_stream(conn, ACCOUNT, stream))
    finally:
        await conn.close()

    client: TestClient = await aiohttp_client(create_app(settings_for(empty_dsn)))  # type: ignore[type-arg]
    auth = {"Authorization": f"Bearer {make_token(ACCOUNT)}"}

    record = await client.get(f"/v3/accounting/records/{RECORD}", headers=auth)
    assert record.status == 200
    body = await record.json()
    assert (body["review_status"], body["version"], body["memo"]) == (
        "READY_FOR_EXPORT",
        1,
        "Business lunch",
    )
    listed = await client.get("/v3/accounting/integration", headers=auth)
    assert [i["integration_id"] for i in (await listed.json())["items"]] == [INTEGRATION]

    replay = await client.post(
        "/v3/accounting/records/export-results",
        json={"results": [{"accounting_record_id": "accr_anything", "success": {}}]},
        headers=auth | {"Idempotency-Key": "legacy-key"},
    )
    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await replay.json() == STORED_ANSWER

    exported = await client.post(
        "/v3/accounting/records/export-results",
        json={"results": [{"accounting_record_id": RECORD, "success": {"reference_id": "r"}}]},
        headers=auth | {"Idempotency-Key": "new-key"},
    )
    assert (exported.status, await exported.json()) == (
        200,
        {"updated_accounting_record_ids": [RECORD]},
    )
    after = await (await client.get(f"/v3/accounting/records/{RECORD}", headers=auth)).json()
    conn = await connect(empty_dsn)
    try:  # the new event chains onto the backfilled one
        assert_chained(await read_stream(conn, ACCOUNT, RECORD))
    finally:
        await conn.close()
    assert (after["review_status"], after["version"]) == ("EXPORTED", 2)
    then = await client.get(
        f"/v3/accounting/records/{RECORD}",
        params={"as_of": "2026-11-01T10:00:00Z"},
        headers=auth,
    )
    assert (await then.json())["review_status"] == "READY_FOR_EXPORT"
