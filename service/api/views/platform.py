"""CONTRACT §5: the platform side that creates records and moves their review status."""

from __future__ import annotations

from domain import errors
from domain.records import ChangeReviewStatus, PutRecord
from service.api.answers import AccountingRecord
from service.api.auth import RECORD_MANAGE
from service.api.bodies import PutRecordBody, ReviewStatusBody
from service.api.params import NewRecordPath
from service.api.render import record_json
from service.api.routing import Call, Reply, Routes

routes = Routes()
PLATFORM = {"tag": "Platform", "scopes": (RECORD_MANAGE,), "path_params": NewRecordPath}


@routes.route(
    "PUT",
    "/internal/accounting/records/{record_id}",
    operation_id="putAccountingRecord",
    summary="Create or revise a record (platform side, extension)",
    description="The first put creates the record (PREPARE unless review_status says "
    "otherwise); a changed body revises it; an identical body changes nothing.",
    body=PutRecordBody,
    answers={200: AccountingRecord, 201: AccountingRecord},
    errors=(errors.RecordExported,),
    **PLATFORM,
)
async def put_accounting_record(call: Call[NewRecordPath, None, PutRecordBody]) -> Reply:
    body = call.body
    command = PutRecord(
        record_id=call.path.record_id, content=body.content(), review_status=body.review_status
    )
    done = await call.run(command)
    status = 201 if done.result.created else 200
    return Reply(record_json(done.result.state), status, done.replayed)


@routes.route(
    "POST",
    "/internal/accounting/records/{record_id}/review-status",
    operation_id="setAccountingRecordReviewStatus",
    summary="Move a record between review stages (platform side, extension)",
    description="Moves a record between PREPARE, REVIEW and READY_FOR_EXPORT. EXPORTED is "
    "reached only through export results, and never left.",
    body=ReviewStatusBody,
    answers={200: AccountingRecord},
    errors=(errors.NotFound, errors.RecordExported),
    **PLATFORM,
)
async def set_review_status(call: Call[NewRecordPath, None, ReviewStatusBody]) -> Reply:
    command = ChangeReviewStatus(
        record_id=call.path.record_id, review_status=call.body.review_status
    )
    done = await call.run(command)
    return Reply(record_json(done.result), replayed=done.replayed)
