"""Idempotency-Key: the first command with a key runs; a repeat gets its stored outcome.

The key is read with everything else a command decides against, and claimed by the
command's write statement, outcome and all: a concurrent duplicate's claim waits on the
key's row, finds it taken, and its write fails as a lost race; it decides again, and now
reads the committed outcome. The database, not timing, decides which request runs. What
is kept is the outcome, not an answer: the result (as JSON) or the refusal (its type,
message and details); the edge renders either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import simplejson
from pydantic import BaseModel

from domain.errors import DomainError
from eventstore.statement import Statement

# The keys a batch names, as rows of a combined read (service.commands.loading).
_READ = """
SELECT 'key' AS kind, account_id, key, jsonb_build_object('hash', request_hash,
                                                        'outcome', outcome) AS doc,
       NULL::timestamptz AS at
FROM idempotency_keys WHERE (account_id, key) IN (SELECT * FROM unnest({}, {}))"""
_CLAIM = """
INSERT INTO idempotency_keys (account_id, key, request_hash, outcome)
SELECT * FROM unnest({}, {}, {}, {})
ON CONFLICT (account_id, key) DO NOTHING
RETURNING 1"""

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


@dataclass(frozen=True)
class Claim:
    """A key to claim in the write, with the outcome it keeps."""

    account_id: str
    key: str
    fingerprint: str
    outcome: dict[str, Any]


def fingerprint(command: BaseModel) -> str:
    """The same command (whatever the key order or spacing of the JSON it came in) has the
    same fingerprint; any other command, or the same one on another record, has another."""
    fields = command.model_dump(mode="python", exclude=set(SERVER_MADE))
    canonical = simplejson.dumps(
        {"command": type(command).__name__, "fields": fields}, use_decimal=True, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_part(stmt: Statement, keys: Sequence[tuple[str, str]]) -> str:
    accounts = stmt.unseen([a for a, _ in keys], "text[]")
    names = stmt.unseen([k for _, k in keys], "text[]")
    return _READ.format(accounts, names)


def claim_part(stmt: Statement, claims: Sequence[Claim]) -> str:
    """Add the claims to `stmt` (as `keys_claimed`); the SQL condition that all succeeded."""
    columns = (
        [c.account_id for c in claims],
        [c.key for c in claims],
        [c.fingerprint for c in claims],
        [c.outcome for c in claims],
    )
    types = ("text[]", "text[]", "text[]", "jsonb[]")
    stmt.with_(
        "keys_claimed",
        _CLAIM.format(*(stmt.param(c, t) for c, t in zip(columns, types, strict=True))),
    )
    return f"(SELECT count(*) FROM keys_claimed) = {len(claims)}"


def stored(key: str, request_hash: str, outcome: dict[str, Any], wanted: str) -> Stored:
    """The outcome kept under `key`, for a command of fingerprint `wanted`; another command
    under the same key is refused."""
    found = _stored(outcome)
    # An answer kept by an older version was fingerprinted from the raw body, which cannot be
    # recomputed now: a repeat of its key gets that answer, as a retry would have.
    if request_hash != wanted and not isinstance(found, StoredAnswer):
        raise KeyReused(key)
    return found


def _stored(outcome: dict[str, Any]) -> Stored:
    if "result" in outcome:
        return StoredResult(outcome["result"])
    if "refusal" in outcome:
        refusal = outcome["refusal"]
        return StoredRefusal(_restore(refusal["type"], refusal["message"], refusal["details"]))
    answer = outcome["answer"]
    return StoredAnswer(answer["status"], answer["body"])


def result_outcome(value: Any) -> dict[str, Any]:
    return {"result": value}


def refusal_outcome(error: DomainError) -> dict[str, Any]:
    return {
        "refusal": {
            "type": type(error).__name__,
            "message": error.message,
            "details": error.details,
        }
    }


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
