"""The export summary read from `analytics.daily_exports`: one account's outcomes counted and
summed per day, ERP vendor or outcome, and currency (GET /v3/accounting/analytics/exports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal, NamedTuple

from eventstore.types import Conn

GroupBy = Literal["day", "vendor", "outcome"]
_GROUPS: dict[GroupBy, str] = {"day": "day::text", "vendor": "vendor", "outcome": "outcome"}

_SUMMARY = """
SELECT {group} AS "group", currency,
       sum(attempts)::bigint AS attempts,
       sum(amount) AS amount,
       coalesce(sum(attempts) FILTER (WHERE outcome = 'EXPORTED'), 0)::bigint AS exported,
       coalesce(sum(amount) FILTER (WHERE outcome = 'EXPORTED'), 0) AS exported_amount,
       coalesce(sum(attempts) FILTER (WHERE outcome = 'FAILED'), 0)::bigint AS failed,
       coalesce(sum(amount) FILTER (WHERE outcome = 'FAILED'), 0) AS failed_amount
FROM analytics.daily_exports
WHERE account_id = $1 AND ($2::date IS NULL OR day >= $2) AND ($3::date IS NULL OR day <= $3)
GROUP BY 1, 2
ORDER BY 1, 2
"""


class SummaryLine(NamedTuple):
    group: str
    currency: str
    attempts: int
    amount: Decimal
    exported: int
    exported_amount: Decimal
    failed: int
    failed_amount: Decimal


async def export_summary(
    conn: Conn, account_id: str, first: date | None, last: date | None, group_by: GroupBy
) -> list[SummaryLine]:
    """The account's export outcomes from day `first` to day `last` (UTC, both included)."""
    rows = await conn.fetch(_SUMMARY.format(group=_GROUPS[group_by]), account_id, first, last)
    return [SummaryLine(*row) for row in rows]
