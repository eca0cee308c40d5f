"""The command table: each command type, the executor that runs it, and how its result is
kept for idempotent replays. Adding a command is one executor and one row here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from eventstore.types import Conn
from service.commands import exports, imports, integrations, records
from service.commands.caller import Caller


@dataclass(frozen=True)
class Executor:
    """Runs one kind of command inside the command's transaction: load -> decide -> append
    -> project. Raises DomainError to refuse (before anything is written)."""

    run: Callable[[Conn, Caller, Any], Awaitable[Any]]
    result: TypeAdapter[Any]  # how the result is kept under an Idempotency-Key
    after_commit: Callable[[Any, Any], None] | None = None  # once committed, never on replays


def _executor(
    run: Callable[[Conn, Caller, Any], Awaitable[Any]],
    result: Any,
    after_commit: Callable[[Any, Any], None] | None = None,
) -> Executor:
    return Executor(run, TypeAdapter(result), after_commit)


EXECUTORS: dict[type[BaseModel], Executor] = {
    PutRecord: _executor(records.put_record, records.PutResult),
    ChangeReviewStatus: _executor(records.change_review_status, RecordState),
    CreateIntegration: _executor(integrations.run_integration_command, Integration),
    DisconnectIntegration: _executor(integrations.run_integration_command, Integration),
    ReactivateIntegration: _executor(integrations.run_integration_command, Integration),
    ReportExportResults: _executor(
        exports.report_export_results, list[str], exports.count_reported
    ),
    ImportRecords: _executor(imports.import_records, ImportReport),
}
