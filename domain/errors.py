"""The domain's refusals, each carrying exactly the facts its error envelope needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    error_code: ClassVar[str]

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    error_code = "NOT_FOUND"


class InvalidRequest(DomainError):
    """A request the domain refuses as a whole (bad value, or a state that forbids it)."""

    error_code = "INVALID_REQUEST"


class RecordExported(InvalidRequest):
    """An EXPORTED record is final: it cannot be revised or moved by the platform."""

    def __init__(self, record_id: str, action: str) -> None:
        super().__init__(
            f"Accounting record {record_id} is EXPORTED and cannot be {action}.",
            {"accounting_record_id": record_id, "current_status": "EXPORTED"},
        )


class ActiveIntegrationExists(DomainError):
    error_code = "ACTIVE_INTEGRATION_EXISTS"

    def __init__(self, existing_id: str, existing_vendor: str, requested_vendor: str) -> None:
        super().__init__(
            f"The account already has an ACTIVE integration ({existing_id}, {existing_vendor}).",
            {
                "existing_integration_id": existing_id,
                "existing_vendor": existing_vendor,
                "requested_vendor": requested_vendor,
            },
        )


class VendorAccountIdMismatch(DomainError):
    error_code = "VENDOR_ACCOUNT_ID_MISMATCH"

    def __init__(self, existing_id: str, existing_account: str, requested_account: str) -> None:
        super().__init__(
            f"The ACTIVE integration {existing_id} is tied to another vendor_account_id.",
            {
                "existing_integration_id": existing_id,
                "existing_vendor_account_id": existing_account,
                "requested_vendor_account_id": requested_account,
            },
        )


class IntegrationNotActive(DomainError):
    """The integration named in the request is not ACTIVE."""

    error_code = "INTEGRATION_NOT_ACTIVE"

    def __init__(self, integration_id: str, current_status: str) -> None:
        super().__init__(
            f"Integration {integration_id} is {current_status}, not ACTIVE.",
            {"integration_id": integration_id, "current_status": current_status},
        )


class NoActiveIntegration(DomainError):
    """Export results arrive while the account has no ACTIVE integration."""

    error_code = "INTEGRATION_NOT_ACTIVE"

    def __init__(self, latest_id: str | None, latest_status: str | None) -> None:
        details = (
            {"integration_id": latest_id, "current_status": latest_status} if latest_id else None
        )
        super().__init__("The account has no ACTIVE accounting integration.", details)


class DuplicateRecordIds(DomainError):
    error_code = "DUPLICATE_ACCOUNTING_RECORD_IDS"

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(
            "Duplicate accounting record ids found across success and failure results: "
            + ", ".join(ids),
            {"duplicate_accounting_record_ids": list(ids)},
        )


class RecordsNotFound(DomainError):
    error_code = "NOT_FOUND"

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(
            "Accounting record source IDs not found: " + ", ".join(ids),
            {"not_found_export_entry_source_ids": list(ids)},
        )


class RecordsNotReadyForExport(DomainError):
    error_code = "ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT"

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(
            "Only accounting records with review status READY_FOR_EXPORT can be updated: "
            + ", ".join(ids),
            {"not_ready_for_export_accounting_record_ids": list(ids)},
        )
