"""`import_lines`: batches written two at a time, and a record's lines still in file order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from domain.imports import ImportLine, ImportReport
from service.commands.caller import Caller
from service.database import open_pool
from service.ops import bulk_import
from service.ops.bulk_import import WRITES_UNDER_WAY, import_lines
from tests.factories import record_body

Write = Callable[..., Any]


def numbered(ids: list[str], memo: str = "first") -> list[tuple[int, str]]:
    return [
        (n, json.dumps({"id": rid, **record_body(memo=f"{memo} {n}")}))
        for n, rid in enumerate(ids, start=1)
    ]


class Spans:
    """A stand-in for the write of a batch: when each batch's write began and ended."""

    def __init__(self) -> None:
        self.events: list[tuple[str, frozenset[str]]] = []
        self.most_at_once = 0
        self._now = 0

    async def write(
        self,
        pool: Any,
        caller: Caller,
        parsed: list[ImportLine],
        size: int,
        progress: Callable[[int], None],
    ) -> ImportReport:
        ids = frozenset(line.command.record_id for line in parsed)
        self.events.append(("start", ids))
        self._now += 1
        self.most_at_once = max(self.most_at_once, self._now)
        await asyncio.sleep(0.02)
        self._now -= 1
        self.events.append(("end", ids))
        return ImportReport(created=len(parsed))


async def test_batches_of_distinct_records_are_written_two_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = Spans()
    monkeypatch.setattr(bulk_import, "_write", spans.write)
    lines = numbered([f"accr_d{n}" for n in range(12)])
    report = await import_lines(None, Caller("acct", "test", "t"), lines, batch_size=3)  # type: ignore[arg-type]
    assert report.created == 12
    assert spans.most_at_once == WRITES_UNDER_WAY == 2
    # The second batch began before the first had ended.
    assert [kind for kind, _ in spans.events[:2]] == ["start", "start"]


async def test_a_batch_that_names_a_record_under_way_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = Spans()
    monkeypatch.setattr(bulk_import, "_write", spans.write)
    # Batches of two: accr_x is in the first and the second, accr_y in the third and fourth.
    ids = ["accr_x", "accr_a", "accr_x", "accr_b", "accr_y", "accr_c", "accr_y", "accr_d"]
    await import_lines(None, Caller("acct", "test", "t"), numbered(ids), batch_size=2)  # type: ignore[arg-type]
    for shared in ("accr_x", "accr_y"):
        naming = [(i, kind) for i, (kind, batch) in enumerate(spans.events) if shared in batch]
        # start, end, start, end: never both under way.
        assert [kind for _, kind in naming] == ["start", "end", "start", "end"], spans.events


async def test_a_failed_write_leaves_no_other_write_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cancelled: list[frozenset[str]] = []

    async def write(
        pool: Any, caller: Caller, parsed: list[ImportLine], size: int, progress: Any
    ) -> ImportReport:
        ids = frozenset(line.command.record_id for line in parsed)
        if "accr_f0" in ids:
            await asyncio.sleep(0.01)
            raise ConnectionError("the database went away")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(ids)
            raise
        return ImportReport()

    monkeypatch.setattr(bulk_import, "_write", write)
    lines = numbered([f"accr_f{n}" for n in range(4)])
    with pytest.raises(ConnectionError):
        await import_lines(None, Caller("acct", "test", "t"), lines, batch_size=2)  # type: ignore[arg-type]
    assert cancelled == [frozenset({"accr_f2", "accr_f3"})]
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if "_write" in repr(t.get_coro())]


@pytest.fixture
async def pool(fresh_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    made = await open_pool(fresh_dsn, max_size=2)
    yield made
    await made.close()


async def test_a_record_named_in_several_batches_ends_as_its_last_line(
    pool: asyncpg.Pool, account: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch's write is held back, so that a later batch naming the same record
    would overtake it if it did not wait: the record's versions must follow the file."""
    real_write: Write = bulk_import._write
    held = {"first": True}

    async def slow_first(*args: Any) -> ImportReport:
        if held.pop("first", False):
            await asyncio.sleep(0.3)
        result: ImportReport = await real_write(*args)
        return result

    monkeypatch.setattr(bulk_import, "_write", slow_first)
    ids = ["accr_same", "accr_o1", "accr_same", "accr_o2", "accr_o3", "accr_same"]
    report = await import_lines(
        pool, Caller(account, "test", "t"), numbered(ids, memo="line"), batch_size=2
    )
    assert (report.created, report.revised) == (4, 2)
    async with pool.acquire() as conn:
        memos = await conn.fetch(
            "SELECT version, data #>> '{content,memo}' AS created, "
            "data #>> '{changes,memo}' AS revised FROM events "
            "WHERE account_id = $1 AND stream_id = 'accr_same' ORDER BY version",
            account,
        )
        state = await conn.fetchval(
            "SELECT state #>> '{content,memo}' FROM record_state "
            "WHERE account_id = $1 AND record_id = 'accr_same'",
            account,
        )
    assert [(r["version"], r["created"] or r["revised"]) for r in memos] == [
        (1, "line 1"),
        (2, "line 3"),
        (3, "line 6"),
    ]
    assert state == "line 6"
