"""Deciding a bulk import: many record puts at once, each line seeing the lines before it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import DomainError
from domain.records import PutRecord, RecordChange, RecordEvent, RecordState, decide_put, evolve
from domain.values import Frozen

# Lines are decided before their events have times; the log gives the real ones when written.
_PROVISIONAL = datetime(1970, 1, 1, tzinfo=UTC)


class ImportLine(Frozen):
    line: int
    command: PutRecord


class ImportRecords(Frozen):
    """One batch of an import file: the lines that parsed, in file order."""

    lines: tuple[ImportLine, ...]

    def record_ids(self) -> list[str]:
        return list(dict.fromkeys(line.command.record_id for line in self.lines))


class Rejected(Frozen):
    line: int
    reason: str


class ImportReport(Frozen):
    created: int = 0
    revised: int = 0
    unchanged: int = 0
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: ImportReport) -> ImportReport:
        return ImportReport(
            created=self.created + other.created,
            revised=self.revised + other.revised,
            unchanged=self.unchanged + other.unchanged,
            rejected=tuple(sorted((*self.rejected, *other.rejected), key=lambda r: r.line)),
        )


@dataclass
class _Pending:
    before: RecordState | None
    current: RecordState | None
    events: list[RecordEvent] = field(default_factory=list)


def decide_import(
    command: ImportRecords, states: Mapping[str, RecordState]
) -> tuple[list[RecordChange], ImportReport]:
    """The changes of the whole batch and what became of each line. A refused line is
    reported and skipped; it never stops the others."""
    pending: dict[str, _Pending] = {}
    counts = {"created": 0, "revised": 0, "unchanged": 0}
    rejected: list[Rejected] = []
    for item in command.lines:
        put = item.command
        before = states.get(put.record_id)
        slot = pending.setdefault(put.record_id, _Pending(before, before))
        try:
            events = decide_put(put, slot.current)
        except DomainError as refusal:
            rejected.append(Rejected(line=item.line, reason=refusal.message))
            continue
        counts[_kind(events, slot.current)] += 1
        for event in events:
            at = slot.current.updated_at if slot.current else _PROVISIONAL
            slot.current = evolve(slot.current, event, at)
        slot.events.extend(events)
    changes = [
        RecordChange(rid, p.before, tuple(p.events)) for rid, p in pending.items() if p.events
    ]
    return changes, ImportReport(**counts, rejected=tuple(rejected))


def _kind(events: Sequence[RecordEvent], current: RecordState | None) -> str:
    if not events:
        return "unchanged"
    return "created" if current is None else "revised"
