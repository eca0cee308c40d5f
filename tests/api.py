"""Small helpers for API tests: make records, integrations and tokens."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from service.api.keys import POOL
from tests.factories import new_record_id, record_body

Client = TestClient  # type: ignore[type-arg]


async def create_integration(
    client: Client, auth: dict[str, str], vendor: str = "ERP_A", account: str = "ledger-1"
) -> dict[str, Any]:
    resp = await client.post(
        "/v3/accounting/integration",
        json={"vendor": vendor, "vendor_account_id": account},
        headers=auth,
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def put_record(
    client: Client, auth: dict[str, str], record_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    record_id = record_id or new_record_id()
    resp = await client.put(
        f"/internal/accounting/records/{record_id}", json=record_body(**overrides), headers=auth
    )
    assert resp.status in (200, 201), await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def set_status(client: Client, auth: dict[str, str], record_id: str, status: str) -> None:
    resp = await client.post(
        f"/internal/accounting/records/{record_id}/review-status",
        json={"review_status": status},
        headers=auth,
    )
    assert resp.status == 200, await resp.text()


async def ready_records(client: Client, auth: dict[str, str], n: int) -> list[str]:
    ids = []
    for _ in range(n):
        record = await put_record(client, auth)
        await set_status(client, auth, record["id"], "READY_FOR_EXPORT")
        ids.append(record["id"])
    return ids


async def export(
    client: Client, auth: dict[str, str], results: list[dict[str, Any]], **headers: str
) -> tuple[int, Any]:
    resp = await client.post(
        "/v3/accounting/records/export-results",
        json={"results": results},
        headers=auth | headers,
    )
    return resp.status, await resp.json()


def ok(record_id: str, reference: str | None = "ref-1") -> dict[str, Any]:
    return {"accounting_record_id": record_id, "success": {"reference_id": reference}}


def fail(record_id: str, message: str = "GL account closed") -> dict[str, Any]:
    return {"accounting_record_id": record_id, "failure": {"error_message": message}}


async def count_events(client: Client, account_id: str, stream_id: str | None = None) -> int:
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT count(*) FROM events WHERE account_id = $1"
            " AND ($2::text IS NULL OR stream_id = $2)",
            account_id,
            stream_id,
        )
    return int(value)


async def events_of(client: Client, account_id: str, stream_id: str) -> list[dict[str, Any]]:
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT type, version, data, metadata FROM events"
            " WHERE account_id = $1 AND stream_id = $2 ORDER BY version",
            account_id,
            stream_id,
        )
    return [dict(row.items()) for row in rows]
