"""A worked example of schema evolution: ExportFailed moved to schema version 2 (`error`
became an object with a message and a code). Events stored as version 1 are never
rewritten: they are upcast on every read, so they still fold, still verify (their hash
covers the bytes as stored) and still show as stored in the history."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from domain.records import ExportError, ExportFailed, RecordChange
from eventstore.pool import connect
from eventstore.store import append, read_stream
from eventstore.types import NewEvent, StreamWrite
from projections.codecs import RECORDS
from projections.records import load_record, project_records
from service.api.app import create_app
from tests.api import create_integration, fail, ready_records
from tests.conftest import make_token, settings_for
from tests.test_cli import run_cli

ACCOUNT = "acct_evolution"
FAILURE = {"error_message": "Vendor unknown", "error_code": "VENDOR_UNKNOWN"}
V1 = {
    "integration_id": "int_old",
    "vendor": "ERP_A",
    "vendor_account_id": "ledger-1",
    "error_message": "GL account 6099 is closed",
}


def test_the_upcaster_reads_version_1_as_version_2() -> None:
    event = RECORDS.decode_data("ExportFailed", 1, dict(V1))
    assert event == ExportFailed(
        integration_id="int_old",
        vendor="ERP_A",
        vendor_account_id="ledger-1",
        error=ExportError(message="GL account 6099 is closed", code=None),
    )
    assert RECORDS.encode(event).schema_version == 2


async def write_a_version_1_failure(dsn: str, record_id: str) -> None:
    """What the version that stored ExportFailed as 1 wrote: the event and its projection."""
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            before = await load_record(conn, ACCOUNT, record_id)
            assert before is not None
            old = NewEvent(
                "ExportFailed",
                dict(V1),
                schema_version=1,
                metadata={"client_id": "old", "request_id": "r"},
            )
            recorded = await append(conn, [StreamWrite(ACCOUNT, record_id, before.version, [old])])
            change = RecordChange(record_id, before, [RECORDS.decode(recorded[0])])
            await project_records(conn, ACCOUNT, [change], recorded[0].recorded_at)
    finally:
        await conn.close()


async def test_version_1_events_still_fold_verify_and_show_as_stored(fresh_dsn: str) -> None:
    auth = {"Authorization": f"Bearer {make_token(ACCOUNT)}"}
    async with TestClient(TestServer(create_app(settings_for(fresh_dsn)))) as client:
        await create_integration(client, auth)
        old_id, new_id = await ready_records(client, auth, 2)
        await write_a_version_1_failure(fresh_dsn, old_id)
        resp = await client.post(
            "/v3/accounting/records/export-results",
            json={
                "results": [
                    {
                        **fail(new_id, "Vendor unknown"),
                        "failure": {
                            "error_message": "Vendor unknown",
                            "error_code": "VENDOR_UNKNOWN",
                        },
                    }
                ]
            },
            headers=auth,
        )
        assert resp.status == 200, await resp.text()
        old: Any = await (await client.get(f"/v3/accounting/records/{old_id}", headers=auth)).json()
        new: Any = await (await client.get(f"/v3/accounting/records/{new_id}", headers=auth)).json()
        history = await client.get(f"/v3/accounting/records/{old_id}/history", headers=auth)
        stored = (await history.json())["items"][-1]

    assert (old["review_status"], old["export"]["error_message"]) == (
        "REVIEW",
        "GL account 6099 is closed",
    )
    assert old["export"]["error_code"] is None
    assert (new["export"]["error_message"], new["export"]["error_code"]) == (
        "Vendor unknown",
        "VENDOR_UNKNOWN",
    )
    assert (stored["schema_version"], stored["data"]) == (1, V1)  # as stored, not upcast

    conn = await connect(fresh_dsn)
    try:
        (latest,) = [
            e for e in await read_stream(conn, ACCOUNT, new_id) if e.type == "ExportFailed"
        ]
    finally:
        await conn.close()
    assert latest.schema_version == 2
    assert latest.data["error"] == {"message": "Vendor unknown", "code": "VENDOR_UNKNOWN"}

    done = run_cli("verify", dsn=fresh_dsn)  # the v1 row's hash covers its stored bytes
    assert done.returncode == 0, done.stdout + done.stderr
