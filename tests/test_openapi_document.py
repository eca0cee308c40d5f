"""Our OpenAPI document: valid OAS 3.0, complete, and true to what the service sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import ValidationError

from domain import errors as domain
from domain.integrations import Integration
from domain.records import ExportOutcome, RecordState
from domain.values import RecordContent, ReviewStatus
from eventstore.pool import dumps, loads
from service.api import errors as edge
from service.api.app import all_operations, create_app, service_document
from service.api.bodies import ExportResultsBody
from service.api.errors import ERRORS, EdgeError, envelope, error_body
from service.api.render import integration_json, record_json
from service.commands.idempotency import KeyReused
from service.settings import Settings
from tests.contract import ERROR_CODES
from tests.factories import record_body
from tests.openapi_check import (
    answer_problems,
    assert_matches_document,
    problems,
    public_document,
    response_schema,
)

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
PUBLIC_OPERATIONS = {
    ("post", "/v3/accounting/integration"): "createIntegration",
    ("post", "/v3/accounting/integration/{integration_id}/disconnect"): "disconnectIntegration",
    ("post", "/v3/accounting/integration/{integration_id}/reactivate"): "reactivateIntegration",
    ("get", "/v3/accounting/records/{record_id}"): "getAccountingRecord",
    ("get", "/v3/accounting/records"): "queryAccountingRecords",
    ("post", "/v3/accounting/records/export-results"): "reportAccountingExportResults",
}
RECORD = "/v3/accounting/records/{record_id}"
RECORDS = "/v3/accounting/records"
EXPORT = "/v3/accounting/records/export-results"
INTEGRATION = "/v3/accounting/integration"
DISCONNECT = "/v3/accounting/integration/{integration_id}/disconnect"
PUT_RECORD = "/internal/accounting/records/{record_id}"
AT = datetime(2026, 4, 24, 16, 13, 49, 959513, tzinfo=UTC)

DOC = service_document()


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def app_routes() -> dict[tuple[str, str], web.AbstractRoute]:
    app = create_app(Settings(database_url="postgresql://unused/db", jwt_secret="x"))
    return {
        (route.method.lower(), route.resource.canonical): route
        for route in app.router.routes()
        if route.method not in ("HEAD", "*") and route.resource is not None
    }


def wire(body: Any) -> Any:
    """What a client reads: the service's JSON text, parsed by a plain JSON parser."""
    return json.loads(dumps(body))


def content(**overrides: Any) -> RecordContent:
    return RecordContent.model_validate(loads(dumps(record_body(**overrides))))


def record(
    status: ReviewStatus = ReviewStatus.READY_FOR_EXPORT,
    export: ExportOutcome | None = None,
    **overrides: Any,
) -> RecordState:
    return RecordState(
        id="accr_0123456789abcdef",
        content=content(**overrides),
        review_status=status,
        version=3,
        updated_at=AT,
        export=export,
    )


def component_problems(name: str, body: Any) -> list[str]:
    return problems(DOC, {"$ref": f"#/components/schemas/{name}"}, body)


SPARSE: dict[str, Any] = {
    "original_amount": None,
    "source_id": None,
    "receipts": None,
    "user": None,
    "vendor": None,
    "memo": None,
    "line_items": [],
}
FULL_USER = {
    "id": "cuuser_1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "role": "BOOKKEEPER",
    "status": "ACTIVE",
    "department_name": "Finance",
    "manager_id": None,  # unknown: left out of the answer
}
SAMPLE_RECORDS = {
    "ready": record(),
    "sparse": record(ReviewStatus.PREPARE, **SPARSE),
    "bill": record(
        due_at="2026-05-01T00:00:00Z",
        invoice_number="INV-7",
        type="BILL_EXPENSE",
        source_type="BILL",
        user=FULL_USER,
        vendor={"id": "v1", "name": "Acme", "email": "ap@acme.example", "phone": None},
    ),
    "exported": record(
        ReviewStatus.EXPORTED,
        ExportOutcome(
            status="EXPORTED",
            reference_id="erp-42",
            deep_link_url="https://erp.example/42",
            integration_id="int_1",
            reported_at=AT,
        ),
    ),
    "failed": record(
        ReviewStatus.REVIEW,
        ExportOutcome(
            status="FAILED", error_message="GL closed", integration_id="int_1", reported_at=AT
        ),
    ),
}
INTEGRATION_OBJ = Integration(
    integration_id="int_abc",
    vendor="ERP_A",
    vendor_account_id="ledger-1",
    status="ACTIVE",
    created_at=AT,
)


# --- the document as a whole ----------------------------------------------------------


def test_document_is_valid_openapi_3_0() -> None:
    validate(DOC)
    assert DOC["openapi"] == "3.0.3"
    assert DOC["info"]["title"] == "Accounting export API"
    assert DOC["info"]["version"] == "1.0.0-alpha"
    assert DOC["components"]["securitySchemes"]["bearerAuth"] == {
        **DOC["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_every_route_is_documented_and_nothing_else() -> None:
    assert set(app_routes()) == set(operations(DOC))


def test_scopes_match_the_routes() -> None:
    documented = operations(DOC)
    declared = {(op.method.lower(), op.path): op.scopes for op in all_operations()}
    assert set(declared) == set(app_routes())
    for key in app_routes():
        op = documented[key]
        scopes = list(declared[key])
        assert op.get("x-required-scopes", []) == scopes, key
        if scopes:
            assert op["security"] == [{"bearerAuth": []}], key
            assert all(f"`{scope}`" in op["description"] for scope in scopes), key
            assert {"401", "403", "500"} <= set(op["responses"]), key
        else:
            assert op["security"] == [], key


def test_public_operations_keep_their_ids_statuses_and_parameters() -> None:
    public = operations(public_document())
    assert set(public) == set(PUBLIC_OPERATIONS)
    ours = operations(DOC)
    for key, operation_id in PUBLIC_OPERATIONS.items():
        assert public[key]["operationId"] == operation_id
        assert ours[key]["operationId"] == operation_id
        assert set(public[key]["responses"]) <= set(ours[key]["responses"]), key
        names = {p["name"] for p in ours[key]["parameters"] if "name" in p}
        assert {p["name"] for p in public[key].get("parameters", [])} <= names, key


def test_every_answer_carries_its_headers_and_errors_use_the_envelope() -> None:
    for (method, path), op in operations(DOC).items():
        writes = method in ("post", "put")
        parameters = [p.get("$ref", "") for p in op["parameters"]]
        assert ("#/components/parameters/IdempotencyKey" in parameters) == writes, path
        for status, answer in op["responses"].items():
            assert "X-Request-Id" in answer["headers"], (method, path, status)
            assert ("Idempotent-Replayed" in answer["headers"]) == writes, (method, path)
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_error_codes_are_exactly_the_contract_s() -> None:
    schema = DOC["components"]["schemas"]["ErrorResponse"]
    assert schema["required"] == ["error_code", "message", "details"]
    assert sorted(schema["properties"]["error_code"]["enum"]) == sorted(ERROR_CODES)
    used = {cls.error_code for cls in _subclasses(domain.DomainError)}
    assert used | {row.error_code for row in ERRORS} <= set(ERROR_CODES)


def test_every_refusal_has_a_row_of_the_error_table() -> None:
    kinds = {row.kind for row in ERRORS}
    for cls in _subclasses(domain.DomainError) | set(EdgeError.__subclasses__()):
        assert cls in kinds, f"{cls.__name__} has no row in the error table"


def _subclasses(cls: type[domain.DomainError]) -> set[type[domain.DomainError]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


async def test_the_route_serves_the_document(client: Any) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert json.loads(await response.text()) == wire(DOC)


# --- answers the service builds match the document --------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_RECORDS))
def test_records_match_both_documents(name: str) -> None:
    state = SAMPLE_RECORDS[name]
    for single_entry in (False, True):
        body = wire(record_json(state, single_entry))
        assert component_problems("AccountingRecord", body) == []
        assert_matches_document("GET", RECORD, 200, body)
        assert_matches_document("PUT", PUT_RECORD, 201, body)
        assert_matches_document("POST", PUT_RECORD + "/review-status", 200, body)


def test_record_pages_match_both_documents() -> None:
    items = [wire(record_json(state)) for state in SAMPLE_RECORDS.values()]
    assert_matches_document(
        "GET",
        RECORDS,
        200,
        {"items": items, "has_next_page": True, "next_cursor": "eyJzIjoxfQ", "total_count": 9},
    )
    last = {"items": [], "has_next_page": False, "next_cursor": None, "total_count": None}
    assert_matches_document("GET", RECORDS, 200, last)


def test_integrations_match_both_documents() -> None:
    body = wire(integration_json(INTEGRATION_OBJ))
    assert component_problems("Integration", body) == []
    assert_matches_document("POST", INTEGRATION, 200, body)
    assert_matches_document("POST", DISCONNECT, 200, body)
    assert_matches_document("GET", INTEGRATION, 200, {"items": [body]})


def test_export_results_match_both_documents() -> None:
    body = {"updated_accounting_record_ids": ["accr_1", "accr_2"]}
    assert_matches_document("POST", EXPORT, 200, body)


@pytest.mark.parametrize(
    ("method", "path", "error"),
    [
        ("POST", INTEGRATION, domain.ActiveIntegrationExists("int_1", "ERP_A", "ERP_B")),
        ("POST", INTEGRATION, domain.VendorAccountIdMismatch("int_1", "ledger-1", "ledger-2")),
        ("POST", DISCONNECT, domain.IntegrationNotActive("int_1", "DISABLED")),
        ("POST", DISCONNECT, domain.NotFound("Integration int_9 not found.")),
        ("GET", RECORD, domain.NotFound("Accounting record accr_9 not found.")),
        ("POST", EXPORT, domain.RecordsNotFound(["accr_1", "accr_2"])),
        ("POST", EXPORT, domain.DuplicateRecordIds(["accr_1"])),
        ("POST", EXPORT, domain.NoActiveIntegration(None, None)),
        ("POST", EXPORT, domain.NoActiveIntegration("int_1", "DISABLED")),
        ("POST", EXPORT, domain.RecordsNotReadyForExport(["accr_1"])),
        ("PUT", PUT_RECORD, domain.RecordExported("accr_1", "revised")),
    ],
)
def test_domain_refusals_match_both_documents(
    method: str, path: str, error: domain.DomainError
) -> None:
    status, body = error_body(error)
    assert_matches_document(method, path, status, wire(body))


@pytest.mark.parametrize(
    ("method", "path", "error"),
    [
        ("GET", RECORDS, edge.Unauthorized("A Bearer access token is required.")),
        ("POST", EXPORT, edge.Forbidden("No scope.", {"required_scopes": ["a"]})),
        ("GET", RECORDS, edge.InvalidInput("Bad.", {"field": "limit"})),
        ("GET", "/readyz", edge.Unavailable("Database unreachable.")),
    ],
)
def test_edge_refusals_match_both_documents(method: str, path: str, error: EdgeError) -> None:
    status, body = error_body(error)
    assert_matches_document(method, path, status, wire(body))


@pytest.mark.parametrize(
    ("method", "path", "kind", "details"),
    [
        ("POST", INTEGRATION, web.HTTPRequestEntityTooLarge, None),
        ("POST", EXPORT, KeyReused, {"idempotency_key": "k"}),
        ("GET", RECORD, Exception, None),
    ],
)
def test_other_refusals_match_both_documents(
    method: str, path: str, kind: type[BaseException], details: dict[str, Any] | None
) -> None:
    row = edge.row_for(kind)
    body = wire(envelope(row.error_code, "Refused.", details))
    assert_matches_document(method, path, row.status, body)


def test_probes_match_the_document() -> None:
    assert_matches_document("GET", "/healthz", 200, {"status": "ok"})
    lag = {"analytics": {"events": 0, "seconds": 0.0}}
    assert_matches_document("GET", "/readyz", 200, {"status": "ready", "projectors": lag})


# --- the check is strict enough to catch drift ------------------------------------------


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: r.pop("version"),
        lambda r: r.update(version="3"),
        lambda r: r.update(review_status="DONE"),
        lambda r: r["line_items"][0].pop("accounting_field_values"),
        lambda r: r["line_items"][0]["accounting_field_values"][0].pop("remote_field_id"),
        lambda r: r["user"].update(manager_id=None),
        lambda r: r.update(export={"status": "EXPORTED"}),
        lambda r: r.update(updated_at="yesterday"),
    ],
)
def test_a_spoiled_record_is_refused(spoil: Any) -> None:
    body = wire(record_json(SAMPLE_RECORDS["ready"]))
    spoil(body)
    with pytest.raises(AssertionError):
        assert_matches_document("GET", RECORD, 200, body)


def test_a_spoiled_error_is_refused() -> None:
    for body in (
        {"error_code": "TEAPOT", "message": "x", "details": None},
        {"error_code": "NOT_FOUND", "message": "x"},
        {"error_code": "NOT_FOUND", "message": "x", "details": "text"},
    ):
        with pytest.raises(AssertionError):
            assert_matches_document("GET", RECORD, 404, body)


def test_undocumented_answers_are_reported() -> None:
    with pytest.raises(AssertionError, match="no JSON answer 409"):
        response_schema("GET", RECORD, 409)


def test_answers_off_the_wire_are_checked() -> None:
    error = json.dumps({"error_code": "NOT_FOUND", "message": "x", "details": None}).encode()
    assert answer_problems("GET", RECORD, 404, "application/json", error) == []
    assert answer_problems("GET", None, 404, "application/json", error) == []
    assert (
        "status not documented" in answer_problems("GET", RECORD, 409, "application/json", error)[0]
    )
    assert "text/html not documented" in answer_problems("GET", RECORD, 404, "text/html", b"")[0]
    assert (
        "not in our OpenAPI document" in answer_problems("GET", "/nope", 200, "text/plain", b"")[0]
    )
    assert answer_problems("GET", None, 404, "application/json", b'{"error_code": "GONE"}') != []
    assert answer_problems("GET", "/metrics", 200, "text/plain", b"# metrics") == []


# --- request bodies ---------------------------------------------------------------------


def test_put_body_of_the_test_factory_is_valid() -> None:
    assert component_problems("PutRecordBody", wire(record_body())) == []
    assert component_problems("PutRecordBody", wire(record_body(**SPARSE))) == []
    assert component_problems("PutRecordBody", {"amount": 1}) != []


@pytest.mark.parametrize(
    ("item", "valid"),
    [
        ({"accounting_record_id": "accr_1", "success": {"reference_id": None}}, True),
        ({"accounting_record_id": "accr_1", "success": {}, "failure": None}, True),
        ({"accounting_record_id": "accr_1", "failure": {"error_message": "no"}}, True),
        ({"accounting_record_id": "accr_1"}, False),
        ({"accounting_record_id": "accr_1", "success": None, "failure": None}, False),
        (
            {"accounting_record_id": "accr_1", "success": {}, "failure": {"error_message": "x"}},
            False,
        ),
        ({"accounting_record_id": "accr_1", "failure": {"error_message": ""}}, False),
    ],
)
def test_export_result_items_are_exactly_one_outcome(item: dict[str, Any], valid: bool) -> None:
    body = {"results": [item]}
    assert (component_problems("ExportResultsBody", body) == []) is valid
    try:  # the document says what the model accepts, no more and no less
        ExportResultsBody.model_validate(body)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted is valid
