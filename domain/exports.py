"""Deciding a connector's batch of export results (CONTRACT §4.1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import assert_never

from domain.errors import (
    DuplicateRecordIds,
    NoActiveIntegration,
    RecordsNotFound,
    RecordsNotReadyForExport,
)
from domain.integrations import Integration
from domain.records import (
    ExportError,
    ExportFailed,
    ExportSucceeded,
    RecordChange,
    RecordState,
)
from domain.values import Frozen, ReviewStatus, Text


class ExportSuccess(Frozen):
    reference_id: str | None = None
    deep_link_url: str | None = None


class ExportFailure(Frozen):
    error_message: Text
    error_code: str | None = None  # extension: a machine-readable reason, when the ERP gives one


class ExportResult(Frozen):
    accounting_record_id: str
    outcome: ExportSuccess | ExportFailure


class ReportExportResults(Frozen):
    results: tuple[ExportResult, ...]

    def record_ids(self) -> list[str]:
        return [result.accounting_record_id for result in self.results]


ExportEvent = ExportSucceeded | ExportFailed


def decide_export(
    command: ReportExportResults,
    active: Integration | None,
    latest: Integration | None,
    records: Mapping[str, RecordState],
) -> list[RecordChange]:
    """One event per reported record, in request order; or the first failed check,
    naming every offending id in request order. All or nothing."""
    ids = command.record_ids()
    seen = Counter(ids)
    duplicates = _in_order(i for i in ids if seen[i] > 1)
    if duplicates:
        raise DuplicateRecordIds(duplicates)
    if active is None:
        raise NoActiveIntegration(
            latest.integration_id if latest else None, latest.status if latest else None
        )
    missing = [i for i in ids if i not in records]
    if missing:
        raise RecordsNotFound(missing)
    not_ready = [i for i in ids if records[i].review_status is not ReviewStatus.READY_FOR_EXPORT]
    if not_ready:
        raise RecordsNotReadyForExport(not_ready)
    return [
        RecordChange(r.accounting_record_id, records[r.accounting_record_id], (_event(r, active),))
        for r in command.results
    ]


def _event(result: ExportResult, integration: Integration) -> ExportEvent:
    common = {
        "integration_id": integration.integration_id,
        "vendor": integration.vendor,
        "vendor_account_id": integration.vendor_account_id,
    }
    match result.outcome:
        case ExportSuccess(reference_id=reference_id, deep_link_url=deep_link_url):
            return ExportSucceeded(**common, reference_id=reference_id, deep_link_url=deep_link_url)
        case ExportFailure(error_message=message, error_code=code):
            return ExportFailed(**common, error=ExportError(message=message, code=code))
        case _:
            assert_never(result.outcome)


def _in_order(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
