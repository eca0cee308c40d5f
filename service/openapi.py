"""Our OpenAPI 3.0.3 document (public operations and our extensions), at GET /openapi.json.

Component schemas come from the pydantic models (service.openapi_schema); this module
describes the operations: parameters, bodies, scopes and every answer each one can give.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from eventstore.pool import dumps
from service.auth import INTEGRATION_WRITE, RECORD_MANAGE, RECORD_READ, RECORD_WRITE
from service.openapi_schema import Schema, array, components, ref

routes = web.RouteTableDef()

TITLE = "Accounting export API"
VERSION = "1.0.0-alpha"

# Generic meaning of each error status; operations add what is specific to them.
ERRORS = {
    400: "INVALID_REQUEST: a parameter, header or body was refused; `details` names it.",
    401: "UNAUTHORIZED: no bearer token, or it is invalid or expired.",
    403: "FORBIDDEN: the token is valid but lacks the scope this operation needs.",
    404: "NOT_FOUND: nothing with that id in the caller's account.",
    413: "INVALID_REQUEST: the request body is larger than the server accepts.",
    422: "INVALID_REQUEST: this Idempotency-Key was already used for a different request.",
    500: "INTERNAL_ERROR: an unexpected failure (logged under the X-Request-Id).",
}


def json_content(schema: Schema, media_type: str = "application/json") -> Schema:
    return {media_type: {"schema": schema}}


def param(name: str, where: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


def path_param(name: str, description: str, **constraints: Any) -> Schema:
    return param(name, "path", {"type": "string", **constraints}, description, required=True)


def query(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return param(name, "query", schema, description, **extra)


def response(
    description: str, schema: Schema, *, idempotent: bool, media_type: str = "application/json"
) -> Schema:
    headers = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    if idempotent:
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/IdempotentReplayed"}
    content = json_content(schema, media_type)
    return {"description": description, "headers": headers, "content": content}


def operation(
    operation_id: str,
    summary: str,
    description: str,
    *,
    tag: str,
    ok: dict[int, tuple[str, Schema]],
    scopes: Sequence[str] = (),
    errors: dict[int, str] | None = None,
    parameters: Sequence[Schema] = (),
    body: str | None = None,
    idempotent: bool = False,
    media_type: str = "application/json",
) -> Schema:
    """One operation. `scopes` (any one of them suffices) makes it need a bearer token;
    `idempotent` adds the Idempotency-Key header; `body` names the request schema."""
    problems: dict[int, list[str]] = {}

    def can_fail(status: int, why: str | None = None) -> None:
        problems.setdefault(status, []).append(why or ERRORS[status])

    if scopes:
        can_fail(401)
        can_fail(403)
        wanted = " or ".join(f"`{scope}`" for scope in scopes)
        description += f"\n\nRequired scope: {wanted}."
    if body or idempotent:
        can_fail(400)
    if body:
        can_fail(413)
    if idempotent:
        can_fail(422)
    for status, why in (errors or {}).items():
        can_fail(status, why)
    if scopes or idempotent:
        can_fail(500)
    answers = {
        str(status): response(text, schema, idempotent=idempotent, media_type=media_type)
        for status, (text, schema) in ok.items()
    }
    for status, reasons in sorted(problems.items()):
        unique = list(dict.fromkeys(reasons))
        error = ref("ErrorResponse")
        answers[str(status)] = response(" ".join(unique), error, idempotent=idempotent)
    op: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [tag],
        "security": [{"bearerAuth": []}] if scopes else [],
    }
    if scopes:
        op["x-required-scopes"] = list(scopes)
    headers = [{"$ref": "#/components/parameters/RequestId"}]
    if idempotent:
        headers.insert(0, {"$ref": "#/components/parameters/IdempotencyKey"})
    op["parameters"] = [*parameters, *headers]
    if body:
        op["requestBody"] = {"required": True, "content": json_content(ref(body))}
    op["responses"] = answers
    return op


INTEGRATION_ID = path_param("integration_id", "The integration's id (prefix `int_`).")
RECORD_ID = path_param("record_id", "The accounting record's id (prefix `accr_`).")
NEW_RECORD_ID = path_param(
    "record_id", "The record's id, chosen by the platform.", pattern="^accr_", maxLength=128
)
SINGLE_ENTRY = query(
    "single_entry",
    {"type": "boolean", "default": False},
    "When true, keep only the expense-side line items.",
)
UPDATED_AT = {
    f"updated_at[{op}]": f"Only records updated {words} this instant."
    for op, words in (
        ("gt", "after"),
        ("gte", "at or after"),
        ("lt", "before"),
        ("lte", "at or before"),
    )
}
RECORD_READERS = (RECORD_READ, RECORD_WRITE)


def integration_operation(operation_id: str, summary: str, description: str, **kw: Any) -> Schema:
    return operation(
        operation_id,
        summary,
        description,
        tag="Integrations",
        scopes=(INTEGRATION_WRITE,),
        idempotent=True,
        ok={200: ("The integration.", ref("Integration"))},
        **kw,
    )


def paths() -> dict[str, Schema]:
    return {
        "/v3/accounting/integration": {
            "post": integration_operation(
                "createIntegration",
                "Connect the account to an ERP",
                "Creates the account's ACTIVE integration, or answers with it when one with the "
                "same vendor and vendor_account_id already exists. A DISABLED integration is "
                "never reused here: reactivate it instead.",
                body="CreateIntegrationBody",
                errors={
                    409: "ACTIVE_INTEGRATION_EXISTS: an ACTIVE integration with another vendor "
                    "exists; VENDOR_ACCOUNT_ID_MISMATCH: same vendor, other vendor_account_id."
                },
            ),
            "get": operation(
                "listIntegrations",
                "List the account's integrations (extension)",
                "Every integration of the caller's account, ACTIVE or DISABLED, newest first.",
                tag="Integrations",
                scopes=(INTEGRATION_WRITE,),
                ok={200: ("The integrations.", ref("IntegrationList"))},
            ),
        },
        "/v3/accounting/integration/{integration_id}/disconnect": {
            "post": integration_operation(
                "disconnectIntegration",
                "Disconnect an integration",
                "Turns an ACTIVE integration DISABLED.",
                parameters=[INTEGRATION_ID],
                errors={
                    404: "NOT_FOUND: no such integration in the caller's account.",
                    409: "INTEGRATION_NOT_ACTIVE: the integration is already DISABLED.",
                },
            )
        },
        "/v3/accounting/integration/{integration_id}/reactivate": {
            "post": integration_operation(
                "reactivateIntegration",
                "Reactivate an integration",
                "Turns a DISABLED integration ACTIVE again, if no integration is ACTIVE.",
                parameters=[INTEGRATION_ID],
                errors={
                    404: "NOT_FOUND: no such integration in the caller's account.",
                    409: "ACTIVE_INTEGRATION_EXISTS: an integration (maybe this one) is ACTIVE.",
                },
            )
        },
        "/v3/accounting/records": {
            "get": operation(
                "queryAccountingRecords",
                "Page through accounting records",
                "Records of the caller's account ordered by updated_at, then id. Follow "
                "`next_cursor` until `has_next_page` is false: paging neither skips nor repeats "
                "a record while others write.",
                tag="Records",
                scopes=RECORD_READERS,
                parameters=[
                    query(
                        "ids",
                        array({"type": "string"}, maxItems=500),
                        "Only these records; repeat the parameter for each id.",
                        style="form",
                        explode=True,
                    ),
                    query("review_status", ref("ReviewStatus"), "Only records in this status."),
                    query(
                        "source_type",
                        ref("SourceType"),
                        "Only records from this source (extension). With BILL, review_status "
                        "must not be given.",
                    ),
                    *(
                        query(name, {"type": "string", "format": "date-time"}, text)
                        for name, text in UPDATED_AT.items()
                    ),
                    query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "Page size.",
                    ),
                    query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
                    SINGLE_ENTRY,
                ],
                errors={400: "INVALID_REQUEST: a query parameter is malformed or out of range."},
                ok={200: ("One page of records.", ref("AccountingRecordPage"))},
            )
        },
        "/v3/accounting/records/{record_id}": {
            "get": operation(
                "getAccountingRecord",
                "Read one accounting record",
                "The record as it is now, or as it stood at `as_of`.",
                tag="Records",
                scopes=RECORD_READERS,
                parameters=[
                    RECORD_ID,
                    SINGLE_ENTRY,
                    query(
                        "as_of",
                        {"type": "string", "format": "date-time"},
                        "Answer with the record as it stood at this instant (extension).",
                    ),
                ],
                errors={
                    400: "INVALID_REQUEST: a query parameter is malformed.",
                    404: "NOT_FOUND: no such record (at that instant) in the caller's account.",
                },
                ok={200: ("The record.", ref("AccountingRecord"))},
            )
        },
        "/v3/accounting/records/export-results": {
            "post": operation(
                "reportAccountingExportResults",
                "Report what happened to exported records",
                "All or nothing: each success moves its record to EXPORTED, each failure sends "
                "it back to REVIEW with the error kept. Checks run in this order: duplicate ids, "
                "an ACTIVE integration, unknown ids, records not READY_FOR_EXPORT; each refusal "
                "lists every offending id in request order.",
                tag="Records",
                scopes=(RECORD_WRITE,),
                body="ExportResultsBody",
                idempotent=True,
                errors={
                    404: "NOT_FOUND: some record ids are unknown "
                    "(`details.not_found_export_entry_source_ids`).",
                    422: "DUPLICATE_ACCOUNTING_RECORD_IDS, INTEGRATION_NOT_ACTIVE (no ACTIVE "
                    "integration) or ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT.",
                },
                ok={200: ("The records updated, in request order.", ref("ExportResultsResponse"))},
            )
        },
        "/internal/accounting/records/{record_id}": {
            "put": operation(
                "putAccountingRecord",
                "Create or revise a record (platform side, extension)",
                "The first put creates the record (PREPARE unless review_status says otherwise); "
                "a changed body revises it; an identical body changes nothing.",
                tag="Platform",
                scopes=(RECORD_MANAGE,),
                parameters=[NEW_RECORD_ID],
                body="PutRecordBody",
                idempotent=True,
                errors={
                    400: "INVALID_REQUEST: the record id lacks the `accr_` prefix.",
                    422: "INVALID_REQUEST: the record is EXPORTED and cannot be revised.",
                },
                ok={
                    200: ("The record, revised or unchanged.", ref("AccountingRecord")),
                    201: ("The record, created.", ref("AccountingRecord")),
                },
            )
        },
        "/internal/accounting/records/{record_id}/review-status": {
            "post": operation(
                "setAccountingRecordReviewStatus",
                "Move a record between review stages (platform side, extension)",
                "Moves a record between PREPARE, REVIEW and READY_FOR_EXPORT. EXPORTED is "
                "reached only through export results, and never left.",
                tag="Platform",
                scopes=(RECORD_MANAGE,),
                parameters=[NEW_RECORD_ID],
                body="ReviewStatusBody",
                idempotent=True,
                errors={
                    400: "INVALID_REQUEST: EXPORTED was asked for, or the id lacks `accr_`.",
                    404: "NOT_FOUND: no such record in the caller's account.",
                    422: "INVALID_REQUEST: the record is EXPORTED and cannot be moved.",
                },
                ok={200: ("The record.", ref("AccountingRecord"))},
            )
        },
        **operations_paths(),
    }


def operations_paths() -> dict[str, Schema]:
    """Probes and self-description: no token needed."""
    ready = operation(
        "getReadiness",
        "Readiness probe",
        "Ready when the database answers.",
        tag="Operations",
        ok={200: ("Ready.", ref("Ready"))},
        errors={503: "INTERNAL_ERROR: the database is unreachable."},
    )
    metrics = operation(
        "getMetrics",
        "Prometheus metrics",
        "Request, latency, export and retry counters.",
        tag="Operations",
        ok={200: ("Prometheus text exposition.", {"type": "string"})},
        media_type="text/plain",
    )
    return {
        "/healthz": {
            "get": operation(
                "getHealth",
                "Liveness probe",
                "The process is up.",
                tag="Operations",
                ok={200: ("Alive.", ref("Health"))},
            )
        },
        "/readyz": {"get": ready},
        "/metrics": {"get": metrics},
        "/openapi.json": {
            "get": operation(
                "getOpenApiDocument",
                "This document",
                "The OpenAPI 3.0.3 description of this service.",
                tag="Operations",
                ok={200: ("The document.", {"type": "object"})},
            )
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document, built once. Shared: do not mutate it."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Export accounting records from the spend platform to an ERP: "
            "connectors manage their integration, read records READY_FOR_EXPORT and report "
            "each outcome. Operations marked (extension) are ours, beyond the public API.",
        },
        "tags": [
            {"name": "Integrations", "description": "The account's ERP connection."},
            {"name": "Records", "description": "Reading records and reporting exports."},
            {"name": "Platform", "description": "Where records come from (extension)."},
            {"name": "Operations", "description": "Probes, metrics and this document."},
        ],
        "security": [{"bearerAuth": []}],
        "paths": paths(),
        "components": components(),
    }


@functools.cache
def _document_text() -> str:
    return dumps(openapi_document())


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=_document_text(), content_type="application/json")
