"""Group commit: concurrent commands are decided one by one but written together.

While a batch is being read, decided and written (two round trips), the commands that
arrive wait; then they go as the next batch. At low load a batch is one command and waits
for nothing but two turns of the event loop (below); under load a batch holds what
arrived during one write, so the database sees one read and one write statement for many
commands instead of two for each. A few batches may be under way at once (`parallel`), so
that one's round trips overlap another's deciding; two that touch the same record are
ordered by the database, and the later one decides again. Each command keeps its own
outcome: one that is refused, or loses a race inside the batch, does not fail its
neighbours, and each keeps its Idempotency-Key and its all-or-nothing. A command naming
many records goes alone, so that small ones never wait behind it.

A batch is taken two turns of the event loop after its first command arrived
(`gather_turns`), not at once: a request received with it becomes a handler task in one
turn and reaches the queue in the next, and so joins the batch instead of starting one of
its own. A turn is a poll of the sockets, not a timer: a command alone waits only for
those two polls.

A caller that goes away (its request timed out) takes its command with it while it waits,
and the whole batch when it was the batch's only caller; in a batch with others its
command is written with theirs, and a retry with its Idempotency-Key gets that outcome.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from dataclasses import dataclass

import asyncpg
import structlog
from pydantic import BaseModel

from domain.exports import ReportExportResults
from domain.imports import ImportRecords
from service.commands.caller import Caller
from service.commands.runner import Completed, Outcome, run_batch, run_command
from service.metrics import GROUP_COMMIT_SIZE

log = structlog.get_logger("service.commands")


@dataclass(frozen=True)
class _Waiting:
    caller: Caller
    command: BaseModel
    done: asyncio.Future[Completed]


def _size(command: BaseModel) -> int:
    if isinstance(command, ReportExportResults):
        return len(command.results)
    if isinstance(command, ImportRecords):
        return len(command.lines)
    return 1


class GroupCommit:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        retries: int = 10,
        max_batch: int = 64,
        parallel: int = 3,
        alone_from: int = 50,
        gather_turns: int = 2,
    ) -> None:
        self._pool = pool
        self._retries = retries
        self._max_batch = max_batch
        self._parallel = parallel
        self._alone_from = alone_from  # records: a command this big is not batched
        self._gather_turns = gather_turns
        self._waiting: deque[_Waiting] = deque()
        self._flushing: set[asyncio.Task[None]] = set()

    async def run(self, caller: Caller, command: BaseModel) -> Completed:
        if _size(command) >= self._alone_from:
            return await run_command(self._pool, caller, command, retries=self._retries)
        done: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(caller, command, done))
        if len(self._flushing) < self._parallel:
            flusher = asyncio.create_task(self._flush())
            self._flushing.add(flusher)
            flusher.add_done_callback(self._flushing.discard)
        return await done

    async def _flush(self) -> None:
        for _ in range(self._gather_turns):
            await asyncio.sleep(0)  # commands already received reach the queue meanwhile
        while self._waiting:
            count = min(len(self._waiting), self._max_batch)
            taken = [self._waiting.popleft() for _ in range(count)]
            batch = [w for w in taken if not w.done.done()]  # callers gone while they waited
            if not batch:
                continue
            GROUP_COMMIT_SIZE.observe(len(batch))
            work = asyncio.create_task(self._outcomes(batch))
            for waiting in batch:
                waiting.done.add_done_callback(functools.partial(_abandoned, batch, work))
            try:
                outcomes = await work
            except asyncio.CancelledError:
                if work.cancelled() and not _current_cancelling():
                    continue  # every caller of the batch went away: it was undone
                raise
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.done.done():
                    continue  # its caller went away; the outcome stands all the same
                if isinstance(outcome, BaseException):
                    waiting.done.set_exception(outcome)
                else:
                    waiting.done.set_result(outcome)

    async def _outcomes(self, batch: list[_Waiting]) -> list[Outcome]:
        commands = [(w.caller, w.command) for w in batch]
        try:
            return await run_batch(self._pool, commands, retries=self._retries)
        except Exception as failure:
            if len(batch) == 1:
                return [failure]
        # Something no lost race explains: each command alone, so that only its own fails.
        log.warning("a batch failed; its commands run one by one", size=len(batch))
        found: list[Outcome] = []
        for command in commands:
            try:
                (outcome,) = await run_batch(self._pool, [command], retries=self._retries)
            except Exception as failure:
                outcome = failure
            found.append(outcome)
        return found


def _abandoned(
    batch: list[_Waiting], work: asyncio.Task[list[Outcome]], _: asyncio.Future[Completed]
) -> None:
    if all(w.done.cancelled() for w in batch):
        work.cancel()


def _current_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
