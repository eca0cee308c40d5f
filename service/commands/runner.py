"""run_command: one command in one transaction, or its stored outcome.

Claim the Idempotency-Key, run the command's executor (load -> decide -> append -> project),
keep the outcome under the key, commit. A concurrency conflict re-runs the whole attempt
(deciders are pure, so that is safe). Knows nothing of HTTP: it returns the result or
raises the DomainError; the edge renders either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from pydantic import BaseModel

from domain.errors import DomainError
from eventstore.errors import ConcurrencyConflict
from eventstore.types import Conn
from service.commands import idempotency
from service.commands.caller import Caller
from service.commands.idempotency import StoredAnswer, StoredRefusal, StoredResult
from service.commands.table import EXECUTORS, Executor
from service.metrics import CONFLICT_RETRIES

log = structlog.get_logger("service.commands")


@dataclass(frozen=True)
class Completed:
    result: Any  # the executor's result type (see service.commands.table)
    replayed: bool = False  # the stored outcome of an earlier request with the same key


class ReplayedRefusal(Exception):
    """The refusal stored for the first request with this Idempotency-Key, raised again."""

    def __init__(self, refusal: DomainError) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class ReplayedAnswer(Exception):
    """An answer stored, already rendered, before outcomes were kept: given back as it was."""

    def __init__(self, answer: StoredAnswer) -> None:
        super().__init__(f"stored answer {answer.status}")
        self.answer = answer


class TooMuchContention(Exception):
    """Every retry lost a race: the caller may try again later."""


async def run_command(
    pool: asyncpg.Pool, caller: Caller, command: BaseModel, *, retries: int = 10
) -> Completed:
    executor = EXECUTORS[type(command)]
    for attempt in range(1, retries + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                outcome = await _attempt(conn, caller, command, executor)
            break
        # A deadlock PostgreSQL broke by aborting us is a lost race like any other.
        except (ConcurrencyConflict, asyncpg.DeadlockDetectedError) as conflict:
            CONFLICT_RETRIES.inc()
            log.info("concurrency conflict, retrying", attempt=attempt, reason=str(conflict))
    else:
        raise TooMuchContention(f"gave up after {retries} concurrency conflicts")
    if isinstance(outcome, DomainError):
        raise outcome
    if not outcome.replayed and executor.after_commit is not None:
        executor.after_commit(command, outcome.result)
    return outcome


async def _attempt(
    conn: Conn, caller: Caller, command: BaseModel, executor: Executor
) -> Completed | DomainError:
    key = caller.idempotency_key
    if key is not None:
        stored = await idempotency.claim(
            conn, caller.account_id, key, idempotency.fingerprint(command)
        )
        match stored:
            case StoredResult(value=value):
                return Completed(executor.result.validate_python(value), replayed=True)
            case StoredRefusal(error=error):
                raise ReplayedRefusal(error)
            case StoredAnswer():
                raise ReplayedAnswer(stored)
    try:
        result = await executor.run(conn, caller, command)
    except DomainError as refusal:
        # Deciders refuse before anything is written, so committing stores only the outcome:
        # a retry with the same key gets the same refusal.
        if key is not None:
            await idempotency.store_refusal(conn, caller.account_id, key, refusal)
        return refusal
    if key is not None:
        value = executor.result.dump_python(result, mode="python")
        await idempotency.store_result(conn, caller.account_id, key, value)
    return Completed(result)
