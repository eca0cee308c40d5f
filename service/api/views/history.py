"""CONTRACT §6.1: a record's history and the account's gap-free event feed."""

from __future__ import annotations

from typing import Any

from domain.errors import NotFound
from eventstore.errors import InvalidCursor
from eventstore.store import read_account_texts, read_stream
from eventstore.types import START, Conn, FeedCursor, RecordedEvent
from projections.audit import tree
from projections.audit.checkpoints import SignedCheckpoint, latest_checkpoint, leaf_indexes
from projections.audit.merkle import inclusion_plan
from service.api.audit_answers import EventPage, History
from service.api.auth import AUDIT_READ
from service.api.errors import InvalidInput
from service.api.keys import POOL
from service.api.params import EventsQuery, HistoryQuery, RecordPath
from service.api.render import b64, checkpoint_json, event_json
from service.api.routing import Call, Reply, Routes

routes = Routes()
AUDIT = {"tag": "Audit", "scopes": (AUDIT_READ,)}


@routes.route(
    "GET",
    "/v3/accounting/records/{record_id}/history",
    operation_id="getAccountingRecordHistory",
    summary="Every event of a record (extension)",
    description="The record's events as stored, oldest first, with who caused each (client, "
    "request, idempotency key) and its hash chain. With `proof=true`, each sealed event also "
    "carries its leaf index and an inclusion proof against the latest signed checkpoint.",
    path_params=RecordPath,
    query=HistoryQuery,
    answers={200: History},
    errors=(NotFound,),
    **AUDIT,
)
async def record_history(call: Call[RecordPath, HistoryQuery, None]) -> Reply:
    account_id, record_id = call.principal.account_id, call.path.record_id
    async with call.request.app[POOL].acquire() as conn:
        stream = await read_stream(conn, account_id, record_id)
        if not stream:
            raise NotFound(f"Accounting record {record_id} not found.")
        if not call.query.proof:
            return Reply({"items": [event_json(e) for e in stream]})
        return Reply(await _with_proofs(conn, account_id, stream))


async def _with_proofs(conn: Conn, account_id: str, stream: list[RecordedEvent]) -> dict[str, Any]:
    checkpoint = await latest_checkpoint(conn, account_id)
    size = checkpoint.tree_size if checkpoint else 0
    leaves = await leaf_indexes(conn, account_id, [e.position for e in stream])
    # Sealed: a leaf of the tree the checkpoint signs.
    sealed = [e for e in stream if e.position in leaves and leaves[e.position] < size]
    plans = [inclusion_plan(leaves[e.position], size) for e in sealed]
    proofs = await tree.proofs(conn, account_id, plans)
    paths = dict(zip((e.position for e in sealed), proofs, strict=True))
    items = []
    for event in stream:
        item = event_json(event)
        if event.position in paths:
            item["leaf_index"] = leaves[event.position]
            item["audit_path"] = [b64(h) for h in paths[event.position]]
        items.append(item)
    return {"items": items, **_checkpoint(checkpoint)}


def _checkpoint(checkpoint: SignedCheckpoint | None) -> dict[str, Any]:
    return {"checkpoint": checkpoint_json(checkpoint)} if checkpoint else {}


@routes.route(
    "GET",
    "/v3/accounting/events",
    operation_id="listAccountEvents",
    summary="The account's events in commit order (extension)",
    description="Gap-free: a reader that follows `next_cursor` sees every event of the "
    "account exactly once, even one whose transaction committed late.",
    query=EventsQuery,
    answers={200: EventPage},
    **AUDIT,
)
async def account_events(call: Call[None, EventsQuery, None]) -> Reply:
    try:
        after = FeedCursor.decode(call.query.after) if call.query.after else START
    except InvalidCursor:
        reason = "not a cursor returned by this API"
        raise InvalidInput(
            f"Invalid query parameter after: {reason}", {"field": "after", "reason": reason}
        ) from None
    async with call.request.app[POOL].acquire() as conn:
        events, cursor = await read_account_texts(
            conn, call.principal.account_id, after, call.query.limit
        )
    return Reply({"items": [event_json(e) for e in events], "next_cursor": cursor.encode()})
