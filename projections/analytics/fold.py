"""What a record's stream means for analysts: the stream folded with the domain's `evolve`
(the fold the API's record state comes from), and the rows of every analytics table that
the fold gives. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from domain import records
from domain.records import ExportFailed, ExportSucceeded, RecordEvent, RecordState
from domain.values import ReviewStatus
from eventstore.types import RecordedEvent
from projections.analytics.rows import (
    DailyExportRow,
    ExportAttemptRow,
    LifecycleRow,
    LineItemRow,
    RecordRow,
)
from projections.codecs import RECORDS


@dataclass(frozen=True)
class RecordFacts:
    """One record's rows, as its whole stream makes them."""

    record: RecordRow
    line_items: tuple[LineItemRow, ...]
    lifecycle: LifecycleRow
    attempts: tuple[ExportAttemptRow, ...]  # one per reported outcome, oldest first

    @property
    def key(self) -> tuple[str, str]:
        return self.record.account_id, self.record.record_id


def record_facts(stream: Sequence[RecordedEvent], *, line_items: bool = True) -> RecordFacts:
    """Fold a record's stream, from version 1, into its analytics rows; without its line
    items when the caller keeps those it has (line_items=False)."""
    first = stream[0]
    state: RecordState | None = None
    stages = LifecycleRow(
        first.account_id, first.stream_id, first.recorded_at, None, None, None, 0, None
    )
    attempts: list[ExportAttemptRow] = []
    for stored in stream:
        event = RECORDS.decode(stored)
        before, state = state, records.evolve(state, event, stored.recorded_at)
        stages = _next_stage(stages, event, before, state, stored.recorded_at)
        if isinstance(event, ExportSucceeded | ExportFailed):
            attempts.append(_attempt(stored, event, state))
    assert state is not None, "a stream holds at least one event"
    account = first.account_id
    items = _line_items(account, state) if line_items else ()
    return RecordFacts(_record(account, state), items, stages, tuple(attempts))


def _next_stage(
    stages: LifecycleRow,
    event: RecordEvent,
    before: RecordState | None,
    after: RecordState,
    at: datetime,
) -> LifecycleRow:
    ready = ReviewStatus.READY_FOR_EXPORT
    became_ready = after.review_status is ready and (
        before is None or before.review_status is not ready
    )
    if became_ready and stages.ready_at is None:
        stages = stages._replace(ready_at=at)
    if isinstance(event, ExportSucceeded | ExportFailed) and stages.first_reported_at is None:
        stages = stages._replace(first_reported_at=at)
    if isinstance(event, ExportFailed):
        stages = stages._replace(failed_attempts=stages.failed_attempts + 1)
    if isinstance(event, ExportSucceeded):
        stages = stages._replace(exported_at=at, attempts_before_success=stages.failed_attempts)
    return stages


def _attempt(
    stored: RecordedEvent, event: ExportSucceeded | ExportFailed, after: RecordState
) -> ExportAttemptRow:
    outcome = after.export
    assert outcome is not None, "an export event leaves an outcome"
    client = stored.metadata.get("client_id")
    return ExportAttemptRow(
        account_id=stored.account_id,
        record_id=stored.stream_id,
        version=stored.version,
        position=stored.position,
        integration_id=outcome.integration_id,
        vendor=event.vendor,
        vendor_account_id=event.vendor_account_id,
        outcome=outcome.status,
        reference_id=outcome.reference_id,
        error_message=outcome.error_message,
        error_code=outcome.error_code,
        reported_at=outcome.reported_at,
        record_type=after.content.type.value,
        source_type=after.content.source_type.value,
        amount=after.content.amount.amount,
        currency=after.content.amount.currency,
        client_id=client if isinstance(client, str) else None,
    )


def _record(account_id: str, state: RecordState) -> RecordRow:
    content, export, user = state.content, state.export, state.content.user
    return RecordRow(
        account_id=account_id,
        record_id=state.id,
        version=state.version,
        review_status=state.review_status.value,
        type=content.type.value,
        source_type=content.source_type.value,
        source_id=content.source_id,
        amount=content.amount.amount,
        currency=content.amount.currency,
        original_amount=content.original_amount.amount if content.original_amount else None,
        original_currency=content.original_amount.currency if content.original_amount else None,
        erp_posting_date=content.erp_posting_date,
        posted_at=content.posted_at,
        due_at=content.due_at,
        invoice_number=content.invoice_number,
        memo=content.memo,
        vendor_id=content.vendor.id if content.vendor else None,
        vendor_name=content.vendor.name if content.vendor else None,
        user_id=user.id if user else None,
        user_email=user.email if user else None,
        user_name=f"{user.first_name} {user.last_name}" if user else None,
        department_name=user.department_name if user else None,
        receipts=len(content.receipts or ()),
        updated_at=state.updated_at,
        export_status=export.status if export else None,
        export_integration_id=export.integration_id if export else None,
        export_reference_id=export.reference_id if export else None,
        export_error_message=export.error_message if export else None,
        export_error_code=export.error_code if export else None,
        export_reported_at=export.reported_at if export else None,
    )


def _line_items(account_id: str, state: RecordState) -> tuple[LineItemRow, ...]:
    return tuple(
        LineItemRow(
            account_id=account_id,
            record_id=state.id,
            line_number=number,
            line_item_id=item.id,
            type=item.type.value,
            amount=item.amount.amount,
            currency=item.amount.currency,
            original_amount=item.original_amount.amount if item.original_amount else None,
            original_currency=item.original_amount.currency if item.original_amount else None,
            memo=item.memo,
            accounting_field_values=[v.model_dump() for v in item.accounting_field_values],
        )
        for number, item in enumerate(state.content.line_items, start=1)
    )


def daily_totals(attempts: Iterable[ExportAttemptRow]) -> list[DailyExportRow]:
    """The attempts counted and summed per account, UTC day, vendor, outcome and currency."""
    totals: dict[tuple[str, date, str, str, str], tuple[int, Decimal]] = defaultdict(
        lambda: (0, Decimal(0))
    )
    for a in attempts:
        key = (a.account_id, a.reported_at.astimezone(UTC).date(), a.vendor, a.outcome, a.currency)
        count, amount = totals[key]
        totals[key] = (count + 1, amount + a.amount)
    return [
        DailyExportRow(account, day, vendor, outcome, currency, count, amount)
        for (account, day, vendor, outcome, currency), (count, amount) in totals.items()
    ]
