"""Inline projection of integrations: the `integrations` table, and the stream's fold that
commands decide against."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain import integrations
from domain.integrations import STREAM_ID, Integration, Integrations
from eventstore.statement import Statement
from eventstore.store import StreamRow, read_stream
from eventstore.types import Conn
from projections.codecs import INTEGRATIONS

_COLUMNS = "integration_id, vendor, vendor_account_id, status, created_at"

# Upserts of the batch's changed integrations (any accounts), disabling ones first: that
# keeps the one-ACTIVE index satisfied at every row.
_UPSERT = """
INSERT INTO integrations (account_id, integration_id, vendor, vendor_account_id, status,
                          created_at, updated_at)
SELECT u.account_id, u.integration_id, u.vendor, u.vendor_account_id, u.status, u.created_at,
       u.updated_at
FROM unnest({}, {}, {}, {}, {}, {}, {}) WITH ORDINALITY
     AS u(account_id, integration_id, vendor, vendor_account_id, status, created_at,
          updated_at, ord)
ORDER BY u.ord
ON CONFLICT (account_id, integration_id) DO UPDATE SET
    status = EXCLUDED.status,
    updated_at = EXCLUDED.updated_at
"""
_UPSERT_TYPES = (
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "timestamptz[]",
    "timestamptz[]",
)
# Export results name an ACTIVE integration: the write holds it (share-locked) and fails if it
# is no longer ACTIVE, so that no export is written after a disconnect committed.
_GUARD = """
SELECT 1 FROM integrations
WHERE (account_id, integration_id) IN (SELECT * FROM unnest({}, {})) AND status = 'ACTIVE'
FOR SHARE"""


def _integration(row: asyncpg.Record) -> Integration:
    return Integration.model_validate(dict(row.items()))


async def load_integrations(conn: Conn, account_id: str) -> Integrations:
    """The account's integrations folded from their stream (what commands decide against)."""
    stream = await read_stream(conn, account_id, STREAM_ID)
    return integrations.fold((INTEGRATIONS.decode(e), e.recorded_at) for e in stream)


def fold_stream(rows: Sequence[StreamRow]) -> Integrations:
    """The account's integrations folded from the rows of its stream."""
    ordered = sorted(rows, key=lambda row: row.version)
    return integrations.fold(
        (INTEGRATIONS.decode_data(r.type, r.schema_version, r.data), r.recorded_at) for r in ordered
    )


def upsert_part(stmt: Statement, changed: Sequence[tuple[str, Integration]], at: datetime) -> None:
    """Add the upsert of (account, changed integration) pairs, as `integrations_upserted`."""
    ordered = sorted(changed, key=lambda pair: pair[1].status == "ACTIVE")
    columns = (
        [account for account, _ in ordered],
        [i.integration_id for _, i in ordered],
        [i.vendor for _, i in ordered],
        [i.vendor_account_id for _, i in ordered],
        [i.status for _, i in ordered],
        [i.created_at for _, i in ordered],
        [at for _ in ordered],
    )
    params = [stmt.param(c, cast) for c, cast in zip(columns, _UPSERT_TYPES, strict=True)]
    stmt.with_("integrations_upserted", _UPSERT.format(*params))


def guard_part(stmt: Statement, active: Sequence[tuple[str, str]]) -> str:
    """Hold the (account, integration id) pairs share-locked for the write; the SQL condition
    that they are all still ACTIVE."""
    wanted = list(dict.fromkeys(active))
    accounts = stmt.param([a for a, _ in wanted], "text[]")
    ids = stmt.param([i for _, i in wanted], "text[]")
    stmt.with_("integrations_guarded", _GUARD.format(accounts, ids))
    return f"(SELECT count(*) FROM integrations_guarded) = {len(wanted)}"


async def list_integrations(conn: Conn, account_id: str) -> list[Integration]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM integrations WHERE account_id = $1"
        " ORDER BY created_at DESC, integration_id DESC",
        account_id,
    )
    return [_integration(row) for row in rows]
