"""The stored account trees: their size, right border and nodes (read side of the sealer's
tables), and proofs assembled from them in one query."""

from __future__ import annotations

from collections.abc import Sequence

from eventstore.types import Conn
from projections.audit.merkle import (
    NodeId,
    ProofPlan,
    border_nodes,
    consistency_plan,
    inclusion_plan,
    root_from_border,
)

_NODES = """
SELECT n.level, n.node_index, n.hash
FROM unnest($2::smallint[], $3::bigint[]) AS want(level, node_index)
JOIN audit_nodes n ON n.account_id = $1 AND n.level = want.level
                  AND n.node_index = want.node_index
"""


async def tree_size(conn: Conn, account_id: str) -> int:
    size = await conn.fetchval("SELECT size FROM audit_trees WHERE account_id = $1", account_id)
    return int(size or 0)


async def nodes(conn: Conn, account_id: str, wanted: Sequence[NodeId]) -> dict[NodeId, bytes]:
    rows = await conn.fetch(
        _NODES, account_id, [level for level, _ in wanted], [index for _, index in wanted]
    )
    return {(row["level"], row["node_index"]): bytes(row["hash"]) for row in rows}


async def border(conn: Conn, account_id: str, size: int) -> list[bytes]:
    wanted = border_nodes(size)
    found = await nodes(conn, account_id, wanted)
    return [found[node] for node in wanted]


async def root(conn: Conn, account_id: str, size: int) -> bytes:
    return root_from_border(await border(conn, account_id, size))


async def proofs(conn: Conn, account_id: str, plans: Sequence[ProofPlan]) -> list[list[bytes]]:
    """Every plan's proof, from one fetch of the nodes they need."""
    wanted = list(dict.fromkeys(node for plan in plans for node in plan.nodes))
    found = await nodes(conn, account_id, wanted)
    return [plan.assemble(found) for plan in plans]


async def inclusion(conn: Conn, account_id: str, leaf_index: int, size: int) -> list[bytes]:
    (path,) = await proofs(conn, account_id, [inclusion_plan(leaf_index, size)])
    return path


async def consistency(conn: Conn, account_id: str, old: int, new: int) -> list[bytes]:
    if old == new:
        return []
    (proof,) = await proofs(conn, account_id, [consistency_plan(old, new)])
    return proof
