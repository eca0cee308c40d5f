"""Inline projection of integrations: the `integrations` table, and the stream's fold that
commands decide against."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain import integrations
from domain.integrations import STREAM_ID, Integration, IntegrationEvent, Integrations
from eventstore.store import read_stream
from eventstore.types import Conn, RecordedEvent
from projections.codecs import INTEGRATIONS

_COLUMNS = "integration_id, vendor, vendor_account_id, status, created_at"

_UPSERT = """
INSERT INTO integrations (account_id, integration_id, vendor, vendor_account_id, status,
                          created_at, updated_at)
SELECT $1, u.integration_id, u.vendor, u.vendor_account_id, u.status, u.created_at, $7
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
     AS u(integration_id, vendor, vendor_account_id, status, created_at)
ON CONFLICT (account_id, integration_id) DO UPDATE SET
    status = EXCLUDED.status,
    updated_at = EXCLUDED.updated_at
"""


def _integration(row: asyncpg.Record) -> Integration:
    return Integration.model_validate(dict(row.items()))


async def load_integrations(conn: Conn, account_id: str) -> Integrations:
    """The account's integrations folded from their stream (what commands decide against)."""
    stream = await read_stream(conn, account_id, STREAM_ID)
    return integrations.fold((INTEGRATIONS.decode(e), e.recorded_at) for e in stream)


async def project_integrations(
    conn: Conn,
    account_id: str,
    before: Integrations,
    events: Sequence[IntegrationEvent],
    recorded: Sequence[RecordedEvent],
) -> Integrations:
    """Fold the appended events into the `integrations` table; returns the new state."""
    state = before
    for event, stored in zip(events, recorded, strict=True):
        state = integrations.evolve(state, event, stored.recorded_at)
    changed = [i for i in state.items if i not in before.items]
    if changed:
        await _save(conn, account_id, changed, recorded[-1].recorded_at)
    return state


async def _save(conn: Conn, account_id: str, changed: Sequence[Integration], at: object) -> None:
    # Disabling first keeps the one-ACTIVE index satisfied at every row.
    ordered = sorted(changed, key=lambda i: i.status == "ACTIVE")
    await conn.execute(
        _UPSERT,
        account_id,
        [i.integration_id for i in ordered],
        [i.vendor for i in ordered],
        [i.vendor_account_id for i in ordered],
        [i.status for i in ordered],
        [i.created_at for i in ordered],
        at,
    )


async def list_integrations(conn: Conn, account_id: str) -> list[Integration]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM integrations WHERE account_id = $1"
        " ORDER BY created_at DESC, integration_id DESC",
        account_id,
    )
    return [_integration(row) for row in rows]


async def lock_active_integration(conn: Conn, account_id: str) -> Integration | None:
    """The ACTIVE integration, share-locked until commit so it cannot be disconnected
    while export results that name it are being written."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM integrations WHERE account_id = $1 AND status = 'ACTIVE'"
        " FOR SHARE",
        account_id,
    )
    return _integration(row) if row else None


async def latest_integration(conn: Conn, account_id: str) -> Integration | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM integrations WHERE account_id = $1"
        " ORDER BY created_at DESC, integration_id DESC LIMIT 1",
        account_id,
    )
    return _integration(row) if row else None
