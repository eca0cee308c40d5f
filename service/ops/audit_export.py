"""Write an account's audit bundle: its sealed events in leaf order, its signed
checkpoints, the consistency proofs between them, the public key, and the standalone
verifier (verify_bundle.py) that checks it all without our code."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eventstore.canonical import canonical_json, format_instant
from eventstore.types import Conn
from projections.audit import tree
from projections.audit.checkpoints import checkpoints_after
from projections.audit.notes import public_key_bytes
from projections.audit.signer import Signer
from service.ops import verify_bundle

FORMAT = "accounting-audit-bundle/1"
_LEAF_EVENTS = """
SELECT l.leaf_index, e.position, e.account_id, e.stream_id, e.version, e.type,
       e.schema_version, e.recorded_at, e.data, e.metadata, e.prev_hash, e.hash
FROM audit_leaves l JOIN events e ON e.account_id = l.account_id AND e.position = l.position
WHERE l.account_id = $1 AND l.leaf_index < $2 ORDER BY l.leaf_index
"""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _line(row: Any) -> str:
    # canonical_json writes numbers exactly as stored (plain digits, scale kept).
    return canonical_json(
        {
            "leaf_index": row["leaf_index"],
            "position": row["position"],
            "account_id": row["account_id"],
            "stream_id": row["stream_id"],
            "version": row["version"],
            "type": row["type"],
            "schema_version": row["schema_version"],
            "recorded_at": format_instant(row["recorded_at"]),
            "data": row["data"],
            "metadata": row["metadata"],
            "prev_hash": bytes(row["prev_hash"]).hex(),
            "hash": bytes(row["hash"]).hex(),
        }
    )


async def export_bundle(
    conn: Conn,
    account_id: str,
    signer: Signer,
    out: Path,
    progress: Callable[[int], None] = lambda n: None,
) -> dict[str, Any]:
    """Write the bundle into the directory `out`; returns its manifest. Only events under
    the latest checkpoint are included: a later event is in no signed tree yet."""
    signed = await checkpoints_after(conn, account_id, 0, limit=10**9)
    size = signed[-1].tree_size if signed else 0
    with (out / "events.jsonl").open("w", encoding="utf-8") as events:
        async for row in conn.cursor(_LEAF_EVENTS, account_id, size, prefetch=2000):
            events.write(_line(row) + "\n")
            progress(1)
    with (out / "checkpoints.jsonl").open("w", encoding="utf-8") as lines:
        for c in signed:
            lines.write(
                canonical_json(
                    {
                        "tree_size": c.tree_size,
                        "root_hash": _b64(c.root_hash),
                        "created_at": format_instant(c.created_at),
                        "note": c.note,
                    }
                )
                + "\n"
            )
    with (out / "consistency.jsonl").open("w", encoding="utf-8") as lines:
        for old, new in itertools.pairwise(signed):
            proof = await tree.consistency(conn, account_id, old.tree_size, new.tree_size)
            entry = {"from_size": old.tree_size, "to_size": new.tree_size}
            lines.write(canonical_json(entry | {"proof": [_b64(h) for h in proof]}) + "\n")
    public = signer.private_key.public_key()
    key = {
        "key_name": signer.key_name,
        "algorithm": "Ed25519",
        "public_key": _b64(public_key_bytes(public)),
        "verifier_key": signer.verifier_key,
    }
    (out / "public-key.json").write_text(json.dumps(key, indent=2) + "\n", encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "account_id": account_id,
        "origin": signer.origin(account_id),
        "events": size,
        "checkpoints": len(signed),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(verify_bundle.__file__, out / "verify_bundle.py")
    return manifest
