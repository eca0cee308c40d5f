"""The executor of the integration commands (create, disconnect, reactivate)."""

from __future__ import annotations

from domain import integrations
from domain.integrations import STREAM_ID, CreateIntegration, Integration, IntegrationCommand
from eventstore.store import append
from eventstore.types import Conn, StreamWrite
from projections.codecs import INTEGRATIONS
from projections.integrations import load_integrations, project_integrations
from service.commands.caller import Caller


async def run_integration_command(
    conn: Conn, caller: Caller, command: IntegrationCommand
) -> Integration:
    """The integration the command created, found or changed."""
    state = await load_integrations(conn, caller.account_id)
    events = integrations.decide(command, state)
    if events:
        encoded = [INTEGRATIONS.encode(event, caller.metadata()) for event in events]
        write = StreamWrite(caller.account_id, STREAM_ID, state.version, encoded)
        recorded = await append(conn, [write])
        state = await project_integrations(conn, caller.account_id, state, events, recorded)
    target = (
        state.active()
        if isinstance(command, CreateIntegration)
        else state.get(command.integration_id)
    )
    assert target is not None, "decide refuses commands on integrations that do not exist"
    return target
