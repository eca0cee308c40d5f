"""export-results: one transaction for the whole batch (CONTRACT §4.1)."""

from __future__ import annotations

from domain.exports import ReportExportResults, decide_export
from eventstore.types import Conn
from projections.integrations import latest_integration, lock_active_integration
from projections.records import load_records
from service.commands.caller import Caller
from service.commands.records import write_records
from service.metrics import EXPORT_RESULTS


async def report_export_results(
    conn: Conn, caller: Caller, command: ReportExportResults
) -> list[str]:
    """The updated record ids, in request order."""
    account = caller.account_id
    active = await lock_active_integration(conn, account)
    latest = None if active else await latest_integration(conn, account)
    states = await load_records(conn, account, command.record_ids())
    await write_records(conn, caller, decide_export(command, active, latest, states))
    return command.record_ids()


def count_reported(command: ReportExportResults, _updated: list[str]) -> None:
    for item in command.results:
        EXPORT_RESULTS.labels(type(item.outcome).__name__).inc()
