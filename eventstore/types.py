"""Plain values that go in and come out of the event store."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from eventstore.errors import InvalidCursor

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: Mapping[str, Any]
    schema_version: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)
    event_id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True)
class StreamWrite:
    """Events for one stream, valid only if the stream is at `expected_version` (0: new)."""

    account_id: str
    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


@dataclass(frozen=True)
class InLog:
    """A place in the log: the event's position, and the transaction that wrote it."""

    position: int
    tx: int

    @property
    def cursor(self) -> FeedCursor:
        return FeedCursor(self.tx, self.position)


@dataclass(frozen=True)
class RecordedEvent(InLog):
    event_id: UUID
    account_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: JsonObject
    metadata: JsonObject
    recorded_at: datetime
    prev_hash: bytes  # the stream's previous event's hash (32 zero bytes at version 1)
    hash: bytes  # SHA-256(prev_hash ‖ canonical bytes): see eventstore.canonical


_CURSOR = re.compile(r"([0-9]{1,20})-([0-9]{1,19})")


@dataclass(frozen=True, order=True)
class FeedCursor:
    """A place in the commit-ordered feed: (transaction id, position)."""

    tx: int
    position: int

    def encode(self) -> str:
        return f"{self.tx}-{self.position}"

    @classmethod
    def decode(cls, text: str) -> FeedCursor:
        # Digits only: int() would also take " 5", "+5", "1_0" and other scripts' digits.
        found = _CURSOR.fullmatch(text)
        if found is None:
            raise InvalidCursor(f"not a feed cursor: {text!r}")
        tx, position = int(found[1]), int(found[2])
        # Within xid8 and bigint, or the database would refuse the query.
        if not (0 <= tx < 2**64 and 0 <= position < 2**63):
            raise InvalidCursor(f"not a feed cursor: {text!r}")
        return cls(tx, position)


START = FeedCursor(0, 0)


@dataclass(frozen=True)
class FeedEntry(InLog):
    """An event's place and identity in the log, without its body: what catch-up
    projectors follow (each reads the bodies it needs, if any)."""

    account_id: str
    stream_id: str
    version: int
    type: str
    recorded_at: datetime
    hash: bytes


@dataclass(frozen=True)
class EventText(InLog):
    """A recorded event whose body and metadata stay the JSON text the database holds:
    for readers that pass events on as they are (the feed), without decoding them."""

    account_id: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    data_json: str
    metadata_json: str
    recorded_at: datetime
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True)
class FeedPage:
    events: list[RecordedEvent]
    cursor: FeedCursor


# A plain connection or one borrowed from a pool: both run the same queries.
Conn = asyncpg.Connection | PoolConnectionProxy
