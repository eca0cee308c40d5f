"""run_command: a command read, decided and written, or its stored outcome.

A batch of commands (one, or many from group commit) is read in one statement, decided one
after the other against what was read (each seeing the effect of those before it), and
written in one statement (service.commands.writing). If anything a decision relied on
changed in between, the write fails as a whole and the batch is read and decided again
(deciders are pure, so that is safe). Knows nothing of HTTP: a command's outcome is its
result or the DomainError that refused it; the edge renders either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import structlog
from pydantic import BaseModel

from domain.errors import DomainError
from eventstore.errors import ConcurrencyConflict
from eventstore.types import Conn
from service.commands import idempotency
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.idempotency import (
    Claim,
    KeyReused,
    StoredAnswer,
    StoredRefusal,
    StoredResult,
)
from service.commands.loading import Loaded, load
from service.commands.table import EXECUTORS
from service.commands.writing import write
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


Outcome = Completed | BaseException  # a result, or what to raise to its caller
Command = tuple[Caller, BaseModel]


class Commands(Protocol):
    """How the edge runs commands: one by one, or grouped (service.commands.group_commit)."""

    async def run(self, caller: Caller, command: BaseModel) -> Completed: ...


@dataclass(frozen=True)
class OneByOne:
    pool: asyncpg.Pool
    retries: int = 10

    async def run(self, caller: Caller, command: BaseModel) -> Completed:
        return await run_command(self.pool, caller, command, retries=self.retries)


async def run_command(
    pool: asyncpg.Pool, caller: Caller, command: BaseModel, *, retries: int = 10
) -> Completed:
    (outcome,) = await run_batch(pool, [(caller, command)], retries=retries)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


async def run_batch(
    pool: asyncpg.Pool, batch: Sequence[Command], *, retries: int = 10
) -> list[Outcome]:
    """Every command's outcome, in order; those written are committed."""
    for attempt in range(1, retries + 1):
        try:
            async with pool.acquire() as conn:
                outcomes = await _attempt(conn, batch)
            break
        except ConcurrencyConflict as conflict:
            CONFLICT_RETRIES.inc()
            log.info("concurrency conflict, retrying", attempt=attempt, reason=str(conflict))
    else:
        return [TooMuchContention(f"gave up after {retries} concurrency conflicts")] * len(batch)
    for (_, command), outcome in zip(batch, outcomes, strict=True):
        executor = EXECUTORS[type(command)]
        if isinstance(outcome, Completed) and not outcome.replayed and executor.after_commit:
            executor.after_commit(command, outcome.result)
    return outcomes


async def _attempt(conn: Conn, batch: Sequence[Command]) -> list[Outcome]:
    keyed = [(c.account_id, c.idempotency_key) for c, _ in batch if c.idempotency_key]
    loaded = await load(conn, [EXECUTORS[type(m)].needs(c, m) for c, m in batch], keyed)
    integrations_before = dict(loaded.integrations)
    planned: list[tuple[Caller, Decision]] = []
    claims: dict[tuple[str, str], Claim] = {}
    outcomes: list[Outcome] = []
    for caller, command in batch:
        executor = EXECUTORS[type(command)]
        key = caller.idempotency_key
        fingerprint = idempotency.fingerprint(command) if key else ""
        if key:
            # The key was used before, or earlier in this very batch: its outcome stands.
            kept = claims.get((caller.account_id, key))
            row = loaded.keys.get((caller.account_id, key))
            if kept is not None:
                outcomes.append(
                    _replay(key, kept.fingerprint, kept.outcome, fingerprint, executor.result)
                )
                continue
            if row is not None:
                outcomes.append(
                    _replay(key, row["hash"], row["outcome"], fingerprint, executor.result)
                )
                continue
        try:
            decision = executor.decide(caller, command, loaded)
        except DomainError as refusal:
            # A refusal writes nothing but its outcome: a retry with the key gets it again.
            outcomes.append(refusal)
            if key:
                outcome = idempotency.refusal_outcome(refusal)
                claims[(caller.account_id, key)] = Claim(
                    caller.account_id, key, fingerprint, outcome
                )
            continue
        _lay_over(loaded, caller, decision)
        planned.append((caller, decision))
        outcomes.append(Completed(decision.result))
        if key:
            value = idempotency.result_outcome(
                executor.result.dump_python(decision.result, mode="python")
            )
            claims[(caller.account_id, key)] = Claim(caller.account_id, key, fingerprint, value)
    await write(conn, planned, list(claims.values()), loaded.at, integrations_before)
    return outcomes


def _lay_over(loaded: Loaded, caller: Caller, decision: Decision) -> None:
    """What the next command of the batch reads: the state this decision leaves."""
    for state in decision.states:
        loaded.records[(caller.account_id, state.id)] = state
    if decision.integrations is not None:
        loaded.integrations[caller.account_id] = decision.integrations


def _replay(
    key: str, stored_hash: str, outcome: dict[str, Any], fingerprint: str, result: Any
) -> Outcome:
    try:
        found = idempotency.stored(key, stored_hash, outcome, fingerprint)
    except KeyReused as reused:
        return reused
    match found:
        case StoredResult(value=value):
            return Completed(result.validate_python(value), replayed=True)
        case StoredRefusal(error=error):
            return ReplayedRefusal(error)
        case StoredAnswer():
            return ReplayedAnswer(found)
