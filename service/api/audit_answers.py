"""What the audit operations answer with (CONTRACT §6.1, §6.2)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.api.answers import omit_unknown

HEX = "^[0-9a-f]{64}$"


class EventMetadata(BaseModel):
    """Who caused the event (more keys may come)."""

    model_config = ConfigDict(extra="allow", json_schema_extra=omit_unknown)

    client_id: str
    request_id: str
    idempotency_key: str | None = None


class StoredEvent(BaseModel):
    """An event exactly as stored: its hash covers these bytes (README: For auditors)."""

    position: int = Field(description="Its place in the log; the feed orders by commit.")
    stream_id: str = Field(description="The record id, or `integrations`.")
    version: int = Field(ge=1)
    type: str
    schema_version: int = Field(ge=1)
    recorded_at: str = Field(
        json_schema_extra={"format": "date-time"},
        description="UTC, with microseconds, as hashed.",
    )
    data: dict[str, Any]
    metadata: EventMetadata
    hash: str = Field(pattern=HEX, description="SHA-256(prev_hash ‖ canonical bytes), hex.")
    prev_hash: str = Field(pattern=HEX, description="The stream's previous hash (or zeros).")


class SealedEvent(StoredEvent):
    """With `proof=true`: a sealed event's leaf and its inclusion proof."""

    model_config = ConfigDict(json_schema_extra=omit_unknown)

    leaf_index: int | None = None
    audit_path: list[str] | None = Field(None, description="RFC 9162 inclusion proof, base64.")


class Checkpoint(BaseModel):
    tree_size: int = Field(ge=1)
    root_hash: str = Field(description="SHA-256, base64.")
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    note: str = Field(description="C2SP tlog-checkpoint text in a C2SP signed note (Ed25519).")


class History(BaseModel):
    model_config = ConfigDict(json_schema_extra=omit_unknown)

    items: list[SealedEvent] = Field(description="Every event of the record, oldest first.")
    checkpoint: Checkpoint | None = Field(
        None, description="With `proof=true`: the checkpoint the proofs lead to, if any."
    )


class EventPage(BaseModel):
    items: list[StoredEvent] = Field(description="In commit order.")
    next_cursor: str = Field(description="Pass as `after` for the next page.")


class CheckpointList(BaseModel):
    items: list[Checkpoint] = Field(description="Smallest tree first.")


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3 inclusion proof, base64.")


class ConsistencyProof(BaseModel):
    from_size: int
    to_size: int
    proof: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, base64.")


class PublicKey(BaseModel):
    key_name: str
    algorithm: Literal["Ed25519"]
    public_key: str = Field(description="The raw 32-byte key, base64.")
    verifier_key: str = Field(description="The C2SP signed-note verifier key.")
