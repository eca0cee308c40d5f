"""One table from failure to status + error_code + details (CONTRACT §2)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from domain import errors as domain
from service.jsonio import json_response


class ApiError(Exception):
    """A refusal decided at the edge (auth, request shape, idempotency)."""

    def __init__(
        self, status: int, error_code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details


def invalid_request(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", message, details)


# Most specific class first: the first match decides the status.
DOMAIN_STATUS: tuple[tuple[type[domain.DomainError], int], ...] = (
    (domain.RecordExported, 422),
    (domain.InvalidRequest, 400),
    (domain.NotFound, 404),
    (domain.RecordsNotFound, 404),
    (domain.ActiveIntegrationExists, 409),
    (domain.VendorAccountIdMismatch, 409),
    (domain.IntegrationNotActive, 409),
    (domain.NoActiveIntegration, 422),
    (domain.DuplicateRecordIds, 422),
    (domain.RecordsNotReadyForExport, 422),
)

# aiohttp's own refusals (routing, body size, ...) by status.
HTTP_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "INVALID_REQUEST",
    413: "INVALID_REQUEST",
    415: "INVALID_REQUEST",
}


def domain_status(error: domain.DomainError) -> int:
    return next(status for cls, status in DOMAIN_STATUS if isinstance(error, cls))


def envelope(error_code: str, message: str, details: dict[str, Any] | None) -> dict[str, Any]:
    return {"error_code": error_code, "message": message, "details": details}


def error_response(
    status: int, error_code: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    return json_response(envelope(error_code, message, details), status=status)


def domain_error_body(error: domain.DomainError) -> tuple[int, dict[str, Any]]:
    return domain_status(error), envelope(error.error_code, error.message, error.details)
