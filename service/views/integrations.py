"""CONTRACT §3: integrations."""

from __future__ import annotations

from aiohttp import web

from domain.integrations import (
    CreateIntegration,
    DisconnectIntegration,
    IntegrationCommand,
    ReactivateIntegration,
)
from eventstore.types import Conn
from projections.integrations import list_integrations
from service.appkeys import POOL
from service.auth import INTEGRATION_WRITE, principal, requires
from service.handlers.integrations import execute as execute_integration
from service.ids import new_integration_id
from service.jsonio import json_response
from service.render import integration_json
from service.schemas import CreateIntegrationBody
from service.transactions import Outcome
from service.views.common import caller_of, execute, read_body

routes = web.RouteTableDef()


async def _run(request: web.Request, command: IntegrationCommand, body: object) -> web.Response:
    caller = caller_of(request)

    async def work(conn: Conn) -> Outcome:
        integration = await execute_integration(conn, caller, command)
        return Outcome(200, integration_json(integration))

    return await execute(request, work, body)


@routes.post("/v3/accounting/integration")
@requires(INTEGRATION_WRITE)
async def create_integration(request: web.Request) -> web.Response:
    body, raw = await read_body(request, CreateIntegrationBody)
    command = CreateIntegration(
        new_integration_id=new_integration_id(),
        vendor=body.vendor,
        vendor_account_id=body.vendor_account_id,
    )
    return await _run(request, command, raw)


@routes.post("/v3/accounting/integration/{integration_id}/disconnect")
@requires(INTEGRATION_WRITE)
async def disconnect_integration(request: web.Request) -> web.Response:
    command = DisconnectIntegration(integration_id=request.match_info["integration_id"])
    return await _run(request, command, None)


@routes.post("/v3/accounting/integration/{integration_id}/reactivate")
@requires(INTEGRATION_WRITE)
async def reactivate_integration(request: web.Request) -> web.Response:
    command = ReactivateIntegration(integration_id=request.match_info["integration_id"])
    return await _run(request, command, None)


@routes.get("/v3/accounting/integration")
@requires(INTEGRATION_WRITE)
async def list_account_integrations(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        found = await list_integrations(conn, principal(request).account_id)
    return json_response({"items": [integration_json(i) for i in found]})
