from __future__ import annotations

from tests.api import Client, create_integration, export, ok, put_record, set_status


async def test_happy_path(client: Client, auth: dict[str, str]) -> None:
    integration = await create_integration(client, auth)
    record = await put_record(client, auth)
    await set_status(client, auth, record["id"], "READY_FOR_EXPORT")
    status, body = await export(client, auth, [ok(record["id"])])
    assert status == 200, body
    resp = await client.get(f"/v3/accounting/records/{record['id']}", headers=auth)
    got = await resp.json()
    assert got["review_status"] == "EXPORTED"
    assert got["export"]["integration_id"] == integration["integration_id"]
    assert got["version"] == 3
