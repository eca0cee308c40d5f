"""The command table: each command type, what it reads, how it is decided, and how its
result is kept for idempotent replays. Adding a command is one executor and one row here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter

from domain.exports import ReportExportResults
from domain.imports import ImportRecords, ImportReport
from domain.integrations import (
    CreateIntegration,
    DisconnectIntegration,
    Integration,
    ReactivateIntegration,
)
from domain.records import ChangeReviewStatus, PutRecord, RecordState
from service.commands import exports, imports, integrations, records
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.loading import Loaded, Needs


@dataclass(frozen=True)
class Executor:
    """Reads (`needs`), then decides against what was read (`decide`, pure: it raises a
    DomainError to refuse); the runner writes the decision."""

    needs: Callable[[Caller, Any], Needs]
    decide: Callable[[Caller, Any, Loaded], Decision]
    result: TypeAdapter[Any]  # how the result is kept under an Idempotency-Key
    after_commit: Callable[[Any, Any], None] | None = None  # once committed, never on replays


def _executor(
    needs: Callable[[Caller, Any], Needs],
    decide: Callable[[Caller, Any, Loaded], Decision],
    result: Any,
    after_commit: Callable[[Any, Any], None] | None = None,
) -> Executor:
    return Executor(needs, decide, TypeAdapter(result), after_commit)


_INTEGRATION = _executor(integrations.needs, integrations.run_integration_command, Integration)

EXECUTORS: dict[type[BaseModel], Executor] = {
    PutRecord: _executor(records.needs_record, records.put_record, records.PutResult),
    ChangeReviewStatus: _executor(records.needs_record, records.change_review_status, RecordState),
    CreateIntegration: _INTEGRATION,
    DisconnectIntegration: _INTEGRATION,
    ReactivateIntegration: _INTEGRATION,
    ReportExportResults: _executor(
        exports.needs, exports.report_export_results, list[str], exports.count_reported
    ),
    ImportRecords: _executor(imports.needs, imports.import_records, ImportReport),
}
