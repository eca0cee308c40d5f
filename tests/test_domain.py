"""Pure deciders: no I/O, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain import integrations as ig
from domain.errors import (
    ActiveIntegrationExists,
    DuplicateRecordIds,
    IntegrationNotActive,
    InvalidRequest,
    NoActiveIntegration,
    NotFound,
    RecordExported,
    RecordsNotFound,
    RecordsNotReadyForExport,
    VendorAccountIdMismatch,
)
from domain.exports import (
    ExportFailure,
    ExportResult,
    ExportSuccess,
    ReportExportResults,
    decide_export,
)
from domain.records import (
    ChangeReviewStatus,
    ExportError,
    ExportFailed,
    ExportSucceeded,
    PutRecord,
    RecordCreated,
    RecordRevised,
    RecordState,
    ReviewStatusChanged,
    decide_put,
    decide_review_status,
    evolve,
    fold,
)
from domain.values import LineItemType, RecordContent, RecordType, ReviewStatus
from eventstore.pool import dumps, loads
from tests.factories import record_body

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def content(**overrides: object) -> RecordContent:
    body = record_body(**overrides) | {"amount": {"amount": Decimal("100.50"), "currency": "USD"}}
    return RecordContent.model_validate(loads(dumps(body)))  # as JSON arrives: exact decimals


def created(record_id: str = "accr_1", status: ReviewStatus = ReviewStatus.PREPARE) -> RecordState:
    (event,) = decide_put(
        PutRecord(record_id=record_id, content=content(), review_status=status), None
    )
    return evolve(None, event, T0)


# --- records -----------------------------------------------------------------------


def test_first_put_creates_in_prepare_unless_told() -> None:
    (event,) = decide_put(PutRecord(record_id="accr_1", content=content()), None)
    assert isinstance(event, RecordCreated)
    assert event.review_status is ReviewStatus.PREPARE
    state = evolve(None, event, T0)
    assert (state.version, state.updated_at, state.id) == (1, T0, "accr_1")
    assert state.content.amount.amount == Decimal("100.50")
    (ready,) = decide_put(
        PutRecord(record_id="accr_2", content=content(), review_status=ReviewStatus.REVIEW), None
    )
    assert isinstance(ready, RecordCreated)
    assert ready.review_status is ReviewStatus.REVIEW


def test_a_record_is_never_created_exported() -> None:
    command = PutRecord(record_id="accr_1", content=content(), review_status=ReviewStatus.EXPORTED)
    with pytest.raises(InvalidRequest) as refused:
        decide_put(command, None)
    assert refused.value.details == {
        "field": "review_status",
        "reason": "EXPORTED is not a platform status",
    }


def test_identical_put_decides_nothing_and_changed_put_revises_only_what_changed() -> None:
    state = created()
    assert decide_put(PutRecord(record_id="accr_1", content=state.content), state) == []
    (event,) = decide_put(PutRecord(record_id="accr_1", content=content(memo="Team dinner")), state)
    assert isinstance(event, RecordRevised)
    assert event.changes == {"memo": "Team dinner"}
    later = evolve(state, event, T0 + timedelta(seconds=1))
    assert later.content.memo == "Team dinner"
    assert later.version == 2


def test_exported_record_cannot_be_revised() -> None:
    state = created().model_copy(update={"review_status": ReviewStatus.EXPORTED})
    with pytest.raises(RecordExported):
        decide_put(PutRecord(record_id="accr_1", content=content(memo="changed")), state)


def test_review_status_moves_between_platform_statuses_only() -> None:
    state = created()
    (event,) = decide_review_status(
        ChangeReviewStatus(record_id="accr_1", review_status=ReviewStatus.READY_FOR_EXPORT), state
    )
    assert event == ReviewStatusChanged(
        from_status=ReviewStatus.PREPARE, to_status=ReviewStatus.READY_FOR_EXPORT
    )
    assert (
        decide_review_status(
            ChangeReviewStatus(record_id="accr_1", review_status=ReviewStatus.PREPARE), state
        )
        == []
    )
    with pytest.raises(NotFound):
        decide_review_status(
            ChangeReviewStatus(record_id="accr_x", review_status=ReviewStatus.REVIEW), None
        )
    exported = state.model_copy(update={"review_status": ReviewStatus.EXPORTED})
    with pytest.raises(RecordExported):
        decide_review_status(
            ChangeReviewStatus(record_id="accr_1", review_status=ReviewStatus.REVIEW), exported
        )


def test_export_events_move_status_and_keep_the_outcome() -> None:
    state = created(status=ReviewStatus.READY_FOR_EXPORT)
    ok = evolve(
        state,
        ExportSucceeded(
            integration_id="int_1", vendor="ERP_A", vendor_account_id="v", reference_id="R1"
        ),
        T0,
    )
    assert ok.review_status is ReviewStatus.EXPORTED
    assert (
        ok.export is not None and ok.export.reference_id == "R1" and ok.export.status == "EXPORTED"
    )
    failed = evolve(
        state,
        ExportFailed(
            integration_id="int_1",
            vendor="ERP_A",
            vendor_account_id="v",
            error=ExportError(message="bad GL", code="GL_CLOSED"),
        ),
        T0,
    )
    assert failed.review_status is ReviewStatus.REVIEW
    assert failed.export is not None and failed.export.error_message == "bad GL"
    assert failed.export.error_code == "GL_CLOSED"


def test_fold_replays_to_the_same_state_as_stepwise_evolve() -> None:
    first = RecordCreated(record_id="accr_1", content=content(), review_status=ReviewStatus.PREPARE)
    second = ReviewStatusChanged(
        from_status=ReviewStatus.PREPARE, to_status=ReviewStatus.READY_FOR_EXPORT
    )
    state = fold([(first, T0), (second, T0 + timedelta(minutes=1))])
    assert state is not None
    assert state.review_status is ReviewStatus.READY_FOR_EXPORT
    assert state.version == 2 and state.updated_at == T0 + timedelta(minutes=1)


def test_expense_side_is_credit_for_reversals() -> None:
    assert content().expense_side() is LineItemType.DEBIT
    assert content(type=RecordType.CARD_EXPENSE_REFUND.value).expense_side() is LineItemType.CREDIT


# --- integrations ------------------------------------------------------------------


def integrations_with(*events: ig.IntegrationEvent) -> ig.Integrations:
    return ig.fold((e, T0) for e in events)


CREATED = ig.IntegrationCreated(integration_id="int_1", vendor="ERP_A", vendor_account_id="acc_1")


def test_create_when_none_active_and_return_existing_when_identical() -> None:
    (event,) = ig.decide(
        ig.CreateIntegration(new_integration_id="int_1", vendor="ERP_A", vendor_account_id="acc_1"),
        ig.Integrations(),
    )
    assert event == CREATED
    assert (
        ig.decide(
            ig.CreateIntegration(
                new_integration_id="int_2", vendor="ERP_A", vendor_account_id="acc_1"
            ),
            integrations_with(CREATED),
        )
        == []
    )


def test_create_conflicts_carry_their_details() -> None:
    state = integrations_with(CREATED)
    with pytest.raises(VendorAccountIdMismatch) as mismatch:
        ig.decide(
            ig.CreateIntegration(
                new_integration_id="int_2", vendor="ERP_A", vendor_account_id="acc_2"
            ),
            state,
        )
    assert mismatch.value.details == {
        "existing_integration_id": "int_1",
        "existing_vendor_account_id": "acc_1",
        "requested_vendor_account_id": "acc_2",
    }
    with pytest.raises(ActiveIntegrationExists) as exists:
        ig.decide(
            ig.CreateIntegration(
                new_integration_id="int_2", vendor="ERP_B", vendor_account_id="acc_1"
            ),
            state,
        )
    assert exists.value.details == {
        "existing_integration_id": "int_1",
        "existing_vendor": "ERP_A",
        "requested_vendor": "ERP_B",
    }


def test_disabled_integration_is_never_reused_by_create() -> None:
    state = integrations_with(CREATED, ig.IntegrationDisconnected(integration_id="int_1"))
    (event,) = ig.decide(
        ig.CreateIntegration(new_integration_id="int_2", vendor="ERP_A", vendor_account_id="acc_1"),
        state,
    )
    assert isinstance(event, ig.IntegrationCreated) and event.integration_id == "int_2"


def test_disconnect_and_reactivate_rules() -> None:
    state = integrations_with(CREATED)
    assert ig.decide(ig.DisconnectIntegration(integration_id="int_1"), state) == [
        ig.IntegrationDisconnected(integration_id="int_1")
    ]
    with pytest.raises(NotFound):
        ig.decide(ig.DisconnectIntegration(integration_id="int_x"), state)
    with pytest.raises(ActiveIntegrationExists):
        ig.decide(ig.ReactivateIntegration(integration_id="int_1"), state)  # itself is ACTIVE
    disabled = ig.evolve(state, ig.IntegrationDisconnected(integration_id="int_1"), T0)
    with pytest.raises(IntegrationNotActive) as not_active:
        ig.decide(ig.DisconnectIntegration(integration_id="int_1"), disabled)
    assert not_active.value.details == {"integration_id": "int_1", "current_status": "DISABLED"}
    assert ig.decide(ig.ReactivateIntegration(integration_id="int_1"), disabled) == [
        ig.IntegrationReactivated(integration_id="int_1")
    ]


# --- export results ----------------------------------------------------------------

ACTIVE = ig.Integration(
    integration_id="int_1",
    vendor="ERP_A",
    vendor_account_id="acc_1",
    status="ACTIVE",
    created_at=T0,
)


def report(*items: tuple[str, bool]) -> ReportExportResults:
    return ReportExportResults(
        results=tuple(
            ExportResult(
                accounting_record_id=rid,
                outcome=ExportSuccess(reference_id="R")
                if ok
                else ExportFailure(error_message="no"),
            )
            for rid, ok in items
        )
    )


def test_checks_run_in_contract_order_and_name_every_offender_in_request_order() -> None:
    ready = {r: created(r, ReviewStatus.READY_FOR_EXPORT) for r in ("accr_a", "accr_b")}
    prepare = {"accr_p": created("accr_p"), "accr_q": created("accr_q")}
    with pytest.raises(DuplicateRecordIds) as dup:
        decide_export(
            report(
                ("accr_b", True),
                ("accr_a", True),
                ("accr_b", False),
                ("accr_a", True),
                ("accr_x", True),
            ),
            None,
            None,
            {},
        )
    assert dup.value.details == {"duplicate_accounting_record_ids": ["accr_b", "accr_a"]}
    with pytest.raises(NoActiveIntegration) as inactive:
        decide_export(
            report(("accr_x", True)), None, ACTIVE.model_copy(update={"status": "DISABLED"}), {}
        )
    assert inactive.value.details == {"integration_id": "int_1", "current_status": "DISABLED"}
    with pytest.raises(RecordsNotFound) as missing:
        decide_export(
            report(("accr_z", True), ("accr_p", True), ("accr_y", True)), ACTIVE, None, prepare
        )
    assert missing.value.details == {"not_found_export_entry_source_ids": ["accr_z", "accr_y"]}
    with pytest.raises(RecordsNotReadyForExport) as not_ready:
        decide_export(
            report(("accr_q", True), ("accr_a", True), ("accr_p", False)),
            ACTIVE,
            None,
            ready | prepare,
        )
    assert not_ready.value.details == {
        "not_ready_for_export_accounting_record_ids": ["accr_q", "accr_p"]
    }


def test_no_integration_at_all_has_no_details() -> None:
    with pytest.raises(NoActiveIntegration) as inactive:
        decide_export(report(("accr_x", True)), None, None, {})
    assert inactive.value.details is None


def test_a_valid_batch_yields_one_event_per_record_in_request_order() -> None:
    ready = {r: created(r, ReviewStatus.READY_FOR_EXPORT) for r in ("accr_a", "accr_b")}
    decided = decide_export(report(("accr_b", False), ("accr_a", True)), ACTIVE, None, ready)
    assert [change.record_id for change in decided] == ["accr_b", "accr_a"]
    assert [change.before for change in decided] == [ready["accr_b"], ready["accr_a"]]
    (failed,), (succeeded,) = (change.events for change in decided)
    assert isinstance(failed, ExportFailed) and failed.error.message == "no"
    assert isinstance(succeeded, ExportSucceeded)
    assert (succeeded.integration_id, succeeded.vendor, succeeded.vendor_account_id) == (
        "int_1",
        "ERP_A",
        "acc_1",
    )
