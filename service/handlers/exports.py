"""export-results: one transaction for the whole batch (CONTRACT §4.1)."""

from __future__ import annotations

from domain.exports import ReportExportResults, decide_export
from eventstore.types import Conn
from projections.integrations import latest_integration, lock_active_integration
from projections.records import load_records
from service.handlers.records import write_changes
from service.transactions import Caller


async def report_export_results(
    conn: Conn, caller: Caller, command: ReportExportResults
) -> list[str]:
    account = caller.account_id
    active = await lock_active_integration(conn, account)
    latest = None if active else await latest_integration(conn, account)
    ids = [result.accounting_record_id for result in command.results]
    states = await load_records(conn, account, ids)
    decided = decide_export(command, active, latest, states)
    await write_changes(conn, caller, [(state.id, state, [event]) for state, event in decided])
    return ids
