"""CONTRACT §6.2: the account log's signed checkpoints, its proofs, and the signing key."""

from __future__ import annotations

from aiohttp import web

from domain.errors import NotFound
from projections.audit import tree
from projections.audit.checkpoints import checkpoints_after, latest_checkpoint, leaf_indexes
from projections.audit.notes import public_key_bytes
from projections.audit.signer import Signer
from service.api.audit_answers import (
    Checkpoint,
    CheckpointList,
    ConsistencyProof,
    InclusionProof,
    PublicKey,
)
from service.api.auth import AUDIT_READ
from service.api.errors import InvalidInput
from service.api.keys import POOL
from service.api.params import CheckpointsQuery, ConsistencyQuery, InclusionQuery
from service.api.render import b64, checkpoint_json
from service.api.routing import Call, Reply, Routes

routes = Routes()
SIGNER = web.AppKey("signer", Signer)
AUDIT = {"tag": "Audit", "scopes": (AUDIT_READ,)}


def _beyond(field: str, size: int) -> InvalidInput:
    reason = f"the sealed log has {size} leaves"
    return InvalidInput(
        f"Invalid query parameter {field}: {reason}", {"field": field, "reason": reason}
    )


@routes.route(
    "GET",
    "/v3/accounting/audit/checkpoints/latest",
    operation_id="getLatestCheckpoint",
    summary="The account log's latest signed checkpoint (extension)",
    description="Keep it: a later checkpoint must be consistent with it (see the "
    "consistency proof), or history was rewritten.",
    answers={200: Checkpoint},
    errors=(NotFound,),
    **AUDIT,
)
async def latest(call: Call[None, None, None]) -> Reply:
    async with call.request.app[POOL].acquire() as conn:
        found = await latest_checkpoint(conn, call.principal.account_id)
    if found is None:
        raise NotFound("The account's log has no signed checkpoint yet.")
    return Reply(checkpoint_json(found))


@routes.route(
    "GET",
    "/v3/accounting/audit/checkpoints",
    operation_id="listCheckpoints",
    summary="The account log's signed checkpoints (extension)",
    description="Checkpoints of trees larger than `after_size`, smallest first.",
    query=CheckpointsQuery,
    answers={200: CheckpointList},
    **AUDIT,
)
async def checkpoints(call: Call[None, CheckpointsQuery, None]) -> Reply:
    q = call.query
    async with call.request.app[POOL].acquire() as conn:
        found = await checkpoints_after(conn, call.principal.account_id, q.after_size, q.limit)
    return Reply({"items": [checkpoint_json(c) for c in found]})


@routes.route(
    "GET",
    "/v3/accounting/audit/proofs/inclusion",
    operation_id="getInclusionProof",
    summary="Prove an event is in the account log (extension)",
    description="The RFC 9162 §2.1.3 inclusion proof of the event at `position` in the "
    "tree of `tree_size` leaves.",
    query=InclusionQuery,
    answers={200: InclusionProof},
    errors=(NotFound,),
    **AUDIT,
)
async def inclusion(call: Call[None, InclusionQuery, None]) -> Reply:
    account_id, q = call.principal.account_id, call.query
    async with call.request.app[POOL].acquire() as conn:
        leaf = (await leaf_indexes(conn, account_id, [q.position])).get(q.position)
        if leaf is None:
            raise NotFound(f"No sealed event at position {q.position} in the account's log.")
        size = await tree.tree_size(conn, account_id)
        if q.tree_size > size:
            raise _beyond("tree_size", size)
        if q.tree_size <= leaf:
            raise InvalidInput(
                f"Invalid query parameter tree_size: leaf {leaf} is not in a tree that small",
                {"field": "tree_size", "reason": f"must be above the leaf index {leaf}"},
            )
        path = await tree.inclusion(conn, account_id, leaf, q.tree_size)
    return Reply(
        {"leaf_index": leaf, "tree_size": q.tree_size, "audit_path": [b64(h) for h in path]}
    )


@routes.route(
    "GET",
    "/v3/accounting/audit/proofs/consistency",
    operation_id="getConsistencyProof",
    summary="Prove a newer log extends an older one (extension)",
    description="The RFC 9162 §2.1.4 consistency proof between the trees of `from_size` and "
    "`to_size` leaves: nothing in the older tree was changed, removed or reordered.",
    query=ConsistencyQuery,
    answers={200: ConsistencyProof},
    **AUDIT,
)
async def consistency(call: Call[None, ConsistencyQuery, None]) -> Reply:
    account_id, q = call.principal.account_id, call.query
    if q.from_size > q.to_size:
        raise InvalidInput(
            "Invalid query parameter from_size: larger than to_size",
            {"field": "from_size", "reason": "must not be larger than to_size"},
        )
    async with call.request.app[POOL].acquire() as conn:
        size = await tree.tree_size(conn, account_id)
        if q.to_size > size:
            raise _beyond("to_size", size)
        proof = await tree.consistency(conn, account_id, q.from_size, q.to_size)
    return Reply({"from_size": q.from_size, "to_size": q.to_size, "proof": [b64(h) for h in proof]})


@routes.route(
    "GET",
    "/v3/accounting/audit/public-key",
    operation_id="getAuditPublicKey",
    summary="The key that signs the checkpoints (extension)",
    description="Ed25519; `verifier_key` is the C2SP signed-note verifier key.",
    answers={200: PublicKey},
    errors=(NotFound,),
    **AUDIT,
)
async def public_key(call: Call[None, None, None]) -> Reply:
    signer = call.request.app.get(SIGNER)
    if signer is None:
        raise NotFound("This deployment signs no checkpoints (AUDIT_SIGNING_KEY_FILE is unset).")
    return Reply(
        {
            "key_name": signer.key_name,
            "algorithm": "Ed25519",
            "public_key": b64(public_key_bytes(signer.private_key.public_key())),
            "verifier_key": signer.verifier_key,
        }
    )
