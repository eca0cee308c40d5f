"""Input an attacker would send gets a 4xx error envelope, never a 500, and writes nothing.

Each class of input is tried wherever it can enter: every JSON body, every query parameter,
every header the service reads, and the paging cursor.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from eventstore.errors import InvalidCursor
from eventstore.types import FeedCursor
from tests.api import Client, count_events, create_integration, put_record, ready_records
from tests.contract import ERROR_CODES
from tests.factories import new_record_id, record_body
from tests.wire import RawAnswer, exchange, request_bytes

RECORDS = "/v3/accounting/records"
EXPORT = "/v3/accounting/records/export-results"
JSON = {"Content-Type": "application/json"}


def check_envelope(status: int, body: Any, expected: int) -> dict[str, Any]:
    assert status == expected, body
    assert isinstance(body, dict) and set(body) == {"error_code", "message", "details"}, body
    assert body["error_code"] in ERROR_CODES
    return body


async def refused(resp: Any, expected: int = 400) -> dict[str, Any]:
    assert resp.content_type == "application/json", await resp.text()
    return check_envelope(resp.status, await resp.json(), expected)


def body_targets(record_id: str) -> list[tuple[str, str]]:
    """Every operation that takes a JSON body."""
    return [
        ("POST", "/v3/accounting/integration"),
        ("POST", EXPORT),
        ("PUT", f"/internal/accounting/records/{record_id}"),
        ("POST", f"/internal/accounting/records/{record_id}/review-status"),
    ]


async def raw(client: Client, method: str, target: str, headers: dict[str, Any]) -> RawAnswer:
    data = request_bytes(method, target, headers)
    return await exchange(str(client.server.host), int(client.server.port or 0), data)


# --- JSON bodies -------------------------------------------------------------------------

HOSTILE_BODIES = {
    "nested thousands deep": b"[" * 5000 + b"]" * 5000,
    "nested in an unknown field": b'{"x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    "deeper than the limit, within recursion": b'{"x": ' + b"[" * 200 + b"]" * 200 + b"}",
    "an exponent of a million": b'{"vendor": 1e999999, "vendor_account_id": "a"}',
    "a tiny exponent": b'{"x": 1e-999999, "vendor": "a", "vendor_account_id": "b"}',
    "a four thousand digit integer": b'{"x": ' + b"9" * 4000 + b"}",
    "a lone surrogate": b'{"vendor": "\\ud800", "vendor_account_id": "a"}',
    "a lone low surrogate in a key": b'{"\\udfff": 1, "vendor": "a", "vendor_account_id": "b"}',
    "bytes that are not UTF-8": b'{"vendor": "\xff\xfe", "vendor_account_id": "a"}',
    "an infinity": b'{"vendor": Infinity, "vendor_account_id": "a"}',
}


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
async def test_hostile_json_is_400_on_every_body(
    client: Client, auth: dict[str, str], account: str, name: str
) -> None:
    record_id = (await put_record(client, auth))["id"]
    before = await count_events(client, account)
    for method, path in body_targets(record_id):
        resp = await client.request(method, path, data=HOSTILE_BODIES[name], headers=auth | JSON)
        body = await refused(resp)
        assert body["details"]["field"] == "body" or "reason" in body["details"], body
    assert await count_events(client, account) == before


async def test_lone_surrogates_in_any_string_are_400(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    before = await count_events(client, account)
    items = [
        {"accounting_record_id": "accr_\ud800", "success": {}},
        {"accounting_record_id": rid, "failure": {"error_message": "closed \udc00"}},
        {"accounting_record_id": rid, "success": {"reference_id": "\ud83d"}},
        {"accounting_record_id": rid, "success": {"deep_link_url": "https://x/\udfff"}},
    ]
    for item in items:
        text = json.dumps({"results": [item]})  # ensure_ascii keeps the surrogate as \\udxxx
        await refused(await client.post(EXPORT, data=text, headers=auth | JSON))
    memo = json.dumps(record_body(memo="lunch \ud800"))
    await refused(
        await client.put(f"/internal/accounting/records/{rid}", data=memo, headers=auth | JSON)
    )
    assert await count_events(client, account) == before


# --- timestamps --------------------------------------------------------------------------

OVERFLOWING = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]


@pytest.mark.parametrize("moment", OVERFLOWING)
async def test_timestamps_that_overflow_in_utc_are_400_in_queries(
    client: Client, auth: dict[str, str], moment: str
) -> None:
    rid = (await put_record(client, auth))["id"]
    await refused(await client.get(f"{RECORDS}/{rid}", params={"as_of": moment}, headers=auth))
    for op in ("gt", "gte", "lt", "lte"):
        params = {f"updated_at[{op}]": moment}
        await refused(await client.get(RECORDS, params=params, headers=auth))


@pytest.mark.parametrize("moment", OVERFLOWING)
@pytest.mark.parametrize("field", ["erp_posting_date", "posted_at", "due_at"])
async def test_timestamps_that_overflow_in_utc_are_400_in_bodies(
    client: Client, auth: dict[str, str], account: str, moment: str, field: str
) -> None:
    resp = await client.put(
        f"/internal/accounting/records/{new_record_id()}",
        json=record_body(**{field: moment}),
        headers=auth,
    )
    body = await refused(resp)
    assert body["details"]["field"] == field
    assert await count_events(client, account) == 0


# --- the paging cursor -------------------------------------------------------------------


def cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


GOOD = {"s": "5:9:6", "n": 3, "u": "2026-01-01T00:00:00+00:00", "i": "accr_x"}
HOSTILE_CURSORS = {
    "deep": cursor(b"[" * 5000 + b"]" * 5000),
    "deep inside": cursor(
        json.dumps(GOOD | {"x": 1}).encode().replace(b"1}", b"[" * 3000 + b"]" * 3000 + b"}")
    ),
    "a huge total": cursor(json.dumps(GOOD | {"n": 10**400}).encode()),
    "an infinite total": cursor(json.dumps(GOOD).encode().replace(b'"n": 3', b'"n": 1e999999')),
    "a lone surrogate id": cursor(json.dumps(GOOD | {"i": "accr_\ud800"}).encode()),
    "an id too long": cursor(json.dumps(GOOD | {"i": "accr_" + "x" * 5000}).encode()),
    "an overflowing instant": cursor(
        json.dumps(GOOD | {"u": "9999-12-31T23:59:59-05:00"}).encode()
    ),
    "a huge cursor": "A" * 20_000,
    "not base64 text": "\u00e9\u00e9\u00e9",
}


@pytest.mark.parametrize("name", list(HOSTILE_CURSORS))
async def test_hostile_cursors_are_400(client: Client, auth: dict[str, str], name: str) -> None:
    resp = await client.get(RECORDS, params={"cursor": HOSTILE_CURSORS[name]}, headers=auth)
    body = await refused(resp)
    assert body["details"]["field"] == "cursor"


# --- query parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"limit": " 5 "},
        {"limit": "1_0"},
        {"limit": "+5"},
        {"limit": "\uff15"},  # a fullwidth digit: int() takes it
        {"limit": "5.0"},
        {"single_entry": "yes"},
        {"single_entry": "1"},
        {"single_entry": "on"},
        {"single_entry": "True"},
    ],
)
async def test_query_values_are_parsed_strictly(
    client: Client, auth: dict[str, str], params: dict[str, str]
) -> None:
    await refused(await client.get(RECORDS, params=params, headers=auth))


SIBLINGS = [
    ("/v3/accounting/events", {"limit": " 5 "}),
    ("/v3/accounting/events", {"limit": "1_0"}),
    ("/v3/accounting/events", {"after": " 5-1"}),
    ("/v3/accounting/events", {"after": "1_0-1"}),
    ("/v3/accounting/audit/checkpoints", {"after_size": "+1"}),
    ("/v3/accounting/audit/checkpoints", {"limit": "\uff15"}),
    ("/v3/accounting/audit/proofs/inclusion", {"position": "1_0", "tree_size": "1"}),
    ("/v3/accounting/audit/proofs/consistency", {"from_size": " 1", "to_size": "2"}),
    ("/v3/accounting/records/accr_x/history", {"proof": "yes"}),
    ("/v3/accounting/records/accr_x/history", {"proof": "1"}),
    ("/v3/accounting/analytics/exports", {"from": "2026-1-1"}),
    ("/v3/accounting/analytics/exports", {"to": "+2026-01-01"}),
]


@pytest.mark.parametrize(("path", "params"), SIBLINGS)
async def test_every_query_integer_flag_and_cursor_is_parsed_strictly(
    client: Client, auth: dict[str, str], path: str, params: dict[str, str]
) -> None:
    await refused(await client.get(path, params=params, headers=auth))


async def test_invalid_utf8_in_the_url_names_nothing(client: Client, auth: dict[str, str]) -> None:
    for escaped in ("%ED%A0%80", "%FF", "%C3%28", "%00"):
        answer = await raw(client, "GET", f"{RECORDS}/accr_{escaped}", auth)
        assert answer.status in (400, 404), (escaped, answer)
        check_envelope(answer.status, answer.json(), answer.status)
        answer = await raw(client, "GET", f"{RECORDS}?ids=accr_{escaped}", auth)
        if answer.status == 200:
            assert answer.json()["items"] == []
        else:
            check_envelope(answer.status, answer.json(), 400)


# --- headers -----------------------------------------------------------------------------


async def test_a_bearer_token_that_is_not_utf8_is_401(client: Client) -> None:
    for token in (b"\xff\xfe\xfd", b"eyJ\xc3\x28.x.y", "ey\u00e9.a.b".encode()):
        answer = await raw(client, "GET", RECORDS, {"Authorization": b"Bearer " + token})
        check_envelope(answer.status, answer.json(), 401)


async def test_an_idempotency_key_that_is_not_plain_ascii_is_400(
    client: Client, auth: dict[str, str], account: str
) -> None:
    await create_integration(client, auth)
    before = await count_events(client, account)
    body = json.dumps({"vendor": "ERP_A", "vendor_account_id": "ledger-1"}).encode()
    for key in (b"\xff\xfe", b"caf\xc3\xa9", b"two words", b"tab\there"):
        headers = auth | JSON | {"Idempotency-Key": key}
        data = request_bytes("POST", "/v3/accounting/integration", headers, body)
        answer = await exchange(str(client.server.host), int(client.server.port or 0), data)
        got = check_envelope(answer.status, answer.json(), 400)
        assert got["details"]["field"] == "Idempotency-Key"
    assert await count_events(client, account) == before


async def test_a_body_that_does_not_decode_is_400(client: Client, auth: dict[str, str]) -> None:
    good = json.dumps({"vendor": "ERP_A", "vendor_account_id": "l"}).encode()
    for encoding, data in (
        ("gzip", b"\x1f\x8b\x08\x00garbage that is not deflate"),
        ("deflate", b"not deflate at all"),
        ("gzip", gzip.compress(good)[:-14]),  # cut inside the compressed data
    ):
        resp = await client.post(
            "/v3/accounting/integration",
            data=data,
            headers=auth | JSON | {"Content-Encoding": encoding},
        )
        await refused(resp)
    resp = await client.post(
        "/v3/accounting/integration",
        data=gzip.compress(good),
        headers=auth | JSON | {"Content-Encoding": "gzip"},
    )
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_json_bodies_need_a_json_content_type(
    client: Client, auth: dict[str, str], account: str, content_type: str | None
) -> None:
    record_id = (await put_record(client, auth))["id"]
    before = await count_events(client, account)
    headers = dict(auth) | ({"Content-Type": content_type} if content_type else {})
    for method, path in body_targets(record_id):
        data = json.dumps({"vendor": "ERP_A", "vendor_account_id": "l"}).encode()
        resp = await client.request(
            method, path, data=data, headers=headers, skip_auto_headers=["Content-Type"]
        )
        await refused(resp, 415)
    assert await count_events(client, account) == before


async def test_a_json_content_type_with_a_charset_parameter_is_accepted(
    client: Client, auth: dict[str, str]
) -> None:
    resp = await client.post(
        "/v3/accounting/integration",
        data=json.dumps({"vendor": "ERP_A", "vendor_account_id": "l"}),
        headers=auth | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert resp.status == 200


@pytest.mark.parametrize("text", [" 5-1", "5-+1", "1_0-1", "\u0665-1", "5-1-2", "-5-1", "5-", ""])
def test_feed_cursors_are_digits_only(text: str) -> None:
    with pytest.raises(InvalidCursor):
        FeedCursor.decode(text)
    assert FeedCursor.decode("18446744073709551615-9223372036854775807").position == 2**63 - 1
