"""The error vocabulary: every refusal the API gives, its error_code, HTTP status and
meaning, in one table read by the middleware and by the OpenAPI document (CONTRACT §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import asyncpg
from aiohttp import web

from domain import errors as domain
from service.commands.idempotency import KeyReused
from service.commands.runner import TooMuchContention


class EdgeError(Exception):
    """A refusal decided at the HTTP edge: the token, the scope, the request's shape."""

    error_code: ClassVar[str]

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(EdgeError):
    error_code = "INVALID_REQUEST"


class Unauthorized(EdgeError):
    error_code = "UNAUTHORIZED"


class Forbidden(EdgeError):
    error_code = "FORBIDDEN"


class UnsupportedMediaType(EdgeError):
    error_code = "INVALID_REQUEST"


class Unavailable(EdgeError):
    """The database cannot be reached: the client may retry (503, Retry-After)."""

    error_code = "INTERNAL_ERROR"


class Overloaded(Unavailable):
    """More requests are in flight than the service takes at once."""


class TimedOut(Unavailable):
    """The request took longer than the service allows; nothing of it was committed."""


@dataclass(frozen=True)
class ErrorRow:
    kind: type[BaseException]
    status: int
    meaning: str
    code: str | None = None  # for kinds that do not carry an error_code of their own

    @property
    def error_code(self) -> str:
        return self.code or str(getattr(self.kind, "error_code"))  # noqa: B009


_UNREACHABLE = "the database cannot be reached or answer in time; retry after `Retry-After`."
RETRY_AFTER_SECONDS = 1

ERRORS: tuple[ErrorRow, ...] = (
    ErrorRow(InvalidInput, 400, "a parameter, header or body was refused; `details` names it."),
    ErrorRow(domain.InvalidRequest, 400, "the request asks for something not allowed."),
    ErrorRow(Unauthorized, 401, "no bearer token, or it is invalid or expired."),
    ErrorRow(Forbidden, 403, "the token is valid but lacks the scope this operation needs."),
    ErrorRow(domain.NotFound, 404, "nothing with that id in the caller's account."),
    ErrorRow(
        domain.RecordsNotFound,
        404,
        "some record ids are unknown (`details.not_found_export_entry_source_ids`).",
    ),
    ErrorRow(web.HTTPNotFound, 404, "no such path.", "NOT_FOUND"),
    ErrorRow(web.HTTPMethodNotAllowed, 405, "method not allowed here.", "INVALID_REQUEST"),
    ErrorRow(domain.ActiveIntegrationExists, 409, "an ACTIVE integration already exists."),
    ErrorRow(
        domain.VendorAccountIdMismatch,
        409,
        "the ACTIVE integration has the same vendor but another vendor_account_id.",
    ),
    ErrorRow(domain.IntegrationNotActive, 409, "the integration is not ACTIVE."),
    ErrorRow(
        web.HTTPRequestEntityTooLarge,
        413,
        "the request body is larger than the server accepts.",
        "INVALID_REQUEST",
    ),
    ErrorRow(UnsupportedMediaType, 415, "the body is not sent as `application/json` (UTF-8)."),
    ErrorRow(
        KeyReused, 422, "this Idempotency-Key was used for another request.", "INVALID_REQUEST"
    ),
    ErrorRow(domain.RecordExported, 422, "the record is EXPORTED, which is final."),
    ErrorRow(domain.NoActiveIntegration, 422, "the account has no ACTIVE integration."),
    ErrorRow(domain.DuplicateRecordIds, 422, "a record id appears more than once."),
    ErrorRow(domain.RecordsNotReadyForExport, 422, "some records are not READY_FOR_EXPORT."),
    ErrorRow(
        Exception, 500, "an unexpected failure, logged under the X-Request-Id.", "INTERNAL_ERROR"
    ),
    ErrorRow(Unavailable, 503, _UNREACHABLE),
    ErrorRow(Overloaded, 503, "too many requests in flight; retry after `Retry-After`."),
    ErrorRow(TimedOut, 503, "the request took too long and was abandoned, nothing kept."),
    # What an unreachable or overwhelmed database raises on the way: the same answer.
    ErrorRow(OSError, 503, _UNREACHABLE, "INTERNAL_ERROR"),  # refused, reset, timed out
    ErrorRow(asyncpg.PostgresConnectionError, 503, _UNREACHABLE, "INTERNAL_ERROR"),
    ErrorRow(asyncpg.ConnectionDoesNotExistError, 503, _UNREACHABLE, "INTERNAL_ERROR"),
    # A connection whose server died mid-operation; the pool terminates it on release.
    ErrorRow(asyncpg.InternalClientError, 503, _UNREACHABLE, "INTERNAL_ERROR"),
    # Class 57: starting up, shutting down, crashed, statement_timeout.
    ErrorRow(asyncpg.exceptions.OperatorInterventionError, 503, _UNREACHABLE, "INTERNAL_ERROR"),
    ErrorRow(asyncpg.TooManyConnectionsError, 503, _UNREACHABLE, "INTERNAL_ERROR"),
    ErrorRow(
        asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
        503,
        _UNREACHABLE,
        "INTERNAL_ERROR",
    ),
    ErrorRow(
        TooMuchContention,
        503,
        "every retry lost a race; retry after `Retry-After`.",
        "INTERNAL_ERROR",
    ),
)
_BY_KIND = {row.kind: row for row in ERRORS}


def row_for(kind: type[BaseException]) -> ErrorRow:
    """The row of the most specific class of `kind` that the table names."""
    return next(_BY_KIND[cls] for cls in kind.__mro__ if cls in _BY_KIND)


def row_for_failure(exc: BaseException) -> ErrorRow:
    """The row of an unexpected exception, or of the failure it was raised in: closing a
    transaction on a connection the database dropped raises InterfaceError, but the answer
    is the dropped connection's (503)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        row = row_for(type(cause))
        if row.status != 500:
            return row
        cause = cause.__cause__ or cause.__context__
    return row_for(type(exc))


def envelope(error_code: str, message: str, details: dict[str, Any] | None) -> dict[str, Any]:
    return {"error_code": error_code, "message": message, "details": details}


def error_body(error: domain.DomainError | EdgeError) -> tuple[int, dict[str, Any]]:
    row = row_for(type(error))
    return row.status, envelope(row.error_code, error.message, error.details)
