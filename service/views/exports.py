"""CONTRACT §4.1: POST /v3/accounting/records/export-results."""

from __future__ import annotations

from aiohttp import web

from eventstore.types import Conn
from service.auth import RECORD_WRITE, requires
from service.handlers.exports import report_export_results
from service.metrics import EXPORT_RESULTS
from service.schemas import ExportResultsBody
from service.transactions import Outcome
from service.views.common import caller_of, execute, read_body

routes = web.RouteTableDef()


@routes.post("/v3/accounting/records/export-results")
@requires(RECORD_WRITE)
async def export_results(request: web.Request) -> web.Response:
    body, raw = await read_body(request, ExportResultsBody)
    command = body.command()
    caller = caller_of(request)

    async def work(conn: Conn) -> Outcome:
        updated = await report_export_results(conn, caller, command)
        return Outcome(200, {"updated_accounting_record_ids": updated})

    response = await execute(request, work, raw)
    if response.status == 200 and "Idempotent-Replayed" not in response.headers:
        for item in command.results:  # counted once committed, never for a replay
            EXPORT_RESULTS.labels(type(item.outcome).__name__).inc()
    return response
