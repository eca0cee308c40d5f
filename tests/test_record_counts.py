"""Page totals come from the counts projection: exact after any mix of writes, before and
after the catch-up job folds the appended changes into the counts."""

from __future__ import annotations

import random

from projections.catchup import catch_up
from projections.record_counts import CountFolder
from service.api.keys import POOL
from tests.api import Client, create_integration, export, fail, ok, put_record, set_status

FILTERS = [
    {},
    {"review_status": "READY_FOR_EXPORT"},
    {"review_status": "REVIEW"},
    {"review_status": "EXPORTED"},
    {"source_type": "CARD"},
    {"source_type": "BILL"},
    {"review_status": "READY_FOR_EXPORT", "source_type": "REIMBURSEMENT"},
]
SOURCES = {"CARD": "CARD_EXPENSE_POST", "BILL": "BILL_EXPENSE", "REIMBURSEMENT": "INVOICE"}


async def totals_match_the_rows(client: Client, auth: dict[str, str], account: str) -> None:
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    for params in FILTERS:
        page = await (
            await client.get("/v3/accounting/records", params=params, headers=auth)
        ).json()
        where = " AND ".join(f"{name} = ${i + 2}" for i, name in enumerate(params)) or "true"
        async with pool.acquire() as conn:
            counted = await conn.fetchval(
                f"SELECT count(*) FROM record_state WHERE account_id = $1 AND {where}",
                account,
                *params.values(),
            )
        assert page["total_count"] == counted, params


async def test_totals_stay_exact_through_writes_and_folding(
    client: Client, auth: dict[str, str], account: str
) -> None:
    rng = random.Random(9)
    await create_integration(client, auth)
    for n in range(24):
        source = rng.choice(sorted(SOURCES))
        record = await put_record(client, auth, source_type=source, type=SOURCES[source])
        if n % 3:
            await set_status(client, auth, record["id"], rng.choice(["REVIEW", "READY_FOR_EXPORT"]))
    await totals_match_the_rows(client, auth, account)
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    async with pool.acquire() as conn:
        ready = [
            r[0]
            for r in await conn.fetch(
                "SELECT record_id FROM record_state WHERE account_id = $1"
                " AND review_status = 'READY_FOR_EXPORT'",
                account,
            )
        ]
    await export(client, auth, [ok(ready[0]), fail(ready[1])])
    await totals_match_the_rows(client, auth, account)
    await catch_up(pool, CountFolder())
    async with pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM record_count_changes WHERE account_id = $1", account
        )
    assert left == 0, "the folder leaves no change behind"
    await totals_match_the_rows(client, auth, account)
