"""CONTRACT §4: reading accounting records."""

from __future__ import annotations

from domain.errors import NotFound
from projections.record_query import RecordFilter, query_records
from projections.records import load_record, record_as_of
from service.api.answers import AccountingRecord, AccountingRecordPage
from service.api.auth import RECORD_READ, RECORD_WRITE
from service.api.cursors import decode_cursor, encode_cursor
from service.api.keys import POOL
from service.api.params import RecordPath, RecordQuery, RecordsQuery
from service.api.render import record_json
from service.api.routing import Call, Reply, Routes

routes = Routes()
READERS = (RECORD_READ, RECORD_WRITE)


@routes.route(
    "GET",
    "/v3/accounting/records",
    operation_id="queryAccountingRecords",
    summary="Page through accounting records",
    description="Records of the caller's account ordered by updated_at, then id. Follow "
    "`next_cursor` until `has_next_page` is false: paging neither skips nor repeats a record "
    "while others write.",
    tag="Records",
    scopes=READERS,
    query=RecordsQuery,
    answers={200: AccountingRecordPage},
)
async def query_accounting_records(call: Call[None, RecordsQuery, None]) -> Reply:
    q = call.query
    position = decode_cursor(q.cursor) if q.cursor else None
    filters = RecordFilter(
        ids=tuple(q.ids),
        review_status=q.review_status,
        source_type=q.source_type,
        updated_after=q.updated_after,
        updated_from=q.updated_from,
        updated_before=q.updated_before,
        updated_until=q.updated_until,
    )
    async with call.request.app[POOL].acquire() as conn:
        page = await query_records(conn, call.principal.account_id, filters, position, q.limit)
    return Reply(
        {
            "items": [record_json(state, q.single_entry) for state in page.items],
            "has_next_page": page.next_position is not None,
            "next_cursor": encode_cursor(page.next_position) if page.next_position else None,
            "total_count": page.total_count,
        }
    )


@routes.route(
    "GET",
    "/v3/accounting/records/{record_id}",
    operation_id="getAccountingRecord",
    summary="Read one accounting record",
    description="The record as it is now, or as it stood at `as_of`.",
    tag="Records",
    scopes=READERS,
    path_params=RecordPath,
    query=RecordQuery,
    answers={200: AccountingRecord},
    errors=(NotFound,),
)
async def get_accounting_record(call: Call[RecordPath, RecordQuery, None]) -> Reply:
    record_id, account_id = call.path.record_id, call.principal.account_id
    async with call.request.app[POOL].acquire() as conn:
        if call.query.as_of is None:
            state = await load_record(conn, account_id, record_id)
        else:
            state = await record_as_of(conn, account_id, record_id, call.query.as_of)
    if state is None:
        raise NotFound(f"Accounting record {record_id} not found.")
    return Reply(record_json(state, call.query.single_entry))
