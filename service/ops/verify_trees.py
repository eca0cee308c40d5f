"""Verify the account logs: recompute every tree from the events' stored hashes, in leaf
order (one pass, O(log n) memory), and check each signed checkpoint against it, successive
checkpoints against each other, and checkpoints an auditor saved earlier."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from eventstore.types import Conn
from projections.audit import tree
from projections.audit.checkpoints import SignedCheckpoint, checkpoints_after
from projections.audit.merkle import append_leaves, leaf_hash, root_from_border, verify_consistency
from projections.audit.notes import Checkpoint, NoteError, Verifier, open_note, parse_checkpoint
from projections.audit.sealer import NAME as SEALER
from projections.catchup import checkpoint as runner_checkpoint
from service.ops.verify_log import Mismatch, Progress, Report

_LEAVES = """
SELECT l.leaf_index, l.position, e.hash FROM audit_leaves l
LEFT JOIN events e ON e.account_id = l.account_id AND e.position = l.position
WHERE l.account_id = $1 ORDER BY l.leaf_index
"""
_SEALED_EVENTS = """
SELECT count(*) FROM events
WHERE account_id = $1 AND (tx, position) <= ($2::text::xid8, $3::bigint)
"""


@dataclass(frozen=True)
class Expectation:
    """A size at which the recomputed root must have a known value, and where it came from."""

    size: int
    root: bytes
    source: str


async def _roots(
    conn: Conn, account: str, sizes: Sequence[int], report: Report, progress: Progress
) -> dict[int, bytes] | None:
    """The recomputed root at each of `sizes`, from the events' stored hashes; None when a
    leaf's event is gone (reported)."""
    wanted, roots = sorted(set(sizes)), {}
    size, border, pending = 0, tuple[bytes, ...](), list[bytes]()
    async for row in conn.cursor(_LEAVES, account, prefetch=2000):
        where = f"leaf {row['leaf_index']} (position {row['position']})"
        if row["leaf_index"] != size + len(pending):
            report(Mismatch(account, where, f"leaf {size + len(pending)} is missing"))
            return None
        if row["hash"] is None:
            report(Mismatch(account, where, "its event is missing from the log"))
            return None
        pending.append(leaf_hash(bytes(row["hash"])))
        if wanted and size + len(pending) == wanted[0]:
            grown = append_leaves(size, border, pending)
            size, border, pending = grown.size, grown.border, []
            roots[wanted.pop(0)] = root_from_border(border)
            progress(grown.size)
    for missing in wanted:
        roots.setdefault(missing, b"")
    return roots


def _note_problem(saved: SignedCheckpoint, verifier: Verifier, origin: str) -> str | None:
    """What is wrong with a stored checkpoint's signed note, if anything."""
    try:
        body = parse_checkpoint(open_note(saved.note, verifier))
    except NoteError as exc:
        return f"its note does not verify: {exc}"
    if (body.origin, body.size, body.root_hash) != (origin, saved.tree_size, saved.root_hash):
        return "its note names another log, size or root than its row"
    return None


async def verify_tree(
    conn: Conn,
    account: str,
    origin: str,
    verifier: Verifier,
    trusted: Sequence[Checkpoint],
    report: Report,
    progress: Progress = lambda n: None,
) -> None:
    size = await tree.tree_size(conn, account)
    signed = await checkpoints_after(conn, account, 0, limit=10**9)
    expected: list[Expectation] = []
    for saved in signed:
        where = f"checkpoint {saved.tree_size}"
        if problem := _note_problem(saved, verifier, origin):
            report(Mismatch(account, where, problem))
        expected.append(Expectation(saved.tree_size, saved.root_hash, where))
    for kept in trusted:
        where = f"saved checkpoint {kept.size}"
        if kept.size > size:
            report(Mismatch(account, where, f"the log was truncated: it has {size} leaves"))
        else:
            expected.append(Expectation(kept.size, kept.root_hash, where))
    roots = await _roots(conn, account, [e.size for e in expected] + [size], report, progress)
    if roots is None:
        return
    for want in expected:
        if roots.get(want.size) != want.root:
            report(Mismatch(account, want.source, "its root is not the log's: history changed"))
    for old, new in itertools.pairwise(signed):
        proof = await tree.consistency(conn, account, old.tree_size, new.tree_size)
        if not verify_consistency(
            old.tree_size, new.tree_size, proof, old.root_hash, new.root_hash
        ):
            where = f"checkpoints {old.tree_size} and {new.tree_size}"
            report(Mismatch(account, where, "the stored tree does not prove them consistent"))
    at = await runner_checkpoint(conn, SEALER)
    sealed = await conn.fetchval(_SEALED_EVENTS, account, str(at.tx), at.position)
    if sealed != size:
        report(
            Mismatch(account, "tree", f"{sealed} events were sealed, the tree has {size} leaves")
        )
