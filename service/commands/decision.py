"""What deciding a command came to: its result, and what to write for it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.integrations import IntegrationEvent, Integrations
from domain.records import RecordChange, RecordEvent, RecordState
from projections.records import evolve_changes


@dataclass(frozen=True)
class Decision:
    result: Any
    records: Sequence[RecordChange] = ()
    states: Sequence[RecordState] = ()  # the changed records' new states
    integration_events: Sequence[IntegrationEvent] = ()
    integrations: Integrations | None = None  # the account's integrations after them
    integrations_version: int = 0  # the integrations stream's version they follow
    guard: str | None = None  # an integration that must still be ACTIVE when written


def record_decision(
    record_id: str,
    before: RecordState | None,
    events: Sequence[RecordEvent],
    at: datetime,
) -> tuple[RecordState, Decision]:
    """The record after `events` (recorded at `at`) and the decision that writes them;
    its result is filled in by the caller."""
    change = RecordChange(record_id, before, events)
    (state,) = evolve_changes([change], at)
    return state, Decision(result=None, records=[change], states=[state])
