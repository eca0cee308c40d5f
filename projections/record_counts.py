"""Record counts by account, review status and source type (the total of a records page
without counting rows). Every write appends its changes to `record_count_changes`; the
`record-counts` catch-up job folds them into `record_counts` now and then; a reader sums
both in its snapshot, so a total is exact at every moment and costs a few rows to read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from domain.records import RecordState
from eventstore.statement import Statement
from eventstore.types import Conn, FeedEntry

NAME = "record-counts"
Bucket = tuple[str, str, str]  # account, review status, source type

_CHANGES = """
INSERT INTO record_count_changes (account_id, review_status, source_type, delta)
SELECT * FROM unnest({}, {}, {}, {})"""
_FOLD = """
WITH moved AS (DELETE FROM record_count_changes
               RETURNING account_id, review_status, source_type, delta)
INSERT INTO record_counts (account_id, review_status, source_type, n)
SELECT account_id, review_status, source_type, sum(delta) FROM moved
GROUP BY account_id, review_status, source_type
ON CONFLICT (account_id, review_status, source_type) DO UPDATE SET n = record_counts.n + EXCLUDED.n
"""
_RECOUNT = """
DELETE FROM record_count_changes;
DELETE FROM record_counts;
INSERT INTO record_counts (account_id, review_status, source_type, n)
SELECT account_id, review_status, source_type, count(*) FROM record_state
GROUP BY account_id, review_status, source_type;
"""
_TOTAL = """
SELECT (SELECT coalesce(sum(n), 0) FROM record_counts WHERE {where})
     + (SELECT coalesce(sum(delta), 0) FROM record_count_changes WHERE {where})
"""
_WHERE = """account_id = $1 AND ($2::text IS NULL OR review_status = $2)
           AND ($3::text IS NULL OR source_type = $3)"""
_DIFFERENCES = """
WITH counted AS (
    SELECT account_id, review_status, source_type, sum(n) AS n FROM (
        SELECT account_id, review_status, source_type, n FROM record_counts
        UNION ALL
        SELECT account_id, review_status, source_type, delta FROM record_count_changes) c
    GROUP BY 1, 2, 3),
actual AS (
    SELECT account_id, review_status, source_type, count(*) AS n FROM record_state
    GROUP BY 1, 2, 3)
SELECT account_id, review_status, source_type, coalesce(c.n, 0) AS counted,
       coalesce(a.n, 0) AS actual
FROM counted c FULL JOIN actual a USING (account_id, review_status, source_type)
WHERE coalesce(c.n, 0) <> coalesce(a.n, 0) AND ($1::text IS NULL OR account_id = $1)
"""


def _bucket(account_id: str, state: RecordState) -> Bucket:
    return (account_id, state.review_status.value, state.content.source_type.value)


def changes(moves: Sequence[tuple[str, RecordState | None, RecordState]]) -> Counter[Bucket]:
    """What (account, state before or None, state after) moves do to the counts."""
    found: Counter[Bucket] = Counter()
    for account_id, before, after in moves:
        if before is not None:
            found[_bucket(account_id, before)] -= 1
        found[_bucket(account_id, after)] += 1
    return Counter({bucket: n for bucket, n in found.items() if n})


def changes_part(stmt: Statement, found: Counter[Bucket]) -> None:
    """Add the count changes to `stmt`, as `record_counts_changed`."""
    if not found:
        return
    buckets = list(found)
    columns = (
        [b[0] for b in buckets],
        [b[1] for b in buckets],
        [b[2] for b in buckets],
        [found[b] for b in buckets],
    )
    types = ("text[]", "text[]", "text[]", "int[]")
    params = (stmt.param(c, t) for c, t in zip(columns, types, strict=True))
    stmt.with_("record_counts_changed", _CHANGES.format(*params))


async def total(
    conn: Conn, account_id: str, review_status: str | None, source_type: str | None
) -> int:
    return int(
        await conn.fetchval(_TOTAL.format(where=_WHERE), account_id, review_status, source_type)
    )


async def recount(conn: Conn) -> None:
    """Count every account's records anew (in the caller's transaction, record_state held)."""
    await conn.execute(_RECOUNT)


async def differences(conn: Conn, account_id: str | None) -> list[tuple[str, str, str]]:
    """(account, which count, what differs) for each count that is not the number of the
    records it counts."""
    rows = await conn.fetch(_DIFFERENCES, account_id)
    return [
        (
            r["account_id"],
            f"record_counts {r['review_status']}/{r['source_type']}",
            f"counts {r['counted']}, record_state holds {r['actual']}",
        )
        for r in rows
    ]


class CountFolder:
    """A catch-up job that reads no events: every round, it folds the appended changes into
    the counts (so a reader never sums more than a few seconds' worth)."""

    name = NAME

    async def apply(self, conn: Conn, events: Sequence[FeedEntry]) -> None:
        return None

    async def tick(self, conn: Conn) -> None:
        await conn.execute(_FOLD)
