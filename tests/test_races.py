"""Races between real parallel requests, each checked against the event log: overlapping
export batches from several connectors, concurrent creates of the one ACTIVE integration,
a disconnect racing export reports, and retries that share one Idempotency-Key.

Every request goes through a Journal (tests/journal.py), so tests/invariants.py checks the
log against them all: all-or-nothing, acknowledged means written, nothing exported twice,
nothing no request caused, projections equal to the folded log."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import aiohttp
import asyncpg
import pytest

from tests.api import Client
from tests.conftest import FIGURES, make_token
from tests.invariants import check_log
from tests.journal import EXPORT, Journal, Sent, export_item, setup_account

RACES: Counter[str] = Counter()  # race name -> concurrent requests run


def count(race: str, requests: int) -> None:
    RACES[race] += requests


def journal_for(client: Client, account: str, client_id: str = "erp") -> Journal:
    token = make_token(account, client_id=client_id)
    return Journal(str(client.make_url("")).rstrip("/"), {"Authorization": f"Bearer {token}"})


def merged(account_journals: list[Journal]) -> Journal:
    whole = Journal(account_journals[0].base, account_journals[0].headers)
    for journal in account_journals:
        whole.sent |= journal.sent
    return whole


def exports(journal: Journal, ids: list[str], success: bool = True) -> Sent:
    items = [export_item(rid, success) for rid in ids]
    body = {"results": [item for item, _ in items]}
    return journal.new(
        "POST", EXPORT, body, {rid: kind for rid, (_, kind) in zip(ids, items, strict=True)}
    )


async def race_overlapping_exports(client: Client, dsn: str, rng: random.Random) -> None:
    account = f"acct_race_{uuid.uuid4().hex[:8]}"
    connectors = [journal_for(client, account, f"erp-{n}") for n in range(6)]
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, connectors[0], records=30)
        ids = sorted(ledger.ready)
        batches = [
            exports(journal, rng.sample(ids, rng.randint(1, 6)), rng.random() < 0.8)
            for journal in connectors
            for _ in range(5)
        ]
        owner = {sent.key: journal for journal in connectors for sent in journal.sent.values()}
        await asyncio.gather(*(owner[s.key].send(session, s) for s in batches))
    assert {s.status for s in batches} <= {200, 422}
    written = [rid for s in batches if s.status == 200 for rid in s.outcomes]
    assert len(written) == len(set(written)), "a record was reported twice"
    found = await check_log(dsn, account, merged(connectors))
    assert found.found == found.acknowledged == sum(s.status == 200 for s in batches)
    count("overlapping export batches from 6 connectors", len(batches))


async def race_crosswise(client: Client, dsn: str) -> None:
    """Pairs of batches naming the same records in opposite orders: one wins, the other is
    refused, at once (no deadlock for PostgreSQL to break after a second)."""
    account = f"acct_race_{uuid.uuid4().hex[:8]}"
    journal = journal_for(client, account)
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=20)
        ids = sorted(ledger.ready)
        pairs = [(ids[i : i + 4], ids[i : i + 4][::-1]) for i in range(0, 20, 4)]
        sent = [exports(journal, batch) for pair in pairs for batch in pair]
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(journal.send(session, s) for s in sent))
        took = asyncio.get_running_loop().time() - started
    for first, second in zip(sent[::2], sent[1::2], strict=True):
        assert sorted([first.status, second.status]) == [200, 422], (first.answer, second.answer)
    assert took < 1.0, f"crosswise batches took {took:.2f} s: a deadlock was broken"
    await check_log(dsn, account, journal)
    count("batches naming the same records crosswise", len(sent))


async def race_creates(client: Client, dsn: str) -> None:
    account = f"acct_race_{uuid.uuid4().hex[:8]}"
    journal = journal_for(client, account)
    creates = [
        journal.new(
            "POST",
            "/v3/accounting/integration",
            {"vendor": f"ERP_{n % 3}", "vendor_account_id": f"l{n}"},
        )
        for n in range(12)
    ]
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(journal.send(session, s) for s in creates))
    winners = [s for s in creates if s.status == 200]
    assert len(winners) == 1, [s.status for s in creates]
    winner = winners[0].answer["integration_id"]
    for s in creates:
        if s.status != 200:
            assert s.status == 409 and s.answer["details"]["existing_integration_id"] == winner
    conn = await asyncpg.connect(dsn)
    try:
        created = await conn.fetchval(
            "SELECT count(*) FROM events WHERE account_id = $1 AND type = 'IntegrationCreated'",
            account,
        )
        active = await conn.fetch(
            "SELECT integration_id FROM integrations WHERE account_id = $1 AND status = 'ACTIVE'",
            account,
        )
    finally:
        await conn.close()
    assert created == 1 and [r["integration_id"] for r in active] == [winner]
    await check_log(dsn, account, journal)
    count("creates of the one ACTIVE integration", len(creates))


def visible(tx: int, snapshot: str) -> bool:
    """Whether transaction `tx` had committed when `snapshot` (xmin:xmax:xip) was taken."""
    xmin, xmax, running = snapshot.split(":")
    return tx < int(xmin) or (tx < int(xmax) and str(tx) not in running.split(","))


async def snapshots(dsn: str, done: asyncio.Event) -> list[str]:
    """The database's snapshots, taken as often as it answers until `done`."""
    conn = await asyncpg.connect(dsn)
    taken = []
    try:
        while not done.is_set():
            taken.append(str(await conn.fetchval("SELECT pg_current_snapshot()::text")))
    finally:
        await conn.close()
    return taken


async def race_disconnect(client: Client, dsn: str, rng: random.Random) -> None:
    """Exports racing a disconnect: in every snapshot of the database taken while they ran
    in which the disconnect had committed, every export that is in the log had committed
    too (none was accepted after it); exports sent after its answer are all refused."""
    account = f"acct_race_{uuid.uuid4().hex[:8]}"
    journal = journal_for(client, account)
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=40)
        integration = next(
            s.answer for s in journal.sent.values() if s.path.endswith("/integration")
        )
        ids = sorted(ledger.ready)
        early = [exports(journal, ids[i : i + 2]) for i in range(0, 30, 2)]
        path = f"/v3/accounting/integration/{integration['integration_id']}/disconnect"
        disconnect = journal.new("POST", path, None)
        racing = [journal.send(session, s) for s in early]
        racing.insert(rng.randrange(len(racing)), journal.send(session, disconnect))
        done = asyncio.Event()
        watching = asyncio.create_task(snapshots(dsn, done))
        await asyncio.gather(*racing)
        done.set()
        taken = await watching
        assert disconnect.status == 200
        late = [exports(journal, [rid]) for rid in ids[30:]]
        await asyncio.gather(*(journal.send(session, s) for s in late))
    for s in late:  # sent after the disconnect was answered
        assert s.status == 422 and s.answer["error_code"] == "INTEGRATION_NOT_ACTIVE", s.answer
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT type, tx::text::bigint AS tx FROM events WHERE account_id = $1"
            " AND type IN ('ExportSucceeded', 'ExportFailed', 'IntegrationDisconnected')",
            account,
        )
    finally:
        await conn.close()
    cut = next(r["tx"] for r in rows if r["type"] == "IntegrationDisconnected")
    exported = {r["tx"] for r in rows if r["type"] != "IntegrationDisconnected"}
    for snapshot in (s for s in taken if visible(cut, s)):
        late_commits = [tx for tx in exported if not visible(tx, snapshot)]
        assert not late_commits, f"exports committed after the disconnect: {late_commits}"
    found = await check_log(dsn, account, journal)
    assert found.found == found.acknowledged
    count("export reports racing a disconnect", len(early) + 1)


async def race_one_key(client: Client, dsn: str) -> None:
    account = f"acct_race_{uuid.uuid4().hex[:8]}"
    journal = journal_for(client, account)
    async with aiohttp.ClientSession() as session:
        ledger = await setup_account(session, journal, records=3)
        first = exports(journal, sorted(ledger.ready))
        retries = [first] + [
            Sent(first.key, first.method, first.path, first.body, first.outcomes) for _ in range(9)
        ]
        await asyncio.gather(*(journal.send(session, s) for s in retries))
    assert {s.status for s in retries} == {200}
    assert all(s.answer == first.answer for s in retries)
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM events"
            " WHERE account_id = $1 AND metadata->>'idempotency_key' = $2",
            account,
            first.key,
        )
    finally:
        await conn.close()
    assert events == 3, "the request ran more than once"
    await check_log(dsn, account, journal)
    count("retries sharing one Idempotency-Key", len(retries))


async def run_races(client: Client, dsn: str, rounds: int) -> None:
    rng = random.Random(11)
    for _ in range(rounds):
        await race_overlapping_exports(client, dsn, rng)
        await race_crosswise(client, dsn)
        await race_creates(client, dsn)
        await race_disconnect(client, dsn, rng)
        await race_one_key(client, dsn)
    FIGURES.append(
        f"races ({rounds} rounds, checked against the log): "
        + "; ".join(f"{name}: {count} requests" for name, count in RACES.items())
    )
    RACES.clear()


async def test_races(client: Client, shared_dsn: str) -> None:
    await run_races(client, shared_dsn, rounds=2)


@pytest.mark.long
async def test_races_long(client: Client, shared_dsn: str) -> None:
    await run_races(client, shared_dsn, rounds=15)
