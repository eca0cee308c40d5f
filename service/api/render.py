"""Domain state -> the JSON objects the API answers with."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from domain.integrations import Integration
from domain.records import RecordState
from eventstore.canonical import format_instant
from eventstore.types import EventText, RecordedEvent
from projections.audit.checkpoints import SignedCheckpoint


def record_json(state: RecordState, single_entry: bool = False) -> dict[str, Any]:
    content = state.content.model_dump(mode="python")
    if content["user"] is not None:
        # The public User object has optional, non-nullable fields: omit what is unknown.
        content["user"] = {k: v for k, v in content["user"].items() if v is not None}
    if single_entry:
        side = state.content.expense_side().value
        content["line_items"] = [li for li in content["line_items"] if li["type"] == side]
    export = state.export.model_dump(mode="python") if state.export else None
    return {
        "id": state.id,
        **content,
        "review_status": state.review_status.value,
        "updated_at": state.model_dump(mode="python", include={"updated_at"})["updated_at"],
        "version": state.version,
        "export": export,
    }


def integration_json(integration: Integration) -> dict[str, Any]:
    body = integration.model_dump(mode="python")
    return {"integration_id": integration.integration_id, "id": integration.integration_id, **body}


def event_json(event: RecordedEvent | EventText) -> dict[str, Any]:
    """An event as stored, its time as hashed (eventstore.canonical). Bodies read as text
    go out as that text, undecoded."""
    if isinstance(event, EventText):
        data: Any = orjson.Fragment(event.data_json)
        metadata: Any = orjson.Fragment(event.metadata_json)
    else:
        data, metadata = event.data, event.metadata
    return {
        "position": event.position,
        "stream_id": event.stream_id,
        "version": event.version,
        "type": event.type,
        "schema_version": event.schema_version,
        "recorded_at": format_instant(event.recorded_at),
        "data": data,
        "metadata": metadata,
        "hash": event.hash.hex(),
        "prev_hash": event.prev_hash.hex(),
    }


def checkpoint_json(checkpoint: SignedCheckpoint) -> dict[str, Any]:
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": b64(checkpoint.root_hash),
        "created_at": format_instant(checkpoint.created_at),
        "note": checkpoint.note,
    }


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
