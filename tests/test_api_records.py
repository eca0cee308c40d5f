"""CONTRACT §4 (reads) and §5 (platform writes) through the HTTP app."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from service.api.keys import POOL
from service.commands.caller import Caller
from service.ops.bulk_import import import_lines
from tests.api import Client, count_events, put_record, set_status
from tests.conftest import make_token
from tests.factories import new_record_id, record_body

RECORDS = "/v3/accounting/records"


async def query(client: Client, auth: dict[str, str], **params: Any) -> tuple[int, Any]:
    resp = await client.get(RECORDS, params=params, headers=auth)
    return resp.status, await resp.json()


async def test_get_returns_every_field(client: Client, auth: dict[str, str]) -> None:
    created = await put_record(client, auth)
    resp = await client.get(f"{RECORDS}/{created['id']}", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body == created
    expected = {
        "id",
        "amount",
        "original_amount",
        "type",
        "review_status",
        "source_id",
        "source_type",
        "erp_posting_date",
        "updated_at",
        "version",
        "receipts",
        "user",
        "vendor",
        "memo",
        "posted_at",
        "due_at",
        "invoice_number",
        "line_items",
        "export",
    }
    assert set(body) == expected
    assert body["review_status"] == "PREPARE"
    assert body["version"] == 1
    assert body["export"] is None
    assert body["line_items"][0]["accounting_field_values"][0] == {
        "brex_field_id": "ef_1",
        "remote_field_id": None,
        "brex_field_value_id": "efo_1",
        "remote_field_value_id": None,
    }


async def test_money_keeps_every_decimal_digit(client: Client, auth: dict[str, str]) -> None:
    rid = new_record_id()
    raw = record_body()
    text = '{"amount": {"amount": 12345678901234567.8901, "currency": "usd"},' + __import__(
        "json"
    ).dumps(raw)[1:].replace('"amount": {"amount": 100.5, "currency": "USD"}, ', "", 1)
    resp = await client.put(
        f"/internal/accounting/records/{rid}",
        data=text,
        headers=auth | {"Content-Type": "application/json"},
    )
    assert resp.status == 201, await resp.text()
    got = await (await client.get(f"{RECORDS}/{rid}", headers=auth)).text()
    assert '"amount":12345678901234567.8901,"currency":"USD"' in got


async def test_unknown_and_foreign_records_are_404(client: Client, auth: dict[str, str]) -> None:
    resp = await client.get(f"{RECORDS}/accr_missing", headers=auth)
    assert resp.status == 404
    assert (await resp.json())["error_code"] == "NOT_FOUND"
    mine = await put_record(client, auth)
    stranger = {"Authorization": f"Bearer {make_token('acct_peek_' + mine['id'][-6:])}"}
    resp = await client.get(f"{RECORDS}/{mine['id']}", headers=stranger)
    assert resp.status == 404
    status, page = await query(client, stranger, ids=mine["id"])
    assert (status, page["items"], page["total_count"]) == (200, [], 0)


async def test_single_entry_keeps_the_expense_side(client: Client, auth: dict[str, str]) -> None:
    expense = await put_record(client, auth)
    resp = await client.get(
        f"{RECORDS}/{expense['id']}", params={"single_entry": "true"}, headers=auth
    )
    assert [li["type"] for li in (await resp.json())["line_items"]] == ["DEBIT"]
    refund = await put_record(client, auth, type="CARD_EXPENSE_REFUND")
    resp = await client.get(
        f"{RECORDS}/{refund['id']}", params={"single_entry": "true"}, headers=auth
    )
    assert [li["type"] for li in (await resp.json())["line_items"]] == ["CREDIT"]
    resp = await client.get(
        f"{RECORDS}/{refund['id']}", params={"single_entry": "maybe"}, headers=auth
    )
    assert resp.status == 400


async def test_as_of_returns_the_record_as_it_stood(client: Client, auth: dict[str, str]) -> None:
    first = await put_record(client, auth, memo="before")
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    await asyncio.sleep(0.01)
    await put_record(client, auth, first["id"], memo="after")
    then = await (
        await client.get(f"{RECORDS}/{first['id']}", params={"as_of": middle}, headers=auth)
    ).json()
    assert then["memo"] == "before"
    assert then["version"] == 1
    now = await (await client.get(f"{RECORDS}/{first['id']}", headers=auth)).json()
    assert (now["memo"], now["version"]) == ("after", 2)
    resp = await client.get(
        f"{RECORDS}/{first['id']}", params={"as_of": "2000-01-01T00:00:00Z"}, headers=auth
    )
    assert resp.status == 404
    resp = await client.get(f"{RECORDS}/{first['id']}", params={"as_of": "yesterday"}, headers=auth)
    assert resp.status == 400


async def test_put_identical_changed_and_exported(
    client: Client, auth: dict[str, str], account: str
) -> None:
    rid = (await put_record(client, auth))["id"]
    resp = await client.put(f"/internal/accounting/records/{rid}", json=record_body(), headers=auth)
    assert resp.status == 200
    assert (await resp.json())["version"] == 1
    assert await count_events(client, account, rid) == 1
    revised = await put_record(client, auth, rid, memo="new memo")
    assert (revised["version"], revised["memo"]) == (2, "new memo")
    await set_status(client, auth, rid, "READY_FOR_EXPORT")
    await client.post(
        "/v3/accounting/integration", json={"vendor": "E", "vendor_account_id": "v"}, headers=auth
    )
    await client.post(
        f"{RECORDS}/export-results",
        json={"results": [{"accounting_record_id": rid, "success": {}}]},
        headers=auth,
    )
    resp = await client.put(
        f"/internal/accounting/records/{rid}", json=record_body(memo="late"), headers=auth
    )
    assert resp.status == 422
    assert (await resp.json())["error_code"] == "INVALID_REQUEST"


async def test_put_validation_errors_name_the_field(client: Client, auth: dict[str, str]) -> None:
    cases = [
        (record_body(type="NOT_A_TYPE"), "type"),
        (record_body(posted_at="2026-01-01T00:00:00"), "posted_at"),
        (record_body(amount={"amount": "100.5", "currency": "USD"}), "amount.amount"),
        (record_body(line_items=[{"type": "DEBIT"}]), "line_items.0.id"),
    ]
    for body, field in cases:
        resp = await client.put(
            f"/internal/accounting/records/{new_record_id()}", json=body, headers=auth
        )
        assert resp.status == 400, field
        assert (await resp.json())["details"]["field"] == field
    resp = await client.put("/internal/accounting/records/rec_1", json=record_body(), headers=auth)
    assert resp.status == 400


async def test_review_status_moves(client: Client, auth: dict[str, str]) -> None:
    rid = (await put_record(client, auth))["id"]
    path = f"/internal/accounting/records/{rid}/review-status"
    resp = await client.post(path, json={"review_status": "REVIEW"}, headers=auth)
    assert (resp.status, (await resp.json())["review_status"]) == (200, "REVIEW")
    resp = await client.post(path, json={"review_status": "EXPORTED"}, headers=auth)
    assert resp.status == 400
    resp = await client.post(path, json={"review_status": "DONE"}, headers=auth)
    assert resp.status == 400
    resp = await client.post(
        "/internal/accounting/records/accr_none/review-status",
        json={"review_status": "REVIEW"},
        headers=auth,
    )
    assert resp.status == 404


async def test_query_filters(client: Client, auth: dict[str, str]) -> None:
    card = await put_record(client, auth)
    bill = await put_record(client, auth, type="BILL_EXPENSE", source_type="BILL")
    await set_status(client, auth, card["id"], "READY_FOR_EXPORT")
    _, page = await query(client, auth, review_status="READY_FOR_EXPORT")
    assert [r["id"] for r in page["items"]] == [card["id"]]
    _, page = await query(client, auth, source_type="BILL")
    assert [r["id"] for r in page["items"]] == [bill["id"]]
    resp = await client.get(
        RECORDS, params=[("ids", card["id"]), ("ids", bill["id"])], headers=auth
    )
    assert {r["id"] for r in (await resp.json())["items"]} == {card["id"], bill["id"]}
    after_card = (await (await client.get(f"{RECORDS}/{card['id']}", headers=auth)).json())[
        "updated_at"
    ]
    _, page = await query(client, auth, **{"updated_at[gte]": after_card})
    assert [r["id"] for r in page["items"]] == [card["id"]]
    _, page = await query(client, auth, **{"updated_at[lt]": after_card})
    assert [r["id"] for r in page["items"]] == [bill["id"]]
    _, page = await query(client, auth, **{"updated_at[gt]": after_card})
    assert page["items"] == []
    _, page = await query(client, auth, **{"updated_at[lte]": after_card})
    assert page["total_count"] == 2


def forged_cursor(**overrides: Any) -> str:
    payload = {"s": "5:9:6", "n": 3, "u": "2026-01-01T00:00:00+00:00", "i": "accr_x"}
    text = json.dumps(payload | overrides).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


FORGERIES: list[dict[str, Any]] = [
    {"s": "garbage"},
    {"s": "9:5:"},  # xmin after xmax
    {"s": "5:9:7,6"},  # running transactions out of order
    {"s": "5:9:9"},  # a running transaction at xmax
    {"s": 59},
    {"n": -1},
    {"n": "3"},
    {"u": "2026-01-01T00:00:00"},  # no timezone
    {"i": "accr_\x00"},
    {"i": None},
]


async def test_query_bad_values_are_400(client: Client, auth: dict[str, str]) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"review_status": "DONE"},
        {"source_type": "CASH"},
        {"review_status": "REVIEW", "source_type": "BILL"},
        {"updated_at[gt]": "last week"},
        {"updated_at[lt]": "2026-01-01T00:00:00"},
        {"cursor": "not-a-cursor"},
        *({"cursor": forged_cursor(**forgery)} for forgery in FORGERIES),
        {"single_entry": "yes please"},
    ):
        status, body = await query(client, auth, **params)
        assert status == 400, params
        assert body["error_code"] == "INVALID_REQUEST"
    resp = await client.get(
        RECORDS, params=[("ids", f"accr_{i}") for i in range(501)], headers=auth
    )
    assert resp.status == 400
    status, _ = await query(client, auth, limit="1000")
    assert status == 200


async def test_paging_2500_records_under_concurrent_writes_yields_each_once_as_it_stood(
    client: Client, auth: dict[str, str], account: str
) -> None:
    """While a client pages, records are inserted, revised (their updated_at jumps past the
    cursor) and moved out of the filter, both behind and ahead of the cursor: every record
    that matched at the first page is seen exactly once, as it stood then."""
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    seeded = [f"accr_p{n:05d}" for n in range(2500)]
    lines = ((n, json.dumps({"id": rid, **record_body()})) for n, rid in enumerate(seeded))
    report = await import_lines(pool, Caller(account, "test", "seed"), lines)
    assert report.created == 2500
    stop = asyncio.Event()
    writes = {"inserted": 0, "revised": 0, "moved": 0}
    moved: set[str] = set()
    seen: list[str] = []

    async def revise(record_id: str) -> None:
        await put_record(client, auth, record_id, memo=f"revised {uuid.uuid4().hex}")
        writes["revised"] += 1

    async def move(record_id: str) -> None:
        await set_status(client, auth, record_id, "REVIEW")
        writes["moved"] += 1
        moved.add(record_id)

    async def keep_writing(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            await put_record(client, auth)
            writes["inserted"] += 1
            await rng.choice((revise, move))(rng.choice(seeded))

    cursor: str | None = None
    total_counts = set()
    order: list[tuple[str, str]] = []
    writers: list[asyncio.Task[None]] = []
    while True:
        params = {"limit": "100", "review_status": "PREPARE"} | (
            {"cursor": cursor} if cursor else {}
        )
        status, page = await query(client, auth, **params)
        assert status == 200
        for item in page["items"]:
            assert (item["version"], item["review_status"]) == (1, "PREPARE"), item["id"]
            assert item["memo"] == "Business lunch"
        seen.extend(r["id"] for r in page["items"])
        order.extend((r["updated_at"], r["id"]) for r in page["items"])
        total_counts.add(page["total_count"])
        if not page["has_next_page"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        if not writers:
            writers = [asyncio.create_task(keep_writing(n)) for n in range(3)]
        # Surely both sides of the cursor: one record already read, one not yet read.
        ahead = next(rid for rid in reversed(seeded) if rid not in seen)
        await revise(seen[0])
        await move(ahead)
    stop.set()
    await asyncio.gather(*writers)
    assert writes["inserted"] > 0 and writes["revised"] > 24 and writes["moved"] > 24
    assert sorted(seen) == seeded  # each exactly once, nothing inserted later
    assert total_counts == {2500}
    assert order == sorted(order)  # updated_at, then id
    _, now = await query(client, auth, review_status="PREPARE", limit="1")
    # A new paging run sees today's records.
    assert now["total_count"] == 2500 - len(moved) + writes["inserted"]
