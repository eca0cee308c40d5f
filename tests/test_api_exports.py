"""CONTRACT §4.1: export-results, the core, through the HTTP app."""

from __future__ import annotations

import asyncio
from typing import Any

from domain.records import RecordState
from eventstore.pool import create_pool
from eventstore.store import read_stream
from projections.records import fold_records
from service.api.bodies import ExportResultsBody
from service.api.keys import POOL
from service.commands.caller import Caller
from service.commands.runner import run_command
from tests.api import (
    Client,
    count_events,
    create_integration,
    events_of,
    export,
    fail,
    ok,
    put_record,
    ready_records,
    set_status,
)
from tests.conftest import make_token


async def get(client: Client, auth: dict[str, str], record_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v3/accounting/records/{record_id}", headers=auth)
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_success_exports_and_failure_returns_to_review(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await create_integration(client, auth)
    good, bad = await ready_records(client, auth, 2)
    before = await get(client, auth, good)
    status, body = await export(
        client,
        auth,
        [
            fail(bad, "GL 6000 closed"),
            {
                "accounting_record_id": good,
                "success": {"reference_id": "R-9", "deep_link_url": "https://erp.example/9"},
            },
        ],
    )
    assert status == 200
    assert body == {"updated_accounting_record_ids": [bad, good]}
    exported = await get(client, auth, good)
    assert exported["review_status"] == "EXPORTED"
    assert exported["version"] == before["version"] + 1
    assert exported["updated_at"] > before["updated_at"]
    assert exported["export"]["status"] == "EXPORTED"
    assert exported["export"]["reference_id"] == "R-9"
    assert exported["export"]["deep_link_url"] == "https://erp.example/9"
    assert exported["export"]["integration_id"] == integration["integration_id"]
    failed = await get(client, auth, bad)
    assert failed["review_status"] == "REVIEW"
    assert failed["export"]["status"] == "FAILED"
    assert failed["export"]["error_message"] == "GL 6000 closed"


async def test_events_carry_integration_and_caller_metadata(
    client: Client, auth: dict[str, str], account: str
) -> None:
    integration = await create_integration(client, auth, "ERP_A", "ledger-7")
    (rid,) = await ready_records(client, auth, 1)
    resp = await client.post(
        "/v3/accounting/records/export-results",
        json={"results": [ok(rid, "R-1")]},
        headers=auth | {"Idempotency-Key": "key-meta", "X-Request-Id": "req-meta-1"},
    )
    assert resp.status == 200
    last = (await events_of(client, account, rid))[-1]
    assert last["type"] == "ExportSucceeded"
    assert last["data"] == {
        "integration_id": integration["integration_id"],
        "vendor": "ERP_A",
        "vendor_account_id": "ledger-7",
        "reference_id": "R-1",
        "deep_link_url": None,
    }
    assert last["metadata"] == {
        "client_id": "test-client",
        "request_id": "req-meta-1",
        "idempotency_key": "key-meta",
    }


async def test_body_shape_errors_are_400(client: Client, auth: dict[str, str]) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    cases: list[Any] = [
        {"results": []},
        {"results": [{"accounting_record_id": rid}]},
        {
            "results": [
                {"accounting_record_id": rid, "success": {}, "failure": {"error_message": "x"}}
            ]
        },
        {"results": [{"accounting_record_id": rid, "failure": {"error_message": ""}}]},
        {"results": [{"accounting_record_id": rid, "failure": {}}]},
        {"results": [ok(f"accr_{i}") for i in range(1001)]},
        {"results": "nope"},
        {},
        [],
    ]
    for body in cases:
        resp = await client.post("/v3/accounting/records/export-results", json=body, headers=auth)
        assert resp.status == 400, body
        payload = await resp.json()
        assert payload["error_code"] == "INVALID_REQUEST"
        assert payload["details"]["field"]
    assert (await get(client, auth, rid))["review_status"] == "READY_FOR_EXPORT"


async def test_duplicates_are_named_once_each_in_request_order(
    client: Client, auth: dict[str, str]
) -> None:
    # No integration and unknown ids too: duplicates are checked first.
    status, body = await export(
        client, auth, [ok("accr_b"), ok("accr_a"), fail("accr_b"), ok("accr_c"), ok("accr_a")]
    )
    assert status == 422
    assert body["error_code"] == "DUPLICATE_ACCOUNTING_RECORD_IDS"
    assert body["details"] == {"duplicate_accounting_record_ids": ["accr_b", "accr_a"]}


async def test_no_integration_then_disabled_integration(
    client: Client, auth: dict[str, str]
) -> None:
    status, body = await export(client, auth, [ok("accr_unknown")])
    assert status == 422
    assert body["error_code"] == "INTEGRATION_NOT_ACTIVE"
    integration = await create_integration(client, auth)
    await client.post(
        f"/v3/accounting/integration/{integration['integration_id']}/disconnect", headers=auth
    )
    status, body = await export(client, auth, [ok("accr_unknown")])
    assert status == 422
    assert body["error_code"] == "INTEGRATION_NOT_ACTIVE"
    assert body["details"] == {
        "integration_id": integration["integration_id"],
        "current_status": "DISABLED",
    }


async def test_unknown_and_foreign_ids_are_404_before_readiness(
    client: Client, auth: dict[str, str]
) -> None:
    await create_integration(client, auth)
    not_ready = (await put_record(client, auth))["id"]
    stranger = {"Authorization": f"Bearer {make_token('acct_other_' + not_ready[-6:])}"}
    foreign = (await put_record(client, stranger))["id"]
    status, body = await export(
        client, auth, [ok("accr_x1"), ok(not_ready), ok(foreign), fail("accr_x2")]
    )
    assert status == 404
    assert body["error_code"] == "NOT_FOUND"
    assert body["details"] == {"not_found_export_entry_source_ids": ["accr_x1", foreign, "accr_x2"]}
    assert "accr_x1" in body["message"] and "accr_x2" in body["message"]


async def test_not_ready_names_all_and_writes_nothing(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    ready = await ready_records(client, auth, 2)
    prepare = (await put_record(client, auth))["id"]
    exported = (await ready_records(client, auth, 1))[0]
    assert (await export(client, auth, [ok(exported)]))[0] == 200
    events_before = await count_events(client, account)
    status, body = await export(
        client, auth, [ok(ready[0]), fail(exported), ok(prepare), ok(ready[1])]
    )
    assert status == 422
    assert body["error_code"] == "ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT"
    assert body["details"] == {"not_ready_for_export_accounting_record_ids": [exported, prepare]}
    assert await count_events(client, account) == events_before
    for rid in ready:
        assert (await get(client, auth, rid))["review_status"] == "READY_FOR_EXPORT"


async def test_fifty_concurrent_identical_reports_one_wins(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    ids = await ready_records(client, auth, 3)
    results = [ok(ids[0]), fail(ids[1]), ok(ids[2])]
    outcomes = await asyncio.gather(*(export(client, auth, results) for _ in range(50)))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses.count(200) == 1
    assert statuses.count(422) == 49
    losers = [body for status, body in outcomes if status == 422]
    assert {b["error_code"] for b in losers} == {"ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT"}
    for rid in ids:
        kinds = [e["type"] for e in await events_of(client, account, rid)]
        assert kinds.count("ExportSucceeded") + kinds.count("ExportFailed") == 1


async def test_two_connectors_racing_on_one_record(client: Client, auth: dict[str, str]) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    a = {"Authorization": auth["Authorization"]}
    outcomes = await asyncio.gather(
        export(client, a, [ok(rid, "A")]), export(client, a, [fail(rid, "B")])
    )
    assert sorted(s for s, _ in outcomes) == [200, 422]


async def test_idempotent_replay_appends_nothing(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    key = {"Idempotency-Key": "export-1"}
    first = await client.post(
        "/v3/accounting/records/export-results", json={"results": [ok(rid)]}, headers=auth | key
    )
    assert first.status == 200
    assert "Idempotent-Replayed" not in first.headers
    events = await count_events(client, account)
    again = await client.post(
        "/v3/accounting/records/export-results", json={"results": [ok(rid)]}, headers=auth | key
    )
    assert again.status == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    assert await count_events(client, account) == events
    other = await client.post(
        "/v3/accounting/records/export-results", json={"results": [fail(rid)]}, headers=auth | key
    )
    assert other.status == 422
    assert (await other.json())["error_code"] == "INVALID_REQUEST"
    assert await count_events(client, account) == events


async def test_idempotency_keys_are_per_account(client: Client, auth: dict[str, str]) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    key = {"Idempotency-Key": "shared-key"}
    assert (await export(client, auth, [ok(rid)], **key))[0] == 200
    stranger = {"Authorization": f"Bearer {make_token('acct_keyowner_' + rid[-6:])}"}
    await create_integration(client, stranger)
    (theirs,) = await ready_records(client, stranger, 1)
    status, body = await export(client, stranger, [ok(theirs)], **key)
    assert (status, body) == (200, {"updated_accounting_record_ids": [theirs]})


async def test_concurrent_requests_with_one_key_run_once(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    ids = await ready_records(client, auth, 2)
    results = [ok(ids[0]), ok(ids[1])]
    outcomes = await asyncio.gather(
        *(export(client, auth, results, **{"Idempotency-Key": "burst"}) for _ in range(10))
    )
    assert {status for status, _ in outcomes} == {200}
    assert all(body == {"updated_accounting_record_ids": ids} for _, body in outcomes)
    for rid in ids:
        kinds = [e["type"] for e in await events_of(client, account, rid)]
        assert kinds.count("ExportSucceeded") == 1


async def test_a_refusal_is_replayed_for_the_same_key(client: Client, auth: dict[str, str]) -> None:
    key = {"Idempotency-Key": "refused-once"}
    first = await export(client, auth, [ok("accr_nope")], **key)
    assert first[0] == 422
    await create_integration(client, auth)
    assert await export(client, auth, [ok("accr_nope")], **key) == first


async def test_statement_count_does_not_grow_with_the_batch(
    client: Client, auth: dict[str, str], account: str, shared_dsn: str
) -> None:
    """An export is one read and one write statement, however many records it names."""
    await create_integration(client, auth)
    pool = await create_pool(shared_dsn, min_size=1, max_size=1)
    seen: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda r: seen.append(r.query))

    async def statements_for(n: int) -> int:
        ids = await ready_records(client, auth, n)
        command = ExportResultsBody.model_validate({"results": [ok(i) for i in ids]}).command()
        seen.clear()
        await run_command(pool, Caller(account, "c", "r"), command)
        await asyncio.sleep(0)  # query-logger callbacks are delivered on the next loop turn
        return len(seen)

    try:
        await statements_for(1)  # the driver learns the statements' types once
        small, large = await statements_for(2), await statements_for(40)
    finally:
        await pool.close()
    assert small == large == 2


async def test_unknown_fields_are_ignored(client: Client, auth: dict[str, str]) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    item = ok(rid) | {"exported_by": "erp-bot", "success": {"reference_id": "R", "extra": 1}}
    resp = await client.post(
        "/v3/accounting/records/export-results",
        json={"results": [item], "batch_label": "nightly"},
        headers=auth,
    )
    assert resp.status == 200
    assert (await get(client, auth, rid))["export"]["reference_id"] == "R"


async def test_the_stored_state_is_the_fold_of_the_record_after_every_kind_of_change(
    client: Client, auth: dict[str, str], account: str
) -> None:
    """Status changes and exports send only the fields beside the content, which PostgreSQL
    merges into the stored state; the row must still be exactly the record its events make."""
    await create_integration(client, auth)
    record_id = (await put_record(client, auth, memo="first"))["id"]
    pool = client.server.app[POOL]  # type: ignore[union-attr]

    async def stored_and_folded() -> tuple[RecordState, RecordState | None]:
        async with pool.acquire() as conn:
            row = await conn.fetchval(
                "SELECT state FROM record_state WHERE account_id = $1 AND record_id = $2",
                account,
                record_id,
            )
            return RecordState.model_validate(row), fold_records(
                await read_stream(conn, account, record_id)
            )

    steps = [
        lambda: set_status(client, auth, record_id, "READY_FOR_EXPORT"),
        lambda: export(client, auth, [fail(record_id, "GL 6000 closed")]),
        lambda: put_record(client, auth, record_id, memo="revised after the failure"),
        lambda: set_status(client, auth, record_id, "READY_FOR_EXPORT"),
        lambda: export(client, auth, [ok(record_id, "R-1")]),
    ]
    for version, step in enumerate(steps, start=2):
        await step()
        stored, folded = await stored_and_folded()
        assert stored == folded
        assert stored.version == version
    assert stored.content.memo == "revised after the failure"
    assert stored.export is not None and stored.export.reference_id == "R-1"
