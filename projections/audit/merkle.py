"""RFC 9162 Merkle tree math over stored complete subtrees.

The leaves are the events' 32-byte chain hashes in feed order; the tree hashes them
as `SHA-256(0x00 ‖ leaf)` and joins nodes as `SHA-256(0x01 ‖ left ‖ right)`.

Storage model: only COMPLETE subtrees are stored, as `(level, index, hash)`; node
`(level, index)` covers leaves `[index·2^level, (index+1)·2^level)` and level 0 holds
leaf hashes. A complete node never changes once written, so the tree grows by
appending rows. Any other hash (a root, the right edge of a proof) is a fold of a
few complete nodes, which is why proof generation comes in two phases: a plan names
every stored node it needs (one query), then assembles the proof from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

NodeId = tuple[int, int]
"""(level, index) of a complete subtree."""
StoredNode = tuple[int, int, bytes]
"""(level, index, hash) as the sealer stores it."""
Range = tuple[int, int]
"""Leaves [start, end)."""

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The complete subtrees that cover leaves [start, end), left to right, each the
    largest aligned one that fits."""
    if not 0 <= start <= end:
        raise ValueError(f"not a leaf range: [{start}, {end})")
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def border_nodes(size: int) -> list[NodeId]:
    """The right border of a tree of `size` leaves: its complete subtrees, largest first."""
    return range_nodes(0, size)


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its covering `range_nodes`, hashing right to left.

    Only valid when the range starts at a multiple of a power of two at least its
    length (a whole tree, or the right edge of one), as every proof entry does.
    """
    if not hashes:
        raise ValueError("nothing to fold")
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def root_from_border(border: Sequence[bytes]) -> bytes:
    return fold_right(border) if border else EMPTY_ROOT


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already hashed leaves."""
    return root_from_border(append_leaves(0, (), leaf_hashes).border)


@dataclass(frozen=True)
class Appended:
    size: int
    border: tuple[bytes, ...]
    nodes: tuple[StoredNode, ...]
    """Every complete subtree the batch completed, leaves included, in creation order."""


def append_leaves(size: int, border: Sequence[bytes], leaf_hashes: Iterable[bytes]) -> Appended:
    """Append leaf hashes (already `leaf_hash`ed) to a tree of `size` leaves whose
    border is given (the hashes of `border_nodes(size)`): O(batch · log size)."""
    levels = [level for level, _ in border_nodes(size)]
    if len(levels) != len(border):
        raise ValueError(
            f"a tree of {size} leaves has {len(levels)} border nodes, got {len(border)}"
        )
    # The border is a stack of perfect subtrees of strictly decreasing height.
    stack = list(zip(levels, border, strict=True))
    nodes: list[StoredNode] = []
    for current in leaf_hashes:
        _check_hash(current, "leaf hash")
        nodes.append((0, size, current))
        size += 1
        level = 0
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
            nodes.append((level, (size >> level) - 1, current))
        stack.append((level, current))
    return Appended(size, tuple(h for _, h in stack), tuple(nodes))


class MissingNode(LookupError):
    pass


@dataclass(frozen=True)
class ProofPlan:
    """A proof as leaf ranges, one per proof entry in proof order; each entry is the
    MTH of its range, folded from the complete subtrees listed in `nodes`."""

    entries: tuple[Range, ...]

    @property
    def nodes(self) -> tuple[NodeId, ...]:
        """Every stored node the proof needs, without repeats."""
        return tuple(
            dict.fromkeys(n for start, end in self.entries for n in range_nodes(start, end))
        )

    def assemble(self, stored: Mapping[NodeId, bytes]) -> list[bytes]:
        proof = []
        for start, end in self.entries:
            try:
                hashes = [stored[node] for node in range_nodes(start, end)]
            except KeyError as missing:
                raise MissingNode(f"node {missing.args[0]} is not stored") from None
            proof.append(fold_right(hashes))
        return proof


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    entries: list[Range] = []
    start, end = 0, size
    # Walk down from the root; the path lists the siblings from the leaf up.
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            entries.append((middle, end))
            end = middle
        else:
            entries.append((start, middle))
            start = middle
    return ProofPlan(tuple(reversed(entries)))


def consistency_plan(m: int, n: int) -> ProofPlan:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1, defined for 0 < m <= n (empty when m == n)."""
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from {m} to {n} leaves")
    entries: list[Range] = []
    start, end = 0, n
    known = True  # SUBPROOF's flag: the verifier knows MTH(D[start:m]) already
    while m != end:
        middle = start + _split(end - start)
        if m <= middle:
            entries.append((middle, end))
            end = middle
        else:
            entries.append((start, middle))
            start = middle
            known = False
    if not known:
        entries.append((start, end))
    return ProofPlan(tuple(reversed(entries)))


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ValueError(f"a {what} is {HASH_SIZE} bytes, got {len(value)}")


def _all_hashes(*values: bytes) -> bool:
    return all(len(value) == HASH_SIZE for value in values)


def verify_inclusion(
    leaf: bytes, index: int, size: int, audit_path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, `leaf` being the leaf hash (`leaf_hash` of the event hash)."""
    if not (0 <= index < size and _all_hashes(leaf, root, *audit_path)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    m: int, n: int, proof: Sequence[bytes], root_m: bytes, root_n: bytes
) -> bool:
    """RFC 9162 §2.1.4.2. The RFC defines proofs for 0 < m <= n only: from m == n the
    proof is empty and the roots are equal; from an empty tree there is nothing to
    prove, so m == 0 is refused (as the RFC's reference implementations do)."""
    if not (0 < m <= n and _all_hashes(root_m, root_n, *proof)):
        return False
    if m == n:
        return not proof and root_m == root_n
    if not proof:
        return False
    path = [root_m, *proof] if m & (m - 1) == 0 else list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0
