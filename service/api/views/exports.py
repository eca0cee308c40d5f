"""CONTRACT §4.1: POST /v3/accounting/records/export-results."""

from __future__ import annotations

from domain import errors
from service.api.answers import ExportResultsResponse
from service.api.auth import RECORD_WRITE
from service.api.bodies import ExportResultsBody
from service.api.routing import Call, Reply, Routes

routes = Routes()


@routes.route(
    "POST",
    "/v3/accounting/records/export-results",
    operation_id="reportAccountingExportResults",
    summary="Report what happened to exported records",
    description="All or nothing: each success moves its record to EXPORTED, each failure sends "
    "it back to REVIEW with the error kept. Checks run in this order: duplicate ids, an ACTIVE "
    "integration, unknown ids, records not READY_FOR_EXPORT; each refusal lists every "
    "offending id in request order.",
    tag="Records",
    scopes=(RECORD_WRITE,),
    body=ExportResultsBody,
    answers={200: ExportResultsResponse},
    errors=(
        errors.DuplicateRecordIds,
        errors.NoActiveIntegration,
        errors.RecordsNotFound,
        errors.RecordsNotReadyForExport,
    ),
)
async def export_results(call: Call[None, None, ExportResultsBody]) -> Reply:
    done = await call.run(call.body.command())
    return Reply({"updated_accounting_record_ids": done.result}, replayed=done.replayed)
