"""The account's ERP integrations: at most one ACTIVE at a time (CONTRACT §3)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, assert_never

from domain.errors import (
    ActiveIntegrationExists,
    IntegrationNotActive,
    NotFound,
    VendorAccountIdMismatch,
)
from domain.values import Frozen, Instant, Text

STREAM_ID = "integrations"
Status = Literal["ACTIVE", "DISABLED"]


class Integration(Frozen):
    integration_id: str
    vendor: str
    vendor_account_id: str
    status: Status
    created_at: Instant


class Integrations(Frozen):
    """Every integration of one account, oldest first, and the stream's version."""

    items: tuple[Integration, ...] = ()
    version: int = 0

    def active(self) -> Integration | None:
        return next((i for i in self.items if i.status == "ACTIVE"), None)

    def latest(self) -> Integration | None:
        return self.items[-1] if self.items else None

    def get(self, integration_id: str) -> Integration | None:
        return next((i for i in self.items if i.integration_id == integration_id), None)


# --- events --------------------------------------------------------------------------


class IntegrationCreated(Frozen):
    integration_id: str
    vendor: str
    vendor_account_id: str


class IntegrationDisconnected(Frozen):
    integration_id: str


class IntegrationReactivated(Frozen):
    integration_id: str


IntegrationEvent = IntegrationCreated | IntegrationDisconnected | IntegrationReactivated
INTEGRATION_EVENTS: tuple[type[IntegrationEvent], ...] = (
    IntegrationCreated,
    IntegrationDisconnected,
    IntegrationReactivated,
)

# --- commands ------------------------------------------------------------------------


class CreateIntegration(Frozen):
    new_integration_id: str  # made at the edge: the domain has no randomness
    vendor: Text
    vendor_account_id: Text


class DisconnectIntegration(Frozen):
    integration_id: str


class ReactivateIntegration(Frozen):
    integration_id: str


IntegrationCommand = CreateIntegration | DisconnectIntegration | ReactivateIntegration

# --- decide / evolve -----------------------------------------------------------------


def decide(command: IntegrationCommand, state: Integrations) -> list[IntegrationEvent]:
    active = state.active()
    match command:
        case CreateIntegration(vendor=vendor, vendor_account_id=account):
            if active is None:
                return [
                    IntegrationCreated(
                        integration_id=command.new_integration_id,
                        vendor=vendor,
                        vendor_account_id=account,
                    )
                ]
            if active.vendor != vendor:
                raise ActiveIntegrationExists(active.integration_id, active.vendor, vendor)
            if active.vendor_account_id != account:
                raise VendorAccountIdMismatch(
                    active.integration_id, active.vendor_account_id, account
                )
            return []  # the same integration already exists: answer with it
        case DisconnectIntegration(integration_id=integration_id):
            target = _existing(state, integration_id)
            if target.status != "ACTIVE":
                raise IntegrationNotActive(integration_id, target.status)
            return [IntegrationDisconnected(integration_id=integration_id)]
        case ReactivateIntegration(integration_id=integration_id):
            target = _existing(state, integration_id)
            if active is not None:
                raise ActiveIntegrationExists(active.integration_id, active.vendor, target.vendor)
            return [IntegrationReactivated(integration_id=integration_id)]
        case _:
            assert_never(command)


def _existing(state: Integrations, integration_id: str) -> Integration:
    found = state.get(integration_id)
    if found is None:
        raise NotFound(f"Integration {integration_id} not found.")
    return found


def evolve(state: Integrations, event: IntegrationEvent, at: datetime) -> Integrations:
    match event:
        case IntegrationCreated():
            created = Integration(
                integration_id=event.integration_id,
                vendor=event.vendor,
                vendor_account_id=event.vendor_account_id,
                status="ACTIVE",
                created_at=at,
            )
            items = (*state.items, created)
        case IntegrationDisconnected(integration_id=integration_id):
            items = _with_status(state, integration_id, "DISABLED")
        case IntegrationReactivated(integration_id=integration_id):
            items = _with_status(state, integration_id, "ACTIVE")
        case _:
            assert_never(event)
    return Integrations(items=items, version=state.version + 1)


def _with_status(
    state: Integrations, integration_id: str, status: Status
) -> tuple[Integration, ...]:
    return tuple(
        i.model_copy(update={"status": status}) if i.integration_id == integration_id else i
        for i in state.items
    )


def fold(events: Iterable[tuple[IntegrationEvent, datetime]]) -> Integrations:
    state = Integrations()
    for event, at in events:
        state = evolve(state, event, at)
    return state
