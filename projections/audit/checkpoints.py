"""The read side of the account logs: signed checkpoints and which event is which leaf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from eventstore.types import Conn

_COLUMNS = "tree_size, root_hash, created_at, note"


@dataclass(frozen=True)
class SignedCheckpoint:
    tree_size: int
    root_hash: bytes
    created_at: datetime
    note: str


def _checkpoint(row: asyncpg.Record) -> SignedCheckpoint:
    return SignedCheckpoint(
        row["tree_size"], bytes(row["root_hash"]), row["created_at"], row["note"]
    )


async def latest_checkpoint(conn: Conn, account_id: str) -> SignedCheckpoint | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE account_id = $1"
        " ORDER BY tree_size DESC LIMIT 1",
        account_id,
    )
    return _checkpoint(row) if row else None


async def checkpoints_after(
    conn: Conn, account_id: str, after_size: int = 0, limit: int = 1000
) -> list[SignedCheckpoint]:
    """Checkpoints of trees larger than `after_size`, smallest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_checkpoints WHERE account_id = $1 AND tree_size > $2"
        " ORDER BY tree_size LIMIT $3",
        account_id,
        after_size,
        limit,
    )
    return [_checkpoint(row) for row in rows]


async def leaf_indexes(conn: Conn, account_id: str, positions: Sequence[int]) -> dict[int, int]:
    """The leaf index of each sealed event among `positions` (by position)."""
    rows = await conn.fetch(
        "SELECT position, leaf_index FROM audit_leaves"
        " WHERE account_id = $1 AND position = ANY($2::bigint[])",
        account_id,
        list(positions),
    )
    return {row["position"]: row["leaf_index"] for row in rows}
