"""CONTRACT §5: the platform side that creates records and moves their review status."""

from __future__ import annotations

from aiohttp import web

from domain.errors import InvalidRequest
from domain.records import ChangeReviewStatus, PutRecord
from eventstore.types import Conn
from service.auth import RECORD_MANAGE, requires
from service.handlers.records import change_review_status, put_record
from service.ids import RECORD_ID_RULE, is_record_id
from service.render import record_json
from service.schemas import PutRecordBody, ReviewStatusBody
from service.transactions import Outcome
from service.views.common import caller_of, execute, read_body

routes = web.RouteTableDef()


def _record_id(request: web.Request) -> str:
    record_id = request.match_info["record_id"]
    if not is_record_id(record_id):
        raise InvalidRequest(
            f"The accounting record id {RECORD_ID_RULE}.",
            {"field": "record_id", "reason": RECORD_ID_RULE},
        )
    return record_id


@routes.put("/internal/accounting/records/{record_id}")
@requires(RECORD_MANAGE)
async def put_accounting_record(request: web.Request) -> web.Response:
    record_id = _record_id(request)
    body, raw = await read_body(request, PutRecordBody)
    command = PutRecord(
        record_id=record_id, content=body.content(), review_status=body.review_status
    )
    caller = caller_of(request)

    async def work(conn: Conn) -> Outcome:
        state, created = await put_record(conn, caller, command)
        return Outcome(201 if created else 200, record_json(state))

    return await execute(request, work, raw)


@routes.post("/internal/accounting/records/{record_id}/review-status")
@requires(RECORD_MANAGE)
async def set_review_status(request: web.Request) -> web.Response:
    record_id = _record_id(request)
    body, raw = await read_body(request, ReviewStatusBody)
    command = ChangeReviewStatus(record_id=record_id, review_status=body.review_status)
    caller = caller_of(request)

    async def work(conn: Conn) -> Outcome:
        return Outcome(200, record_json(await change_review_status(conn, caller, command)))

    return await execute(request, work, raw)
