"""Idempotency-Key retries: a retry is recognised by what it asks for, not by its bytes."""

from __future__ import annotations

import json
from typing import Any

from tests.api import (
    Client,
    count_events,
    create_integration,
    ok,
    ready_records,
)
from tests.factories import new_record_id, record_body

EXPORT = "/v3/accounting/records/export-results"


def reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


async def post_raw(
    client: Client, path: str, text: str, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], Any]:
    resp = await client.request(
        method, path, data=text, headers=headers | {"Content-Type": "application/json"}
    )
    return resp.status, dict(resp.headers), await resp.json()


async def test_a_retry_with_reordered_keys_and_other_spacing_is_replayed(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    ids = await ready_records(client, auth, 2)
    body = {"results": [ok(ids[0], "ref-A"), {**ok(ids[1]), "success": {"deep_link_url": "u"}}]}
    key = auth | {"Idempotency-Key": "reordered-1"}
    first = await post_raw(client, EXPORT, json.dumps(body, separators=(",", ":")), key)
    assert first[0] == 200
    events = await count_events(client, account)
    retry_text = json.dumps(reordered(body), indent=4)
    assert retry_text != json.dumps(body)
    again = await post_raw(client, EXPORT, retry_text, key)
    assert again[0] == 200
    assert again[1]["Idempotent-Replayed"] == "true"
    assert again[2] == first[2]
    assert await count_events(client, account) == events


async def test_a_put_retry_with_reordered_nested_keys_is_replayed(
    client: Client, auth: dict[str, str], account: str
) -> None:
    record_id, body = new_record_id(), record_body()
    path = f"/internal/accounting/records/{record_id}"
    key = auth | {"Idempotency-Key": "put-reordered"}
    first = await post_raw(client, path, json.dumps(body), key, "PUT")
    assert first[0] == 201
    again = await post_raw(client, path, json.dumps(reordered(body), indent=2), key, "PUT")
    assert (again[0], again[2]) == (201, first[2])
    assert again[1]["Idempotent-Replayed"] == "true"
    assert await count_events(client, account, record_id) == 1


async def test_a_retried_create_answers_with_the_integration_it_made(
    client: Client, auth: dict[str, str], account: str
) -> None:
    key = auth | {"Idempotency-Key": "create-1"}
    body = {"vendor": "ERP_A", "vendor_account_id": "ledger-9"}
    first = await post_raw(client, "/v3/accounting/integration", json.dumps(body), key)
    again = await post_raw(client, "/v3/accounting/integration", json.dumps(reordered(body)), key)
    assert first[0] == again[0] == 200
    assert again[2] == first[2]  # the id made for the first request, not a new one
    assert again[1]["Idempotent-Replayed"] == "true"
    assert await count_events(client, account, "integrations") == 1


async def test_a_refusal_replay_says_it_is_a_replay(client: Client, auth: dict[str, str]) -> None:
    key = auth | {"Idempotency-Key": "refused-header"}
    body = json.dumps({"results": [ok("accr_missing")]})
    first = await post_raw(client, EXPORT, body, key)
    assert first[0] == 422 and "Idempotent-Replayed" not in first[1]
    again = await post_raw(client, EXPORT, body, key)
    assert (again[0], again[2]) == (first[0], first[2])
    assert again[1]["Idempotent-Replayed"] == "true"


async def test_one_key_on_another_operation_is_refused(
    client: Client, auth: dict[str, str]
) -> None:
    key = auth | {"Idempotency-Key": "one-key-two-uses"}
    body = {"vendor": "ERP_A", "vendor_account_id": "ledger-1"}
    assert (await post_raw(client, "/v3/accounting/integration", json.dumps(body), key))[0] == 200
    status, _, answer = await post_raw(client, EXPORT, json.dumps({"results": [ok("accr_x")]}), key)
    assert status == 422
    assert answer["error_code"] == "INVALID_REQUEST"
    assert answer["details"] == {"idempotency_key": "one-key-two-uses"}
