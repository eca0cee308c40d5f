"""Security, operation by operation (read from our OpenAPI document, so that new operations
are covered when they come): scopes, other tenants' objects, oversized bodies, SQL-looking
text, and what error answers may show.

Tokens are in test_tokens.py; hostile bodies, cursors and headers in test_hostile_input.py;
what the logs may hold, with the service as a process, in test_logs.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from service.api.app import service_document
from tests.api import (
    Client,
    create_integration,
    export,
    fail,
    ok,
    put_record,
    ready_records,
    set_status,
)
from tests.conftest import make_token
from tests.factories import new_record_id, record_body

MakeApp = Callable[..., web.Application]
RECORDS = "/v3/accounting/records"


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, methods in service_document()["paths"].items()
        for method, op in methods.items()
        if op.get("x-required-scopes")
    ]


def concrete(path: str, record_id: str = "accr_x", integration_id: str = "int_x") -> str:
    return path.replace("{record_id}", record_id).replace("{integration_id}", integration_id)


@pytest.mark.parametrize(("method", "path", "op"), operations(), ids=lambda v: str(v)[:60])
async def test_a_valid_token_without_the_scope_is_403_everywhere(
    client: Client, account: str, method: str, path: str, op: dict[str, Any]
) -> None:
    token = make_token(account, ["accounting.nothing"])  # valid, with no scope it needs
    resp = await client.request(
        method, concrete(path), json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 403
    assert (await resp.json())["error_code"] == "FORBIDDEN"


async def snapshot(dsn: str, account: str) -> tuple[Any, ...]:
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval("SELECT count(*) FROM events WHERE account_id = $1", account)
        records = await conn.fetch(
            "SELECT record_id, version, state::text FROM record_state"
            " WHERE account_id = $1 ORDER BY 1",
            account,
        )
        integrations = await conn.fetch(
            "SELECT integration_id, status FROM integrations WHERE account_id = $1 ORDER BY 1",
            account,
        )
    finally:
        await conn.close()
    return events, [tuple(r) for r in records], [tuple(r) for r in integrations]


FOREIGN_BODIES = {
    "/internal/accounting/records/{record_id}/review-status": {"review_status": "REVIEW"},
}


async def test_another_accounts_token_finds_nothing_and_changes_nothing(
    client: Client, auth: dict[str, str], account: str, shared_dsn: str
) -> None:
    integration = await create_integration(client, auth)
    ready, exported, prepared = await ready_records(client, auth, 3)
    assert (await export(client, auth, [ok(exported)]))[0] == 200
    await set_status(client, auth, prepared, "PREPARE")
    before = await snapshot(shared_dsn, account)
    stranger = f"{account}_other"
    theirs = {"Authorization": f"Bearer {make_token(stranger)}"}
    await create_integration(client, theirs, vendor="ERP_B")
    tried = 0
    for method, path, _ in operations():
        if "{" not in path or method == "PUT":
            continue
        for record_id in (ready, exported, prepared):
            target = concrete(path, record_id, integration["integration_id"])
            body = FOREIGN_BODIES.get(path)
            resp = await client.request(method, target, json=body, headers=theirs)
            assert resp.status == 404, (method, target, await resp.text())
            assert (await resp.json())["error_code"] == "NOT_FOUND"
            tried += 1
    for batch in ([ok(ready)], [fail(ready)], [ok(exported)], [ok(prepared)]):
        status, body = await export(client, theirs, batch)
        assert status == 404 and body["error_code"] == "NOT_FOUND"
    resp = await client.get(RECORDS, params=[("ids", ready), ("ids", exported)], headers=theirs)
    assert (await resp.json())["items"] == []
    # PUT names a record in the caller's own account: it creates theirs, never touches ours.
    assert (
        await client.put(
            f"/internal/accounting/records/{ready}", json=record_body(memo="x"), headers=theirs
        )
    ).status == 201
    assert await snapshot(shared_dsn, account) == before
    assert tried >= 6


async def test_oversized_bodies_are_413_on_every_body_operation(
    aiohttp_client: Any, app_with: MakeApp, account: str
) -> None:
    client = await aiohttp_client(app_with(max_body_bytes=4096))
    auth = {"Authorization": f"Bearer {make_token(account)}"}
    big = json.dumps({**record_body(), "memo": "x" * 5000}).encode()
    for method, path, op in operations():
        if "requestBody" not in op:
            continue
        resp = await client.request(
            method,
            concrete(path, new_record_id()),
            data=big,
            headers=auth | {"Content-Type": "application/json"},
        )
        assert resp.status == 413, (path, await resp.text())
        assert (await resp.json())["error_code"] == "INVALID_REQUEST"


SQLISH = [
    "'; DROP TABLE events; --",
    '" OR "1"="1',
    "1; SELECT pg_sleep(10)",
    "$1 $$ %s %(x)s \\x00 \\' E'\\\\'",
    "Robert'); DELETE FROM record_state WHERE ('a'='a",
]


async def test_text_that_looks_like_sql_is_kept_verbatim(
    client: Client, auth: dict[str, str]
) -> None:
    for text in SQLISH:
        vendor = {"id": "v1", "name": text, "contact_name": text, "email": text}
        body = record_body(memo=text, source_id=text, invoice_number=text, vendor=vendor)
        created = await put_record(client, auth, **body)
        got = await (await client.get(f"{RECORDS}/{created['id']}", headers=auth)).json()
        assert (got["memo"], got["source_id"], got["invoice_number"]) == (text, text, text)
        assert got["vendor"]["name"] == text
    stranger = {"Authorization": f"Bearer {make_token('acct_sqlish_' + new_record_id()[-8:])}"}
    created = await create_integration(client, stranger, vendor=SQLISH[0], account=SQLISH[1])
    assert (created["vendor"], created["vendor_account_id"]) == (SQLISH[0], SQLISH[1])
    (rid,) = await ready_records(client, stranger, 1)
    status, _ = await export(
        client, stranger, [fail(rid, SQLISH[4])], **{"Idempotency-Key": "';--"}
    )
    assert status == 200
    record = await (await client.get(f"{RECORDS}/{rid}", headers=stranger)).json()
    assert record["export"]["error_message"] == SQLISH[4]
    resp = await client.get(RECORDS, params={"ids": "accr_' OR '1'='1"}, headers=stranger)
    assert (await resp.json())["items"] == []


LEAKS = (
    "Traceback",
    'File "',
    "asyncpg",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE ",
    "syntax error",
    "relation ",
)


async def test_error_answers_show_no_stack_trace_or_sql(
    client: Client, auth: dict[str, str], app: web.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.api.views import records

    async def broken(*args: Any) -> None:
        raise asyncpg.PostgresSyntaxError(
            'syntax error at or near "SELECT" in SELECT secret FROM events'
        )

    monkeypatch.setattr(records, "load_record", broken)
    answers = [
        await client.get(f"{RECORDS}/accr_x", headers=auth),
        await client.get(RECORDS, params={"limit": "x"}, headers=auth),
        await client.post(
            "/v3/accounting/integration",
            data=b"{",
            headers=auth | {"Content-Type": "application/json"},
        ),
        await client.get(RECORDS, params={"cursor": "eyJzIjoiJzsgU0VMRUNUIn0"}, headers=auth),
        await client.get("/nowhere"),
    ]
    assert answers[0].status == 500
    for resp in answers:
        text = await resp.text()
        assert resp.status >= 400 and not any(leak in text for leak in LEAKS), text
