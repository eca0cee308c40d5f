"""CONTRACT §3: integrations."""

from __future__ import annotations

from typing import Any

from domain import errors
from domain.integrations import (
    CreateIntegration,
    DisconnectIntegration,
    IntegrationCommand,
    ReactivateIntegration,
)
from projections.integrations import list_integrations
from service.api.answers import Integration, IntegrationList
from service.api.auth import INTEGRATION_WRITE
from service.api.bodies import CreateIntegrationBody
from service.api.keys import POOL
from service.api.params import IntegrationPath
from service.api.render import integration_json
from service.api.routing import Call, Reply, Routes
from service.commands.ids import new_integration_id

routes = Routes()
INTEGRATIONS = {"tag": "Integrations", "scopes": (INTEGRATION_WRITE,)}


async def _run(call: Call[Any, Any, Any], command: IntegrationCommand) -> Reply:
    done = await call.run(command)
    return Reply(integration_json(done.result), replayed=done.replayed)


@routes.route(
    "POST",
    "/v3/accounting/integration",
    operation_id="createIntegration",
    summary="Connect the account to an ERP",
    description="Creates the account's ACTIVE integration, or answers with it when one with "
    "the same vendor and vendor_account_id already exists. A DISABLED integration is never "
    "reused here: reactivate it instead.",
    body=CreateIntegrationBody,
    answers={200: Integration},
    errors=(errors.ActiveIntegrationExists, errors.VendorAccountIdMismatch),
    **INTEGRATIONS,
)
async def create_integration(call: Call[None, None, CreateIntegrationBody]) -> Reply:
    body = call.body
    return await _run(
        call,
        CreateIntegration(
            new_integration_id=new_integration_id(),
            vendor=body.vendor,
            vendor_account_id=body.vendor_account_id,
        ),
    )


@routes.route(
    "POST",
    "/v3/accounting/integration/{integration_id}/disconnect",
    operation_id="disconnectIntegration",
    summary="Disconnect an integration",
    description="Turns an ACTIVE integration DISABLED.",
    path_params=IntegrationPath,
    answers={200: Integration},
    errors=(errors.NotFound, errors.IntegrationNotActive),
    **INTEGRATIONS,
)
async def disconnect_integration(call: Call[IntegrationPath, None, None]) -> Reply:
    return await _run(call, DisconnectIntegration(integration_id=call.path.integration_id))


@routes.route(
    "POST",
    "/v3/accounting/integration/{integration_id}/reactivate",
    operation_id="reactivateIntegration",
    summary="Reactivate an integration",
    description="Turns a DISABLED integration ACTIVE again, if no integration is ACTIVE.",
    path_params=IntegrationPath,
    answers={200: Integration},
    errors=(errors.NotFound, errors.ActiveIntegrationExists),
    **INTEGRATIONS,
)
async def reactivate_integration(call: Call[IntegrationPath, None, None]) -> Reply:
    return await _run(call, ReactivateIntegration(integration_id=call.path.integration_id))


@routes.route(
    "GET",
    "/v3/accounting/integration",
    operation_id="listIntegrations",
    summary="List the account's integrations (extension)",
    description="Every integration of the caller's account, ACTIVE or DISABLED, newest first.",
    answers={200: IntegrationList},
    **INTEGRATIONS,
)
async def list_account_integrations(call: Call[None, None, None]) -> Reply:
    async with call.request.app[POOL].acquire() as conn:
        found = await list_integrations(conn, call.principal.account_id)
    return Reply({"items": [integration_json(i) for i in found]})
