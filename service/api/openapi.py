"""Our OpenAPI 3.0.3 document, built from the routes' declarations (service.api.routing):
paths, parameters, bodies, answers, scopes and refusals, with the pydantic models they name
as component schemas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema
from pydantic_core import core_schema

from service.api import answers
from service.api.errors import (
    ERRORS,
    Forbidden,
    InvalidInput,
    Overloaded,
    TimedOut,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    row_for,
)
from service.api.routing import Operation, Schema
from service.commands.idempotency import KeyReused

TITLE = "Accounting export API"
VERSION = "1.0.0-alpha"
TAGS = {
    "Integrations": "The account's ERP connection.",
    "Records": "Reading records and reporting exports.",
    "Platform": "Where records come from (extension).",
    "Audit": "History, the gap-free feed, signed checkpoints and proofs (extension).",
    "Analytics": "Counts and amounts for analysts (extension).",
    "Operations": "Probes, metrics and this document.",
}
REF = "#/components/schemas/"
# OAS 3.0.3: `nullable` widens only the `type` of its own schema object (not a $ref or an
# allOf), so a nullable reference needs an explicit null-only alternative.
NULL_ONLY: Schema = {"type": "object", "nullable": True, "enum": [None]}
_TOO_LARGE = next(row.kind for row in ERRORS if row.status == 413)


def ref(name: str) -> Schema:
    return {"$ref": REF + name}


class _AllKeysSent(GenerateJsonSchema):
    """Answers are described as written: model_dump writes every field, with a value."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        return self.mode == "serialization" or super().field_is_required(field, total)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> Any:
        found = super().default_schema(schema)
        if self.mode == "serialization":
            found.pop("default", None)
        return found


def to_oas30(schema: Any) -> Any:
    """A JSON Schema 2020-12 value as OAS 3.0 (recursively): no titles, `const` as `enum`,
    boolean exclusive bounds, `nullable` for null alternatives, component names fixed."""
    if isinstance(schema, list):
        return [to_oas30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out[key.replace("exclusiveM", "m")] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: to_oas30(prop) for name, prop in value.items()}
        elif key == "$ref":
            out[key] = REF + _component_name(value.removeprefix(REF))
        else:
            out[key] = value if key in ("enum", "required") else to_oas30(value)
    branches = out.pop("anyOf", None)
    if branches is None:
        return out
    others = [b for b in branches if b != {"type": "null"}]
    if len(others) == len(branches):
        return out | {"anyOf": branches}
    target = others[0] if len(others) == 1 else {"anyOf": others}
    if "type" not in target:
        return out | {"anyOf": [target, NULL_ONLY]}
    widened = target | {"nullable": True}
    if "enum" in target:
        widened["enum"] = [*target["enum"], None]
    return out | widened


def _component_name(pydantic_name: str) -> str:
    # A model whose schema differs by side comes back as X-Input / X-Output.
    return pydantic_name.removesuffix("-Output").replace("-Input", "Input")


def _models(ops: Sequence[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    inputs: list[type[BaseModel]] = [
        m for op in ops for m in (op.path_params, op.query, op.body) if m is not None
    ]
    outputs: list[type[BaseModel]] = [
        m for op in ops for m in op.answers.values() if isinstance(m, type)
    ]
    inputs.append(answers.ErrorResponse)
    modes: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in inputs]
    modes += [(m, "serialization") for m in outputs]
    return list(dict.fromkeys(modes))


class _Schemas:
    """Every named model's schema, and the references to them."""

    def __init__(self, ops: Sequence[Operation]) -> None:
        keys, top = models_json_schema(
            _models(ops), ref_template=REF + "{model}", schema_generator=_AllKeysSent
        )
        self._refs = {model: to_oas30(found) for (model, _), found in keys.items()}
        self._all = {_component_name(k): to_oas30(v) for k, v in top["$defs"].items()}
        self._parameter_models: set[str] = set()

    @property
    def components(self) -> dict[str, Schema]:
        """Named schemas; parameter models are spelled out as parameters instead."""
        return {k: v for k, v in sorted(self._all.items()) if k not in self._parameter_models}

    def of(self, answer: type[BaseModel] | Schema) -> Schema:
        return self._refs[answer] if isinstance(answer, type) else answer

    def parameters(self, model: type[BaseModel] | None, where: str) -> list[Schema]:
        if model is None:
            return []
        component = self._refs[model]["$ref"].removeprefix(REF)
        self._parameter_models.add(component)
        schema = self._all[component]
        return [
            {
                "name": name,
                "in": where,
                "required": where == "path" or name in schema.get("required", ()),
                "description": prop.get("description", ""),
                "schema": _present(prop),
            }
            for name, prop in schema["properties"].items()
        ]


def _present(schema: Schema) -> Schema:
    """A parameter's schema: it is absent or has a value, never null."""
    found = {k: v for k, v in schema.items() if k not in ("description", "nullable")}
    if NULL_ONLY in found.get("anyOf", ()):
        (value,) = (branch for branch in found.pop("anyOf") if branch != NULL_ONLY)
        found |= value
    if None in found.get("enum", ()):
        found["enum"] = [v for v in found["enum"] if v is not None]
    return found


def _refusals(op: Operation) -> Iterable[type[BaseException]]:
    if op.scopes:
        yield from (Unauthorized, Forbidden)
    if op.path_params or op.query or op.body or op.idempotent:
        yield InvalidInput
    if op.body:
        yield from (_TOO_LARGE, UnsupportedMediaType)
    if op.idempotent:
        yield KeyReused
    yield from op.errors
    if op.scopes or op.idempotent:
        yield from (Exception, Unavailable, Overloaded, TimedOut)


def _answer(
    op: Operation,
    description: str,
    schema: Schema,
    media_type: str,
    others: Mapping[str, Schema] | None = None,
    status: int = 200,
) -> Schema:
    headers = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    if status == 503:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    if op.idempotent:
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/IdempotentReplayed"}
    forms = {media_type: schema, **(others or {})}
    content = {media: {"schema": form} for media, form in forms.items()}
    return {"description": description, "headers": headers, "content": content}


def _operation(op: Operation, schemas: _Schemas) -> Schema:
    description = op.description
    if op.scopes:
        wanted = " or ".join(f"`{scope}`" for scope in op.scopes)
        description += f"\n\nRequired scope: {wanted}."
    responses = {
        str(status): _answer(
            op, op.summary + ".", schemas.of(model), op.media_type, op.other_media_types
        )
        for status, model in op.answers.items()
    }
    meanings: dict[int, list[str]] = {}
    for kind in _refusals(op):
        row = row_for(kind)
        meanings.setdefault(row.status, []).append(f"{row.error_code}: {row.meaning}")
    for status, texts in sorted(meanings.items()):
        text = " ".join(dict.fromkeys(texts))
        responses[str(status)] = _answer(
            op, text, ref("ErrorResponse"), "application/json", status=status
        )
    headers = [{"$ref": "#/components/parameters/RequestId"}]
    if op.idempotent:
        headers.insert(0, {"$ref": "#/components/parameters/IdempotencyKey"})
    found: Schema = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": description,
        "tags": [op.tag],
        "security": [{"bearerAuth": []}] if op.scopes else [],
        "parameters": [
            *schemas.parameters(op.path_params, "path"),
            *schemas.parameters(op.query, "query"),
            *headers,
        ],
        "responses": responses,
    }
    if op.scopes:
        found["x-required-scopes"] = list(op.scopes)
    if op.body:
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.of(op.body)}},
        }
    return found


def openapi_document(ops: Sequence[Operation]) -> Schema:
    schemas = _Schemas(ops)
    paths: dict[str, Schema] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Export accounting records from the spend platform to an ERP: "
            "connectors manage their integration, read records READY_FOR_EXPORT and report "
            "each outcome. Operations marked (extension) are ours, beyond the public API.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An OAuth2 access token (JWT). Its `account_id` claim "
                    "scopes every read and write; its space-separated `scope` claim grants "
                    "operations.",
                }
            },
            "parameters": _header_parameters(),
            "headers": {
                "RequestId": {
                    "description": "The request's correlation id, as logged.",
                    "schema": {"type": "string"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
                "IdempotentReplayed": {
                    "description": "`true` when this is the stored answer to an earlier "
                    "request with the same Idempotency-Key.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
        },
    }


def _header_parameters() -> Schema:
    def header(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "header", "schema": schema, "description": description}

    return {
        "IdempotencyKey": header(
            "Idempotency-Key",
            {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
            "Repeating a request with the same key and body answers with the stored status "
            "and body and changes nothing; the same key with another body is 422.",
        ),
        "RequestId": header(
            "X-Request-Id",
            {"type": "string"},
            "Correlation id for the logs (at most 128 characters); made up when absent.",
        ),
    }
