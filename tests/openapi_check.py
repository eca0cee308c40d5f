"""Check a response against our OpenAPI document and, for the six public operations,
against the public API's reference document as well.

    assert_matches_document("GET", "/v3/accounting/records/{record_id}", 200, body)
    answer_problems("GET", "/v3/accounting/records/{record_id}", 200, content_type, raw)

`path_template` is the path as the documents spell it (with `{placeholders}`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from service.api.app import service_document as openapi_document

# The public API's published document (January 2026 snapshot), kept verbatim.
PUBLIC_DOCUMENT = (
    Path(__file__).parent / "reference" / "public-accounting-api-1.0.0-alpha.openapi.json"
)
# The public document (OAS 3.0.0) writes nullable references as `nullable` next to `allOf`,
# which OAS 3.0.3 validators read as "not nullable": say what it means, explicitly.
NULL_ONLY = {"type": "object", "nullable": True, "enum": [None]}


def _explicit_nulls(node: Any) -> Any:
    if isinstance(node, list):
        return [_explicit_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: value if key in ("example", "examples") else _explicit_nulls(value)
        for key, value in node.items()
    }
    if out.get("nullable") is True and "type" not in out:
        rest = {key: value for key, value in out.items() if key != "nullable"}
        return {"anyOf": [rest, NULL_ONLY]}
    return out


@functools.cache
def public_document() -> dict[str, Any]:
    document: dict[str, Any] = _explicit_nulls(json.loads(PUBLIC_DOCUMENT.read_text()))
    return document


def _find_schema(
    document: dict[str, Any], method: str, path_template: str, status: int
) -> dict[str, Any] | None:
    operation = document["paths"].get(path_template, {}).get(method.lower())
    if operation is None:
        return None
    answer = operation["responses"].get(str(status))
    if answer is None:
        return None
    content = answer.get("content", {}).get("application/json")
    return None if content is None else dict(content["schema"])


def response_schema(method: str, path_template: str, status: int) -> dict[str, Any]:
    """The JSON schema our document gives for that answer (often a `$ref` into
    `components`). Fails when the document does not describe the answer at all."""
    schema = _find_schema(openapi_document(), method, path_template, status)
    assert schema is not None, (
        f"our OpenAPI document has no JSON answer {status} for {method.upper()} {path_template}"
    )
    return schema


def problems(
    document: dict[str, Any], schema: dict[str, Any], body: Any, *, formats: bool = True
) -> list[str]:
    """Every way `body` fails `schema` (whose $refs point into `document`'s components)."""
    validator = OAS30Validator(
        {**schema, "components": document["components"]},
        format_checker=oas30_format_checker if formats else None,
    )
    return [_describe(error) for error in validator.iter_errors(body)]


def _describe(error: ValidationError) -> str:
    text = f"{_where(error)}: {error.message}"
    # For "not valid under any of the given schemas", name the most specific failure,
    # passing over the null-only alternative of a nullable reference.
    candidates = [e for e in error.context or () if e.validator_value != [None]]
    if candidates:
        deepest = max(candidates, key=lambda e: len(e.absolute_path))
        text += f" [deepest: {_where(deepest)}: {deepest.message}]"
    return text


def _where(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(body)"


def body_problems(method: str, path_template: str, status: int, body: Any) -> list[str]:
    """Every way `body` breaks what our document, and the public one where it describes the
    same answer, promise for it (the public document's `format`s are not enforced)."""
    found = problems(openapi_document(), response_schema(method, path_template, status), body)
    public = _find_schema(public_document(), method, path_template, status)
    if public is not None:
        found += [
            f"(public document) {problem}"
            for problem in problems(public_document(), public, body, formats=False)
        ]
    return found


def assert_matches_document(method: str, path_template: str, status: int, body: Any) -> None:
    found = body_problems(method, path_template, status, body)
    label = f"{method.upper()} {path_template} -> {status}"
    assert not found, f"{label} does not match the OpenAPI documents:\n" + "\n".join(found)


def answer_problems(
    method: str, path_template: str | None, status: int, content_type: str, raw: bytes
) -> list[str]:
    """What is wrong with an answer as it left the server. `path_template` is None when no
    route matched (unknown path, wrong method): such answers must be error envelopes."""
    operation = None
    if path_template is not None:
        operation = openapi_document()["paths"].get(path_template, {}).get(method.lower())
    if operation is None:
        if status < 400:
            return [f"{method} {path_template} -> {status}: not in our OpenAPI document"]
        body = json.loads(raw) if content_type == "application/json" else None
        return problems(openapi_document(), {"$ref": "#/components/schemas/ErrorResponse"}, body)
    answer = operation["responses"].get(str(status))
    if answer is None:
        return [f"{method} {path_template} -> {status}: status not documented"]
    if content_type not in answer.get("content", {}):
        return [f"{method} {path_template} -> {status}: {content_type} not documented"]
    if content_type != "application/json":
        return []
    return body_problems(method, path_template, status, json.loads(raw))
