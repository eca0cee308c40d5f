"""Component schemas of our OpenAPI document: the pydantic models' JSON Schema (2020-12)
rewritten as OpenAPI 3.0.3 schema objects, plus the answers that have no model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from domain.integrations import Integration
from domain.records import ExportOutcome
from domain.values import RecordContent, ReviewStatus
from service.schemas import (
    CreateIntegrationBody,
    ExportResultsBody,
    PutRecordBody,
    ReviewStatusBody,
)

Schema = dict[str, Any]

REF_PREFIX = "#/components/schemas/"
# OAS 3.0.3: `nullable` only widens the `type` of its own schema object (it does not reach
# into a $ref or allOf), so a nullable reference needs an explicit null-only alternative.
NULL_ONLY: Schema = {"type": "object", "nullable": True, "enum": [None]}

ERROR_CODES = (
    "ACTIVE_INTEGRATION_EXISTS",
    "FORBIDDEN",
    "INTEGRATION_NOT_ACTIVE",
    "INTERNAL_ERROR",
    "INVALID_REQUEST",
    "NOT_FOUND",
    "UNAUTHORIZED",
    "DUPLICATE_ACCOUNTING_RECORD_IDS",
    "ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT",
    "VENDOR_ACCOUNT_ID_MISMATCH",
)

# Request bodies are described as accepted (validation); answers as written (serialization).
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    CreateIntegrationBody,
    ExportResultsBody,
    PutRecordBody,
    ReviewStatusBody,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (RecordContent, ExportOutcome, Integration)


def ref(name: str) -> Schema:
    return {"$ref": REF_PREFIX + name}


def nullable(schema: Schema) -> Schema:
    """`schema` or null, in the form OAS 3.0.3 validators understand."""
    if "type" not in schema:  # a $ref or a composition: add a null-only alternative
        return {"anyOf": [schema, NULL_ONLY]}
    widened = {**schema, "nullable": True}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def array(items: Schema, **constraints: Any) -> Schema:
    return {"type": "array", "items": items, **constraints}


def obj(properties: dict[str, Schema], required: Sequence[str] = (), **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema | extra


class AllKeysSent(GenerateJsonSchema):
    """Serialization schemas mark every field required: model_dump writes them all."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization":
            return field.get("serialization_exclude_if") is None
        return super().field_is_required(field, total)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if self.mode == "serialization":
            json_schema.pop("default", None)  # an answer has values, not defaults
        return json_schema


def to_oas30(schema: Schema) -> Schema:
    """One JSON Schema 2020-12 object as an OAS 3.0 schema object (recursively)."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue  # noise: titles repeat the property names; null defaults say nothing
        if key == "properties":
            out[key] = {name: to_oas30(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_oas30(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_oas30(sub) for sub in value]
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    branches = out.get("anyOf")
    if branches and {"type": "null"} in branches:
        others = [b for b in branches if b != {"type": "null"}]
        del out["anyOf"]
        return out | nullable(others[0] if len(others) == 1 else {"anyOf": others})
    return out


def _renamed(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _renamed(value, names) for key, value in node.items()}
    target = out.get("$ref")
    if isinstance(target, str) and target.startswith(REF_PREFIX):
        out["$ref"] = REF_PREFIX + names[target.removeprefix(REF_PREFIX)]
    return out


def _component_name(pydantic_name: str) -> str:
    # A model used on both sides with different schemas comes back as X-Input / X-Output.
    return pydantic_name.removesuffix("-Output").replace("-Input", "Input")


def model_schemas() -> dict[str, Schema]:
    """Every model (and the enums/models they use) as OAS 3.0 components."""
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in REQUEST_MODELS),
        *((model, "serialization") for model in RESPONSE_MODELS),
    ]
    _, top = models_json_schema(
        pairs, ref_template=REF_PREFIX + "{model}", schema_generator=AllKeysSent
    )
    defs: dict[str, Schema] = top["$defs"]
    names = {name: _component_name(name) for name in defs}
    return {names[name]: to_oas30(_renamed(schema, names)) for name, schema in defs.items()}


def _omit_unknown(schema: Schema) -> Schema:
    """A response object whose null fields are left out rather than written as null."""
    optional = {n for n, p in schema["properties"].items() if p.get("nullable")}
    properties = {
        name: {k: v for k, v in prop.items() if k != "nullable"} if name in optional else prop
        for name, prop in schema["properties"].items()
    }
    required = [name for name in schema["required"] if name not in optional]
    return schema | {"properties": properties, "required": required}


def _exactly_one_outcome(schema: Schema) -> Schema:
    outcome = {
        "success": "The record was written to the ERP.",
        "failure": "The ERP refused the record; it goes back to REVIEW.",
    }
    return schema | {
        "description": "One record's outcome: exactly one of `success` or `failure`.",
        "oneOf": [
            {"required": [key], "properties": {key: ref(f"Export{key.title()}")}} for key in outcome
        ],
        "properties": {
            name: prop | {"description": outcome[name]} if name in outcome else prop
            for name, prop in schema["properties"].items()
        },
    }


def accounting_record(content: Schema) -> Schema:
    """RecordContent as sent, framed by the record's id and its lifecycle fields."""
    return obj(
        {
            "id": {"type": "string", "description": "Record id (prefix `accr_`)."},
            **content["properties"],
            "review_status": ref("ReviewStatus"),
            "updated_at": {"type": "string", "format": "date-time"},
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "How many events the record's stream holds.",
            },
            "export": nullable(ref("ExportOutcome"))
            | {"description": "The last outcome a connector reported (extension)."},
        },
        ["id", *content["required"], "review_status", "updated_at", "version", "export"],
        description="An accounting record as the API answers with it.",
    )


def error_response() -> Schema:
    text, ids = {"type": "string"}, array({"type": "string"})
    details = {
        "field": text | {"description": "The input that was refused (400)."},
        "reason": text | {"description": "Why it was refused (400)."},
        "errors": array(obj({"field": text, "reason": text})),
        "existing_integration_id": text,
        "existing_vendor": text,
        "requested_vendor": text,
        "existing_vendor_account_id": text,
        "requested_vendor_account_id": text,
        "integration_id": text,
        "current_status": text,
        "accounting_record_id": text,
        "duplicate_accounting_record_ids": ids,
        "not_ready_for_export_accounting_record_ids": ids,
        "not_found_export_entry_source_ids": ids
        | {"description": "The accounting record ids that were not found."},
        "required_scopes": ids | {"description": "Any one of these scopes is needed (403)."},
        "idempotency_key": text,
    }
    return obj(
        {
            "error_code": {"type": "string", "enum": list(ERROR_CODES)},
            "message": text | {"description": "For people; never a stack trace."},
            "details": nullable(
                obj(details, additionalProperties=True)
                | {"description": "Facts about the refusal; the keys depend on error_code."}
            ),
        },
        ["error_code", "message", "details"],
        description="The body of every non-2xx answer.",
    )


def components_schemas() -> dict[str, Schema]:
    schemas = model_schemas()
    schemas["User"] = _omit_unknown(schemas["User"])
    schemas["ExportResultItem"] = _exactly_one_outcome(schemas["ExportResultItem"])
    integration = schemas["Integration"]
    integration["properties"] = {
        "integration_id": integration["properties"]["integration_id"],
        "id": {"type": "string", "description": "The same value as `integration_id`."},
        **integration["properties"],
    }
    others = [name for name in integration["required"] if name != "integration_id"]
    integration["required"] = ["integration_id", "id", *others]
    schemas["AccountingRecord"] = accounting_record(schemas.pop("RecordContent"))
    schemas["ReviewStatus"] = {"type": "string", "enum": [s.value for s in ReviewStatus]}
    schemas["AccountingRecordPage"] = obj(
        {
            "items": array(ref("AccountingRecord")),
            "has_next_page": {"type": "boolean"},
            "next_cursor": nullable({"type": "string"})
            | {"description": "Pass as `cursor` for the next page; null on the last one."},
            "total_count": nullable({"type": "integer", "minimum": 0}),
        },
        ["items", "has_next_page", "next_cursor", "total_count"],
    )
    schemas["IntegrationList"] = obj(
        {"items": array(ref("Integration"), description="Newest first.")}, ["items"]
    )
    schemas["ExportResultsResponse"] = obj(
        {"updated_accounting_record_ids": array({"type": "string"}, description="Request order.")},
        ["updated_accounting_record_ids"],
    )
    schemas["ErrorResponse"] = error_response()
    for name, word in (("Health", "ok"), ("Ready", "ready")):
        schemas[name] = obj({"status": {"type": "string", "enum": [word]}}, ["status"])
    return dict(sorted(schemas.items()))


def header_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "header", "schema": schema, "description": description}


def components() -> Schema:
    return {
        "schemas": components_schemas(),
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An OAuth2 access token (JWT). Its `account_id` claim scopes "
                "every read and write; its space-separated `scope` claim grants operations.",
            }
        },
        "parameters": {
            "IdempotencyKey": header_param(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 255},
                "Repeating a request with the same key and body answers with the stored "
                "status and body and changes nothing; the same key with another body is 422.",
            ),
            "RequestId": header_param(
                "X-Request-Id",
                {"type": "string"},
                "Correlation id for the logs (at most 128 characters); made up when absent.",
            ),
        },
        "headers": {
            "RequestId": {
                "description": "The request's correlation id, as logged.",
                "schema": {"type": "string"},
            },
            "IdempotentReplayed": {
                "description": "`true` when this is the stored answer to an earlier request "
                "with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
    }
