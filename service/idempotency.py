"""Idempotency-Key: the first request with a key runs; repeats get its stored answer.

The key row is inserted in the same transaction as the events it guards, so a concurrent
duplicate waits on the row lock and then reads the committed answer: the database, not
timing, decides which request runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from eventstore.pool import dumps
from eventstore.types import Conn
from service.errors import ApiError

_CLAIM = """
INSERT INTO idempotency_keys (account_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING true
"""
_STORED = (
    "SELECT request_hash, status, body FROM idempotency_keys WHERE account_id = $1 AND key = $2"
)
_STORE = "UPDATE idempotency_keys SET status = $3, body = $4 WHERE account_id = $1 AND key = $2"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    """Same method, path and JSON body (key order and spacing aside) -> same fingerprint."""
    canonical = dumps({"method": method, "path": path, "body": body})
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(conn: Conn, account_id: str, key: str, request_hash: str) -> StoredAnswer | None:
    """Own the key (None) or get the answer stored for it; a different request is refused."""
    if await conn.fetchval(_CLAIM, account_id, key, request_hash):
        return None
    row = await conn.fetchrow(_STORED, account_id, key)
    assert row is not None, "a key that is not ours was stored by a committed request"
    if row["request_hash"] != request_hash:
        raise ApiError(
            422,
            "INVALID_REQUEST",
            "This Idempotency-Key was already used with a different request.",
            {"idempotency_key": key},
        )
    return StoredAnswer(row["status"], row["body"])


async def store(conn: Conn, account_id: str, key: str, status: int, body: Any) -> None:
    await conn.execute(_STORE, account_id, key, status, body)
