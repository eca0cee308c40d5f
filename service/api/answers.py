"""What the API answers with, as pydantic models: they are the OpenAPI document's answer
schemas; the views build plain JSON of the same shape (service.api.render), and the tests
check every answer against the document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from domain import integrations
from domain.records import ExportOutcome
from domain.values import Amount, Instant, RecordContent, ReviewStatus, User
from service.api.errors import ERRORS


def omit_unknown(schema: dict[str, Any]) -> None:
    """Optional fields are left out of the answer when unknown, never written as null."""
    properties = schema["properties"]
    for name, prop in properties.items():
        branches = prop.get("anyOf", [])
        if {"type": "null"} in branches:
            properties[name] = next(b for b in branches if b != {"type": "null"})
            schema["required"] = [n for n in schema.get("required", []) if n != name]


class AnsweredUser(User):
    model_config = ConfigDict(json_schema_extra=omit_unknown)


class AccountingRecord(RecordContent):
    """An accounting record as the API answers with it."""

    id: str = Field(description="Record id (prefix `accr_`).")
    user: AnsweredUser | None = None
    review_status: ReviewStatus
    updated_at: Instant
    version: int = Field(ge=1, description="How many events the record's stream holds.")
    export: ExportOutcome | None = Field(
        description="The last outcome a connector reported (extension)."
    )


class AccountingRecordPage(BaseModel):
    items: list[AccountingRecord]
    has_next_page: bool
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last one."
    )
    total_count: int | None = Field(ge=0)


class Integration(integrations.Integration):
    id: str = Field(description="The same value as `integration_id`.")


class IntegrationList(BaseModel):
    items: list[Integration] = Field(description="Newest first.")


class ExportResultsResponse(BaseModel):
    updated_accounting_record_ids: list[str] = Field(description="Request order.")


class Health(BaseModel):
    status: Literal["ok"]


class ProjectorLag(BaseModel):
    events: int = Field(ge=0, description="Committed events not applied yet (counted to a cap).")
    seconds: float = Field(ge=0, description="How long the oldest of them has waited.")


class Ready(BaseModel):
    status: Literal["ready"]
    projectors: dict[str, ProjectorLag] = Field(
        description="Each catch-up projector's lag behind the log, as last measured (extension)."
    )


class ExportSummaryLine(BaseModel):
    group: str = Field(description="The day (YYYY-MM-DD), ERP vendor or outcome, by `group_by`.")
    currency: str
    attempts: int = Field(ge=0, description="Outcomes reported.")
    amount: Amount = Field(description="The records' amounts over those outcomes.")
    exported: int = Field(ge=0)
    exported_amount: Amount
    failed: int = Field(ge=0)
    failed_amount: Amount


class ExportSummary(BaseModel):
    group_by: Literal["day", "vendor", "outcome"]
    items: list[ExportSummaryLine] = Field(description="Ordered by group, then currency.")


class ValidationProblem(BaseModel):
    field: str
    reason: str


class ErrorDetails(BaseModel):
    """Facts about the refusal; the keys depend on error_code (more may come)."""

    model_config = ConfigDict(extra="allow")

    field: str | None = Field(None, description="The input that was refused (400).")
    reason: str | None = Field(None, description="Why it was refused (400).")
    errors: list[ValidationProblem] | None = None
    existing_integration_id: str | None = None
    existing_vendor: str | None = None
    requested_vendor: str | None = None
    existing_vendor_account_id: str | None = None
    requested_vendor_account_id: str | None = None
    integration_id: str | None = None
    current_status: str | None = None
    accounting_record_id: str | None = None
    duplicate_accounting_record_ids: list[str] | None = None
    not_ready_for_export_accounting_record_ids: list[str] | None = None
    not_found_export_entry_source_ids: list[str] | None = Field(
        None, description="The accounting record ids that were not found."
    )
    required_scopes: list[str] | None = Field(
        None, description="Any one of these scopes is needed (403)."
    )
    idempotency_key: str | None = None


_ERROR_CODES: list[JsonValue] = [code for code in sorted({row.error_code for row in ERRORS})]


class ErrorResponse(BaseModel):
    """The body of every non-2xx answer."""

    error_code: str = Field(json_schema_extra={"enum": _ERROR_CODES})
    message: str = Field(description="For people; never a stack trace.")
    details: ErrorDetails | None
