"""Bulk load of records from JSON Lines, through the same command layer and deciders as
the API: each batch is one ImportRecords command, decided line by line."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import asyncpg
from pydantic import ValidationError

from domain.imports import ImportLine, ImportRecords, ImportReport, Rejected
from domain.records import PutRecord
from domain.values import RECORD_ID_RULE, is_record_id
from service.api.bodies import PutRecordBody
from service.api.errors import InvalidInput
from service.api.jsonio import parse_json
from service.api.routing import validation_details
from service.commands.caller import Caller
from service.commands.runner import run_command

# Batches written at once (the import's pool has a connection for each).
WRITES_UNDER_WAY = 2
# Lines parsed between two turns of the event loop: about 5 ms of work.
PARSE_SLICE = 64


def parse_line(text: str) -> PutRecord:
    """One JSON object with `id` and the record body; raises ValueError with a reason."""
    try:
        data = parse_json(text.encode("utf-8", "surrogateescape"))
    except InvalidInput as refusal:
        problem = refusal.details or {}
        if problem.get("field") == "body":
            raise ValueError(f"not JSON: {problem.get('reason')}") from None
        raise ValueError(f"{problem.get('field')}: {problem.get('reason')}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    record_id = data.get("id")
    if not is_record_id(record_id):
        raise ValueError(f"id: {RECORD_ID_RULE}")
    assert isinstance(record_id, str)
    try:
        body = PutRecordBody.model_validate(data)
    except ValidationError as exc:
        problem = validation_details(exc)
        raise ValueError(f"{problem['field']}: {problem['reason']}") from None
    return PutRecord(record_id=record_id, content=body.content(), review_status=body.review_status)


def _batches(lines: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    numbered = ((n, text) for n, text in lines if text.strip())
    while batch := list(islice(numbered, size)):
        yield batch


async def _parsed(batch: list[tuple[int, str]]) -> tuple[list[ImportLine], ImportReport]:
    """The batch's commands, parsed a slice at a time: between slices the event loop runs
    the write of the batch before, so that its turns (the read, the decisions, the write)
    follow one another while this goes on, instead of waiting for it."""
    parsed: list[ImportLine] = []
    unparsed: list[Rejected] = []
    for start in range(0, len(batch), PARSE_SLICE):
        await asyncio.sleep(0)
        for number, text in batch[start : start + PARSE_SLICE]:
            try:
                parsed.append(ImportLine(line=number, command=parse_line(text)))
            except ValueError as exc:
                unparsed.append(Rejected(line=number, reason=str(exc)))
    return parsed, ImportReport(rejected=tuple(unparsed))


async def import_lines(
    pool: asyncpg.Pool,
    caller: Caller,
    lines: Iterable[tuple[int, str]],
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] = lambda n: None,
) -> ImportReport:
    """Import numbered lines in batches (one command, one write statement each); lines that
    do not parse or that the domain refuses are reported with their reason, and never stop
    the others.

    Two batches are under way at once: while PostgreSQL writes one, this process reads and
    decides the next, and parses the one after. A batch that names a record of a batch still
    under way waits for it, so that a record's lines are decided in file order; between
    batches of distinct records, the write's version guard is the only order needed."""
    report = ImportReport()
    under_way: deque[tuple[set[str], asyncio.Task[ImportReport]]] = deque()
    try:
        for batch in _batches(lines, batch_size):
            parsed, refused = await _parsed(batch)
            report += refused
            ids = {line.command.record_id for line in parsed}
            while under_way and (
                len(under_way) == WRITES_UNDER_WAY or any(ids & named for named, _ in under_way)
            ):
                report += await under_way.popleft()[1]
            writing = asyncio.create_task(_write(pool, caller, parsed, len(batch), progress))
            under_way.append((ids, writing))
        while under_way:
            report += await under_way.popleft()[1]
    finally:
        # A write that failed (or an interrupted import) leaves none running behind it: each
        # batch is all or nothing, and the ones not yet committed are rolled back.
        for _, writing in under_way:
            writing.cancel()
        await asyncio.gather(*(writing for _, writing in under_way), return_exceptions=True)
    return report


async def _write(
    pool: asyncpg.Pool,
    caller: Caller,
    parsed: list[ImportLine],
    size: int,
    progress: Callable[[int], None],
) -> ImportReport:
    report = ImportReport()
    if parsed:
        report = (await run_command(pool, caller, ImportRecords(lines=tuple(parsed)))).result
    progress(size)
    return report


async def refresh_statistics(pool: asyncpg.Pool) -> None:
    """After a bulk load, the planner's statistics of the tables it grew. A table loaded
    from empty has none until autovacuum's next round, and a page of records read meanwhile
    is planned blind (about twice as slow, measured on 10,000 records)."""
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE events, record_state, record_count_changes")
