"""Run one command in one transaction: idempotency, decide, append, project; retry on
a concurrency conflict (deciders are pure, so re-running them is safe)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from domain.errors import DomainError
from eventstore.errors import ConcurrencyConflict
from eventstore.types import Conn
from service import idempotency
from service.errors import domain_error_body
from service.metrics import CONFLICT_RETRIES

log = structlog.get_logger("service.transactions")


@dataclass(frozen=True)
class Caller:
    """Who is asking, and what every event they cause records in its metadata."""

    account_id: str
    client_id: str
    request_id: str
    idempotency_key: str | None = None

    def metadata(self) -> dict[str, Any]:
        meta = {"client_id": self.client_id, "request_id": self.request_id}
        if self.idempotency_key:
            meta["idempotency_key"] = self.idempotency_key
        return meta


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool = False
    headers: dict[str, str] = field(default_factory=dict)


Work = Callable[[Conn], Awaitable[Outcome]]


class TooMuchContention(Exception):
    """Every retry lost a race: the caller may try again later."""


async def run_command(
    pool: asyncpg.Pool,
    caller: Caller,
    work: Work,
    *,
    request_hash: str | None = None,
    retries: int = 10,
) -> Outcome:
    for attempt in range(1, retries + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await _attempt(conn, caller, work, request_hash)
        except ConcurrencyConflict as conflict:
            CONFLICT_RETRIES.inc()
            log.info("concurrency conflict, retrying", attempt=attempt, reason=str(conflict))
    raise TooMuchContention(f"gave up after {retries} concurrency conflicts")


async def _attempt(conn: Conn, caller: Caller, work: Work, request_hash: str | None) -> Outcome:
    key = caller.idempotency_key
    if key is not None and request_hash is not None:
        stored = await idempotency.claim(conn, caller.account_id, key, request_hash)
        if stored is not None:
            return Outcome(stored.status, stored.body, replayed=True)
    try:
        outcome = await work(conn)
    except DomainError as refusal:
        # Deciders refuse before anything is written, so committing here stores only the
        # idempotency answer: a retry with the same key gets the same refusal.
        status, body = domain_error_body(refusal)
        outcome = Outcome(status, body)
    if key is not None and request_hash is not None:
        await idempotency.store(conn, caller.account_id, key, outcome.status, outcome.body)
    return outcome
