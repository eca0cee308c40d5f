"""CONTRACT §6.1 and §6.2 through the API: history, the gap-free feed, signed checkpoints and
proofs, checked against an independent fold of the RFC 9162 definitions written here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from eventstore.store import append
from eventstore.types import NewEvent, StreamWrite
from projections.audit.merkle import verify_consistency, verify_inclusion
from projections.audit.notes import open_note, parse_checkpoint, parse_verifier_key
from projections.audit.sealer import Sealer
from projections.audit.signer import Signer
from projections.catchup import catch_up
from service.api.app import create_app
from service.api.keys import POOL
from service.workers import signer_for
from tests.api import Client, create_integration, export, ok, put_record, ready_records, set_status
from tests.conftest import make_token, settings_for

AUDIT = ("accounting.audit.read",)


# --- RFC 9162 §2.1, straight from its recursive definitions ---------------------------


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = _k(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# --- helpers -----------------------------------------------------------------------------


def b64s(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


async def get(client: Client, path_: str, headers: dict[str, str], **params: Any) -> Any:
    resp = await client.get(path_, params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def feed(client: Client, headers: dict[str, str], limit: int = 7) -> list[dict[str, Any]]:
    """Every event the account's feed gives, following next_cursor until a page is empty."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"after": cursor} if cursor else {})
        page = await get(client, "/v3/accounting/events", headers, **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["items"]:
            return items


async def seal(app: web.Application, every: int = 1000) -> None:
    signer = signer_for(settings_for("unused"))
    assert isinstance(signer, Signer)
    await catch_up(app[POOL], Sealer(signer, checkpoint_events=every, checkpoint_seconds=3600))


async def some_history(client: Client, auth: dict[str, str]) -> str:
    await create_integration(client, auth)
    record = await put_record(client, auth)
    await set_status(client, auth, record["id"], "READY_FOR_EXPORT")
    status, _ = await export(client, auth, [ok(record["id"])], **{"Idempotency-Key": "exp-1"})
    assert status == 200
    return str(record["id"])


# --- history -----------------------------------------------------------------------------


async def test_history_lists_every_event_with_who_caused_it(
    client: Client, auth: dict[str, str], account: str
) -> None:
    record_id = await some_history(client, auth)
    resp = await client.get(
        f"/v3/accounting/records/{record_id}/history", headers=auth | {"X-Request-Id": "r-h"}
    )
    items = (await resp.json())["items"]
    assert [(e["version"], e["type"]) for e in items] == [
        (1, "RecordCreated"),
        (2, "ReviewStatusChanged"),
        (3, "ExportSucceeded"),
    ]
    assert all(e["metadata"]["client_id"] == "test-client" for e in items)
    assert all(len(e["metadata"]["request_id"]) > 0 for e in items)
    assert items[2]["metadata"]["idempotency_key"] == "exp-1"
    assert "idempotency_key" not in items[0]["metadata"]
    assert items[0]["prev_hash"] == "00" * 32
    assert [e["prev_hash"] for e in items[1:]] == [e["hash"] for e in items[:-1]]
    assert items[2]["data"]["reference_id"] == "ref-1"


async def test_history_is_the_tenant_s_alone(client: Client, auth: dict[str, str]) -> None:
    record_id = await some_history(client, auth)
    stranger = {"Authorization": f"Bearer {make_token('acct_other_' + record_id[-6:])}"}
    resp = await client.get(f"/v3/accounting/records/{record_id}/history", headers=stranger)
    assert resp.status == 404
    assert (
        await client.get("/v3/accounting/records/accr_none/history", headers=auth)
    ).status == 404
    reader = {"Authorization": f"Bearer {make_token('acct_x', ['accounting.record.read'])}"}
    resp = await client.get(f"/v3/accounting/records/{record_id}/history", headers=reader)
    assert resp.status == 403


# --- the feed ----------------------------------------------------------------------------


async def test_the_feed_gives_every_event_once_to_a_reader_racing_writers(
    client: Client, auth: dict[str, str], account: str
) -> None:
    pool: asyncpg.Pool = client.server.app[POOL]  # type: ignore[union-attr]
    await create_integration(client, auth)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    writing = True

    async def read_page() -> None:
        nonlocal cursor
        params: dict[str, Any] = {"limit": 5} | ({"after": cursor} if cursor else {})
        page = await get(client, "/v3/accounting/events", auth, **params)
        seen.extend(page["items"])
        cursor = page["next_cursor"]

    async def reader() -> None:
        while writing:
            await read_page()
            await asyncio.sleep(0)

    async def writers() -> None:
        async with pool.acquire() as slow, slow.transaction():
            # Held open while later writes commit: the feed must wait for it, not skip it.
            meta = {"client_id": "test-client", "request_id": "held-open"}
            late = NewEvent("Noted", {"late": True}, metadata=meta)
            await append(slow, [StreamWrite(account, "late-stream", 0, [late])])
            await asyncio.gather(*(put_record(client, auth) for _ in range(12)))
            await asyncio.sleep(0.2)
        await asyncio.gather(*(put_record(client, auth) for _ in range(6)))

    task = asyncio.create_task(reader())
    await writers()
    writing = False
    await task
    while True:  # drain what committed last
        before = len(seen)
        await read_page()
        if len(seen) == before:
            break
    async with pool.acquire() as conn:
        stored = [
            r[0]
            for r in await conn.fetch("SELECT position FROM events WHERE account_id = $1", account)
        ]
    positions = [e["position"] for e in seen]
    assert len(positions) == len(set(positions)), "an event was delivered twice"
    assert sorted(positions) == sorted(stored), "an event was skipped"
    assert "late-stream" in {e["stream_id"] for e in seen}


async def test_the_feed_passes_bodies_on_as_stored_to_the_digit(
    client: Client, auth: dict[str, str]
) -> None:
    # The feed sends the stored JSON text undecoded; history decodes and re-encodes it.
    # Both must say the same, to the last digit of an amount and the last character.
    memo = 'Réception \u2014 \U0001f9fe "quoted" \\ back\nslash'
    amount = {"amount": 1234567890.123456, "currency": "EUR"}  # sent as these digits
    record = await put_record(client, auth, memo=memo, amount=amount, original_amount=amount)
    exact = {"parse_float": Decimal}
    resp = await client.get("/v3/accounting/events", params={"limit": 1000}, headers=auth)
    fed = [e for e in json.loads(await resp.text(), **exact)["items"]]
    path_ = f"/v3/accounting/records/{record['id']}/history"
    resp = await client.get(path_, headers=auth)
    told = json.loads(await resp.text(), **exact)["items"]
    assert [e for e in fed if e["stream_id"] == record["id"]] == told
    created = told[0]["data"]["content"]
    assert created["memo"] == memo
    assert str(created["amount"]["amount"]) == "1234567890.123456"


async def test_a_bad_feed_cursor_is_refused(client: Client, auth: dict[str, str]) -> None:
    resp = await client.get("/v3/accounting/events", params={"after": "x-y"}, headers=auth)
    assert resp.status == 400
    assert (await resp.json())["details"]["field"] == "after"


# --- checkpoints and proofs ----------------------------------------------------------------


async def test_checkpoints_and_proofs_agree_with_an_independent_tree(
    client: Client, auth: dict[str, str], account: str
) -> None:
    app = client.server.app  # type: ignore[union-attr]
    assert app is not None
    await some_history(client, auth)
    await seal(app, every=2)
    ids = await ready_records(client, auth, 3)
    await seal(app, every=2)
    await export(client, auth, [ok(i) for i in ids])
    await seal(app, every=2)

    key = await get(client, "/v3/accounting/audit/public-key", auth)
    assert key["algorithm"] == "Ed25519"
    verifier = parse_verifier_key(key["verifier_key"])
    events = await feed(client, auth)
    leaves = [bytes.fromhex(e["hash"]) for e in events]
    checkpoints = (await get(client, "/v3/accounting/audit/checkpoints", auth))["items"]
    assert len(checkpoints) >= 3
    assert checkpoints[-1]["tree_size"] == len(leaves)
    latest = await get(client, "/v3/accounting/audit/checkpoints/latest", auth)
    assert latest == checkpoints[-1]

    for checkpoint in checkpoints:
        body = parse_checkpoint(open_note(checkpoint["note"], verifier))
        size = checkpoint["tree_size"]
        assert body.size == size and body.root_hash == mth(leaves[:size])
        assert base64.b64decode(checkpoint["root_hash"]) == body.root_hash
        for event in events[:size]:
            proof = await get(
                client,
                "/v3/accounting/audit/proofs/inclusion",
                auth,
                position=event["position"],
                tree_size=size,
            )
            index = proof["leaf_index"]
            assert events[index] == event
            audit_path = b64s(proof["audit_path"])
            assert audit_path == path(index, leaves[:size])
            leaf = hashlib.sha256(b"\x00" + leaves[index]).digest()
            assert verify_inclusion(leaf, index, size, audit_path, body.root_hash)

    for old, new in itertools.pairwise(checkpoints):
        m, n = old["tree_size"], new["tree_size"]
        proof = await get(
            client, "/v3/accounting/audit/proofs/consistency", auth, from_size=m, to_size=n
        )
        assert b64s(proof["proof"]) == subproof(m, leaves[:n], True)
        assert verify_consistency(m, n, b64s(proof["proof"]), mth(leaves[:m]), mth(leaves[:n]))


async def test_history_with_proofs_leads_to_the_latest_checkpoint(
    client: Client, auth: dict[str, str]
) -> None:
    app = client.server.app  # type: ignore[union-attr]
    assert app is not None
    record_id = await some_history(client, auth)
    await seal(app)
    leaves = [bytes.fromhex(e["hash"]) for e in await feed(client, auth)]
    history = await get(client, f"/v3/accounting/records/{record_id}/history", auth, proof="true")
    size = history["checkpoint"]["tree_size"]
    assert size == len(leaves)
    for event in history["items"]:
        index = event["leaf_index"]
        assert leaves[index] == bytes.fromhex(event["hash"])
        assert b64s(event["audit_path"]) == path(index, leaves[:size])


async def test_proofs_beyond_the_sealed_log_are_refused(
    client: Client, auth: dict[str, str]
) -> None:
    app = client.server.app  # type: ignore[union-attr]
    assert app is not None
    await some_history(client, auth)
    await seal(app)
    first = (await feed(client, auth))[0]["position"]
    cases = [
        ("inclusion", {"position": first, "tree_size": 10**6}, 400, "tree_size"),
        ("inclusion", {"position": 10**15, "tree_size": 1}, 404, None),
        ("consistency", {"from_size": 3, "to_size": 2}, 400, "from_size"),
        ("consistency", {"from_size": 1, "to_size": 10**6}, 400, "to_size"),
    ]
    for kind, params, status, field in cases:
        resp = await client.get(f"/v3/accounting/audit/proofs/{kind}", params=params, headers=auth)
        assert resp.status == status, (kind, params)
        if field:
            assert (await resp.json())["details"]["field"] == field


@pytest.mark.parametrize("in_child", [True, False], ids=["child process", "event loop"])
async def test_the_service_seals_in_the_background(
    aiohttp_client: Any, shared_dsn: str, account: str, in_child: bool
) -> None:
    settings = settings_for(
        shared_dsn,
        catchup_in_service=True,
        catchup_process=in_child,
        audit_checkpoint_seconds=0.1,
    )
    client: Client = await aiohttp_client(create_app(settings))
    auth = {"Authorization": f"Bearer {make_token(account)}"}
    await some_history(client, auth)
    # From the log, not the gap-safe feed: at this instant another projector's round may hold
    # back the feed's horizon, and the sealer seals every event in the end.
    async with client.server.app[POOL].acquire() as conn:  # type: ignore[union-attr]
        count = await conn.fetchval("SELECT count(*) FROM events WHERE account_id = $1", account)
    for _ in range(200):
        resp = await client.get("/v3/accounting/audit/checkpoints/latest", headers=auth)
        if resp.status == 200 and (await resp.json())["tree_size"] == count:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the background sealer never signed the account's log")
    metrics = await (await client.get("/metrics", headers=auth)).text()
    assert 'catchup_lag_events{projector="audit-sealer"}' in metrics
