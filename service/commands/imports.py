"""The executor of a bulk-import batch: decided line by line, written in one statement."""

from __future__ import annotations

from domain.imports import ImportRecords, ImportReport, decide_import
from eventstore.types import Conn
from projections.records import load_records
from service.commands.caller import Caller
from service.commands.records import write_records


async def import_records(conn: Conn, caller: Caller, command: ImportRecords) -> ImportReport:
    states = await load_records(conn, caller.account_id, command.record_ids())
    changes, report = decide_import(command, states)
    await write_records(conn, caller, changes)
    return report
