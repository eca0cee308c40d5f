"""The executor of the integration commands (create, disconnect, reactivate)."""

from __future__ import annotations

from domain import integrations
from domain.integrations import CreateIntegration, IntegrationCommand
from service.commands.caller import Caller
from service.commands.decision import Decision
from service.commands.loading import Loaded, Needs, folded


def needs(caller: Caller, command: IntegrationCommand) -> Needs:
    return Needs(caller.account_id, integrations=True)


def run_integration_command(
    caller: Caller, command: IntegrationCommand, loaded: Loaded
) -> Decision:
    """The integration the command created, found or changed."""
    state = loaded.integrations_of(caller.account_id)
    events = integrations.decide(command, state)
    after = folded(state, events, loaded.at)
    target = (
        after.active()
        if isinstance(command, CreateIntegration)
        else after.get(command.integration_id)
    )
    assert target is not None, "decide refuses commands on integrations that do not exist"
    return Decision(
        result=target,
        integration_events=events,
        integrations=after,
        integrations_version=state.version,
    )
