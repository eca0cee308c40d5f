"""Request bodies as the API accepts them (unknown fields ignored, wrong types refused)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from domain.exports import ExportFailure, ExportResult, ExportSuccess, ReportExportResults
from domain.records import PLATFORM_STATUSES
from domain.values import RecordContent, ReviewStatus
from service.errors import invalid_request

NonEmpty = Annotated[StrictStr, StringConstraints(min_length=1)]
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreateIntegrationBody(Body):
    vendor: NonEmpty
    vendor_account_id: NonEmpty


class ExportResultItem(Body):
    accounting_record_id: NonEmpty
    success: ExportSuccess | None = None
    failure: ExportFailure | None = None

    @model_validator(mode="after")
    def exactly_one_outcome(self) -> ExportResultItem:
        if (self.success is None) == (self.failure is None):
            raise ValueError("exactly one of 'success' or 'failure' is required")
        return self


class ExportResultsBody(Body):
    results: Annotated[list[ExportResultItem], Field(min_length=1, max_length=1000)]

    def command(self) -> ReportExportResults:
        return ReportExportResults(
            results=tuple(
                ExportResult(
                    accounting_record_id=item.accounting_record_id,
                    outcome=item.success or item.failure,  # exactly one is set
                )
                for item in self.results
            )
        )


def _platform_only(status: ReviewStatus) -> ReviewStatus:
    if status not in PLATFORM_STATUSES:
        raise ValueError("EXPORTED is reached only through export results")
    return status


# The review statuses the platform may set (EXPORTED is export-results' alone).
PlatformStatus = Annotated[
    ReviewStatus,
    AfterValidator(_platform_only),
    WithJsonSchema(
        {"type": "string", "enum": [s.value for s in ReviewStatus if s in PLATFORM_STATUSES]}
    ),
]


class PutRecordBody(RecordContent):
    """A full record as in GET, without id/version/updated_at/export."""

    review_status: PlatformStatus | None = None

    def content(self) -> RecordContent:
        return RecordContent.model_validate(self.model_dump(exclude={"review_status"}))


class ReviewStatusBody(Body):
    review_status: PlatformStatus


def validation_details(error: ValidationError) -> dict[str, Any]:
    problems = [
        {"field": ".".join(str(part) for part in e["loc"]) or "body", "reason": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]
    return {**problems[0], "errors": problems}


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_request("The request body is invalid.", validation_details(error)) from None
