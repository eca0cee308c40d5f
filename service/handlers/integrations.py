"""Load -> decide -> append -> project, for the account's integrations."""

from __future__ import annotations

from domain import integrations
from domain.integrations import (
    STREAM_ID,
    CreateIntegration,
    Integration,
    IntegrationCommand,
    Integrations,
)
from eventstore.store import append, read_stream
from eventstore.types import Conn, StreamWrite
from projections.codecs import INTEGRATIONS
from projections.integrations import save_integrations
from service.transactions import Caller


async def load_integrations(conn: Conn, account_id: str) -> Integrations:
    stream = await read_stream(conn, account_id, STREAM_ID)
    return integrations.fold((INTEGRATIONS.decode(e), e.recorded_at) for e in stream)


async def execute(conn: Conn, caller: Caller, command: IntegrationCommand) -> Integration:
    """Run the command; answer with the integration it created, found or changed."""
    state = await load_integrations(conn, caller.account_id)
    events = integrations.decide(command, state)
    if events:
        write = StreamWrite(
            caller.account_id,
            STREAM_ID,
            state.version,
            [INTEGRATIONS.encode(event, caller.metadata()) for event in events],
        )
        before = state
        for recorded, event in zip(await append(conn, [write]), events, strict=True):
            state = integrations.evolve(state, event, recorded.recorded_at)
        changed = [i for i in state.items if i not in before.items]
        await save_integrations(conn, caller.account_id, changed, recorded.recorded_at)
    if isinstance(command, CreateIntegration):
        target = state.active()
    else:
        target = state.get(command.integration_id)
    assert target is not None
    return target
