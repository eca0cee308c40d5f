"""GET /v3/accounting/analytics/exports: the caller's exports counted and summed, in JSON and
CSV; refusals that name the field; and the projectors' lag in /readyz."""

from __future__ import annotations

import csv
import io
import json
import random
from decimal import Decimal
from typing import Any

import pytest

from service.api.auth import RECORD_READ
from service.api.keys import POOL
from tests.analytics_oracle import expected_tables
from tests.api import Client
from tests.conftest import make_token
from tests.test_analytics import random_actions, settle

SUMMARY = "/v3/accounting/analytics/exports"


async def test_the_summary_counts_the_caller_s_exports_in_json_and_csv(
    client: Client, account: str, auth: dict[str, str]
) -> None:
    await random_actions(client, auth, random.Random(5))
    outsider = {"Authorization": f"Bearer {make_token(account + '_x')}"}
    await random_actions(client, outsider, random.Random(6))
    pool = client.server.app[POOL]  # type: ignore[union-attr]
    await settle(pool)
    async with pool.acquire() as conn:
        daily = (await expected_tables(conn, [account]))["daily_exports"]
    for group_by, column in (("day", 1), ("vendor", 2), ("outcome", 3)):
        resp = await client.get(SUMMARY, params={"group_by": group_by}, headers=auth)
        assert resp.status == 200
        body = await resp.json(loads=_decimal_json)
        assert body["group_by"] == group_by
        assert _totals(body["items"]) == _group(daily, column)
        as_csv = await client.get(
            SUMMARY, params={"group_by": group_by}, headers=auth | {"Accept": "text/csv"}
        )
        assert as_csv.status == 200 and as_csv.content_type == "text/csv"
        lines = list(csv.DictReader(io.StringIO(await as_csv.text())))
        assert [{"group": line.pop(group_by), **line} for line in lines] == [
            {k: str(v) for k, v in item.items()} for item in body["items"]
        ]
    (day,) = {row[1] for row in daily}
    none = await client.get(SUMMARY, params={"to": str(day.replace(year=2000))}, headers=auth)
    assert (await none.json())["items"] == []


def _decimal_json(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def _totals(items: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal]]:
    return {(i["group"], i["currency"]): (i["attempts"], Decimal(i["amount"])) for i in items}


def _group(daily: set[tuple[Any, ...]], column: int) -> dict[tuple[str, str], tuple[int, Decimal]]:
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for row in daily:
        key = (str(row[column]), row[4])
        n, amount = totals.get(key, (0, Decimal(0)))
        totals[key] = (n + row[5], amount + row[6])
    return totals


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
    ],
)
async def test_bad_parameters_are_refused_naming_the_field(
    client: Client, auth: dict[str, str], query: dict[str, str], field: str
) -> None:
    resp = await client.get(SUMMARY, params=query, headers=auth)
    assert resp.status == 400
    body = await resp.json()
    assert body["error_code"] == "INVALID_REQUEST"
    assert body["details"]["field"] == field


async def test_the_summary_needs_the_audit_scope(client: Client, account: str) -> None:
    reader = {"Authorization": f"Bearer {make_token(account, [RECORD_READ])}"}
    resp = await client.get(SUMMARY, headers=reader)
    assert resp.status == 403


async def test_readyz_and_the_metrics_give_each_projector_s_lag(client: Client) -> None:
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "ready"
    assert {"analytics", "audit-sealer"} <= set(body["projectors"])
    assert all(lag["events"] >= 0 <= lag["seconds"] for lag in body["projectors"].values())
    scraper = {"Authorization": f"Bearer {make_token('acct_scraper', ['accounting.metrics.read'])}"}
    metrics = await (await client.get("/metrics", headers=scraper)).text()
    assert 'catchup_lag_events{projector="analytics"}' in metrics
    assert 'catchup_lag_seconds{projector="analytics"}' in metrics
