"""The executor of a bulk-import batch: decided line by line, written in one statement."""

from __future__ import annotations

from domain.imports import ImportRecords, decide_import
from projections.records import evolve_changes
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.loading import Loaded, Needs


def needs(caller: Caller, command: ImportRecords) -> Needs:
    return Needs(caller.account_id, command.record_ids())


def import_records(caller: Caller, command: ImportRecords, loaded: Loaded) -> Decision:
    account = caller.account_id
    states = {i: s for i in command.record_ids() if (s := loaded.record(account, i)) is not None}
    changes, report = decide_import(command, states)
    return Decision(result=report, records=changes, states=evolve_changes(changes, loaded.at))
