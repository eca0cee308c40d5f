"""Idempotency-Key: the first command with a key runs; a repeat gets its stored outcome.

The key row is inserted in the same transaction as the events it guards, so a concurrent
duplicate waits on the row lock and then reads the committed outcome: the database, not
timing, decides which request runs. What is kept is the outcome, not an answer: the result
(as JSON) or the refusal (its type, message and details); the edge renders either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import simplejson
from pydantic import BaseModel

from domain.errors import DomainError
from eventstore.types import Conn

_CLAIM = """
INSERT INTO idempotency_keys (account_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (account_id, key) DO NOTHING
RETURNING true
"""
_STORED = "SELECT request_hash, outcome FROM idempotency_keys WHERE account_id = $1 AND key = $2"
_STORE = "UPDATE idempotency_keys SET outcome = $3 WHERE account_id = $1 AND key = $2"

# Fields the server fills in, not the client: a retry gets new ones, yet is the same request.
SERVER_MADE = frozenset({"new_integration_id"})


class KeyReused(Exception):
    """The key was first used for a different command."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used for a different request.")
        self.key = key


@dataclass(frozen=True)
class StoredResult:
    value: Any  # the result in JSON form


@dataclass(frozen=True)
class StoredRefusal:
    error: DomainError


@dataclass(frozen=True)
class StoredAnswer:
    """An answer kept, already rendered, by a version that stored answers, not outcomes."""

    status: int
    body: Any


Stored = StoredResult | StoredRefusal | StoredAnswer


def fingerprint(command: BaseModel) -> str:
    """The same command (whatever the key order or spacing of the JSON it came in) has the
    same fingerprint; any other command, or the same one on another record, has another."""
    fields = command.model_dump(mode="python", exclude=set(SERVER_MADE))
    canonical = simplejson.dumps(
        {"command": type(command).__name__, "fields": fields}, use_decimal=True, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(conn: Conn, account_id: str, key: str, request_hash: str) -> Stored | None:
    """Own the key (None) or get the outcome stored for it; another command is refused."""
    if await conn.fetchval(_CLAIM, account_id, key, request_hash):
        return None
    row = await conn.fetchrow(_STORED, account_id, key)
    assert row is not None, "a key that is not ours was stored by a committed request"
    stored = _stored(row["outcome"])
    # An answer kept by an older version was fingerprinted from the raw body, which cannot be
    # recomputed now: a repeat of its key gets that answer, as a retry would have.
    if row["request_hash"] != request_hash and not isinstance(stored, StoredAnswer):
        raise KeyReused(key)
    return stored


def _stored(outcome: dict[str, Any]) -> Stored:
    if "result" in outcome:
        return StoredResult(outcome["result"])
    if "refusal" in outcome:
        refusal = outcome["refusal"]
        return StoredRefusal(_restore(refusal["type"], refusal["message"], refusal["details"]))
    answer = outcome["answer"]
    return StoredAnswer(answer["status"], answer["body"])


async def store_result(conn: Conn, account_id: str, key: str, value: Any) -> None:
    await conn.execute(_STORE, account_id, key, {"result": value})


async def store_refusal(conn: Conn, account_id: str, key: str, error: DomainError) -> None:
    refusal = {"type": type(error).__name__, "message": error.message, "details": error.details}
    await conn.execute(_STORE, account_id, key, {"refusal": refusal})


def _restore(type_name: str, message: str, details: dict[str, Any] | None) -> DomainError:
    cls = _refusal_types()[type_name]
    error = cls.__new__(cls)
    DomainError.__init__(error, message, details)
    return error


def _refusal_types(root: type[DomainError] = DomainError) -> dict[str, type[DomainError]]:
    found = {root.__name__: root}
    for sub in root.__subclasses__():
        found |= _refusal_types(sub)
    return found
