"""The sealer: a catch-up projector that appends every committed event's hash to its
account's Merkle tree, in feed order, and signs checkpoints of the trees.

It is the only writer of the audit tables, and runs after commit, off the request path:
appends never wait for the tree. The runner (projections.catchup) gives it each batch in
the transaction that moves its checkpoint, so every event becomes exactly one leaf.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from eventstore.types import Conn, FeedEntry
from projections.audit import tree
from projections.audit.merkle import append_leaves, leaf_hash
from projections.audit.signer import Signer

NAME = "audit-sealer"

_LEAVES = """
INSERT INTO audit_leaves (account_id, leaf_index, position)
SELECT $1, l.leaf_index, l.position
FROM unnest($2::bigint[], $3::bigint[]) AS l(leaf_index, position)
"""
_NODES = """
INSERT INTO audit_nodes (account_id, level, node_index, hash)
SELECT $1, n.level, n.node_index, n.hash
FROM unnest($2::smallint[], $3::bigint[], $4::bytea[]) AS n(level, node_index, hash)
"""
_GROWN = """
INSERT INTO audit_trees (account_id, size, updated_at) VALUES ($1, $2, now())
ON CONFLICT (account_id) DO UPDATE SET size = EXCLUDED.size, updated_at = now()
"""
# Trees with leaves past their last checkpoint, once enough leaves or time have gone by.
_DUE = """
SELECT t.account_id, t.size FROM audit_trees t
LEFT JOIN LATERAL (SELECT tree_size, created_at FROM audit_checkpoints c
                   WHERE c.account_id = t.account_id
                   ORDER BY tree_size DESC LIMIT 1) last ON true
WHERE t.size > coalesce(last.tree_size, 0)
  AND (t.size - coalesce(last.tree_size, 0) >= $1
       OR last.created_at IS NULL
       OR last.created_at <= now() - make_interval(secs => $2))
"""
_SIGNED = """
INSERT INTO audit_checkpoints (account_id, tree_size, root_hash, note) VALUES ($1, $2, $3, $4)
"""


class Sealer:
    name = NAME

    def __init__(
        self, signer: Signer, *, checkpoint_events: int = 1000, checkpoint_seconds: float = 5.0
    ) -> None:
        self.signer = signer
        self.checkpoint_events = checkpoint_events
        self.checkpoint_seconds = checkpoint_seconds

    async def apply(self, conn: Conn, events: Sequence[FeedEntry]) -> None:
        # Feed order within each account is leaf order; accounts do not interleave trees.
        ordered = sorted(events, key=lambda e: e.account_id)  # stable: keeps feed order
        for account_id, batch in groupby(ordered, key=lambda e: e.account_id):
            await self._grow(conn, account_id, list(batch))

    async def _grow(self, conn: Conn, account_id: str, events: list[FeedEntry]) -> None:
        size = await tree.tree_size(conn, account_id)
        grown = append_leaves(
            size, await tree.border(conn, account_id, size), [leaf_hash(e.hash) for e in events]
        )
        await conn.execute(
            _LEAVES, account_id, list(range(size, grown.size)), [e.position for e in events]
        )
        columns = list(zip(*grown.nodes, strict=True))
        await conn.execute(_NODES, account_id, *(list(c) for c in columns))
        await conn.execute(_GROWN, account_id, grown.size)

    async def tick(self, conn: Conn) -> None:
        """Sign a checkpoint of every tree that is due one."""
        for row in await conn.fetch(_DUE, self.checkpoint_events, self.checkpoint_seconds):
            await self._sign(conn, row["account_id"], row["size"])

    async def seal_now(self, conn: Conn, account_id: str) -> None:
        """Sign a checkpoint of the account's whole tree, unless the last one covers it."""
        size = await tree.tree_size(conn, account_id)
        last = await conn.fetchval(
            "SELECT max(tree_size) FROM audit_checkpoints WHERE account_id = $1", account_id
        )
        if size > (last or 0):
            await self._sign(conn, account_id, size)

    async def _sign(self, conn: Conn, account_id: str, size: int) -> None:
        root = await tree.root(conn, account_id, size)
        note = self.signer.checkpoint(account_id, size, root)
        await conn.execute(_SIGNED, account_id, size, root, note)
