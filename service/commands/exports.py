"""export-results, decided for the whole batch (CONTRACT §4.1)."""

from __future__ import annotations

from domain.exports import ReportExportResults, decide_export
from projections.records import evolve_changes
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.loading import Loaded, Needs
from service.metrics import EXPORT_RESULTS


def needs(caller: Caller, command: ReportExportResults) -> Needs:
    return Needs(caller.account_id, command.record_ids(), integrations=True)


def report_export_results(caller: Caller, command: ReportExportResults, loaded: Loaded) -> Decision:
    """The updated record ids, in request order. The write holds the ACTIVE integration:
    if it was disconnected meanwhile, the command is decided again."""
    account = caller.account_id
    known = loaded.integrations_of(account)
    active = known.active()
    states = {i: s for i in command.record_ids() if (s := loaded.record(account, i)) is not None}
    changes = decide_export(command, active, known.latest(), states)
    assert active is not None, "decide_export refuses without an ACTIVE integration"
    return Decision(
        result=command.record_ids(),
        records=changes,
        states=evolve_changes(changes, loaded.at),
        guard=active.integration_id,
    )


def count_reported(command: ReportExportResults, _updated: list[str]) -> None:
    for item in command.results:
        EXPORT_RESULTS.labels(type(item.outcome).__name__).inc()
