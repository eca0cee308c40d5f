"""One accounting record: its state, events, commands, and the decide/evolve pair."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, assert_never

from domain.errors import InvalidRequest, NotFound, RecordExported
from domain.values import Frozen, Instant, RecordContent, ReviewStatus

# --- state ---------------------------------------------------------------------------


class ExportOutcome(Frozen):
    """The last export result a connector reported for the record."""

    status: Literal["EXPORTED", "FAILED"]
    reference_id: str | None = None
    deep_link_url: str | None = None
    error_message: str | None = None
    error_code: str | None = None
    integration_id: str
    reported_at: Instant


class RecordState(Frozen):
    id: str
    content: RecordContent
    review_status: ReviewStatus
    version: int
    updated_at: Instant
    export: ExportOutcome | None = None


# --- events --------------------------------------------------------------------------


class RecordCreated(Frozen):
    record_id: str
    content: RecordContent
    review_status: ReviewStatus


class RecordRevised(Frozen):
    """The new values of the content fields that changed (JSON form)."""

    changes: dict[str, Any]


class ReviewStatusChanged(Frozen):
    from_status: ReviewStatus
    to_status: ReviewStatus


class ExportSucceeded(Frozen):
    integration_id: str
    vendor: str
    vendor_account_id: str
    reference_id: str | None = None
    deep_link_url: str | None = None


class ExportError(Frozen):
    """Why the ERP refused a record: the connector's message, and its code when it sends one."""

    message: str
    code: str | None = None


class ExportFailed(Frozen):
    """Schema version 2: the error became an object, to carry a code beside the message
    (version 1 stored `error_message` alone; projections.codecs upcasts it)."""

    integration_id: str
    vendor: str
    vendor_account_id: str
    error: ExportError


RecordEvent = RecordCreated | RecordRevised | ReviewStatusChanged | ExportSucceeded | ExportFailed
RECORD_EVENTS: tuple[type[RecordEvent], ...] = (
    RecordCreated,
    RecordRevised,
    ReviewStatusChanged,
    ExportSucceeded,
    ExportFailed,
)


@dataclass(frozen=True)
class RecordChange:
    """New events for one record, decided against its state `before` (None: a new record)."""

    record_id: str
    before: RecordState | None
    events: Sequence[RecordEvent]

    @property
    def expected_version(self) -> int:
        return self.before.version if self.before else 0


# --- commands ------------------------------------------------------------------------


class PutRecord(Frozen):
    record_id: str
    content: RecordContent
    review_status: ReviewStatus | None = None


class ChangeReviewStatus(Frozen):
    record_id: str
    review_status: ReviewStatus


PLATFORM_STATUSES = frozenset(
    {ReviewStatus.PREPARE, ReviewStatus.REVIEW, ReviewStatus.READY_FOR_EXPORT}
)

# --- decide --------------------------------------------------------------------------


def _platform_status(status: ReviewStatus) -> ReviewStatus:
    if status not in PLATFORM_STATUSES:
        raise InvalidRequest(
            "review_status can only be set to PREPARE, REVIEW or READY_FOR_EXPORT; "
            "EXPORTED is reached through export results.",
            {"field": "review_status", "reason": "EXPORTED is not a platform status"},
        )
    return status


def decide_put(command: PutRecord, state: RecordState | None) -> list[RecordEvent]:
    """Create the record, revise what changed, or nothing when the body is identical."""
    if state is None:
        status = _platform_status(command.review_status or ReviewStatus.PREPARE)
        return [
            RecordCreated(
                record_id=command.record_id, content=command.content, review_status=status
            )
        ]
    changes = content_changes(state.content, command.content)
    if not changes:
        return []
    if state.review_status is ReviewStatus.EXPORTED:
        raise RecordExported(state.id, "revised")
    return [RecordRevised(changes=changes)]


def decide_review_status(
    command: ChangeReviewStatus, state: RecordState | None
) -> list[RecordEvent]:
    if state is None:
        raise NotFound(f"Accounting record {command.record_id} not found.")
    target = _platform_status(command.review_status)
    if state.review_status is ReviewStatus.EXPORTED:
        raise RecordExported(state.id, "moved back")
    if state.review_status is target:
        return []
    return [ReviewStatusChanged(from_status=state.review_status, to_status=target)]


def content_changes(old: RecordContent, new: RecordContent) -> dict[str, Any]:
    before = old.model_dump(mode="python")
    after = new.model_dump(mode="python")
    return {name: value for name, value in after.items() if before.get(name) != value}


# --- evolve --------------------------------------------------------------------------


def evolve(state: RecordState | None, event: RecordEvent, at: datetime) -> RecordState:
    """The record after `event`, recorded at `at`. Never checks rules, never raises."""
    if isinstance(event, RecordCreated):
        return RecordState(
            id=event.record_id,
            content=event.content,
            review_status=event.review_status,
            version=(state.version if state else 0) + 1,
            updated_at=at,
        )
    assert state is not None, "only RecordCreated starts a record"
    moved: dict[str, Any] = {"version": state.version + 1, "updated_at": at}
    match event:
        case RecordRevised(changes=changes):
            content = state.content.model_dump(mode="python") | changes
            moved["content"] = RecordContent.model_validate(content)
        case ReviewStatusChanged(to_status=status):
            moved["review_status"] = status
        case ExportSucceeded():
            moved["review_status"] = ReviewStatus.EXPORTED
            moved["export"] = ExportOutcome(
                status="EXPORTED",
                reference_id=event.reference_id,
                deep_link_url=event.deep_link_url,
                integration_id=event.integration_id,
                reported_at=at,
            )
        case ExportFailed():
            moved["review_status"] = ReviewStatus.REVIEW
            moved["export"] = ExportOutcome(
                status="FAILED",
                error_message=event.error.message,
                error_code=event.error.code,
                integration_id=event.integration_id,
                reported_at=at,
            )
        case _:
            assert_never(event)
    return state.model_copy(update=moved)


def fold(events: Iterable[tuple[RecordEvent, datetime]]) -> RecordState | None:
    state: RecordState | None = None
    for event, at in events:
        state = evolve(state, event, at)
    return state
