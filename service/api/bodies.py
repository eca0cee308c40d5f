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
    WithJsonSchema,
    model_validator,
)

from domain.bounds import NewMoney
from domain.exports import ExportFailure, ExportResult, ExportSuccess, ReportExportResults
from domain.records import PLATFORM_STATUSES
from domain.values import LineItem, Money, RecordContent, ReviewStatus

NonEmpty = Annotated[StrictStr, StringConstraints(min_length=1)]
_OUTCOMES = {
    "success": "The record was written to the ERP.",
    "failure": "The ERP refused the record; it goes back to REVIEW.",
}


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CreateIntegrationBody(Body):
    vendor: NonEmpty
    vendor_account_id: NonEmpty


def _exactly_one_outcome(schema: dict[str, Any]) -> None:
    schema["description"] = "One record's outcome: exactly one of `success` or `failure`."
    outcomes = schema["properties"]
    # Present and not null: the outcome's own schema, without the null alternative.
    schema["oneOf"] = [
        {"required": [key], "properties": {key: outcomes[key]["anyOf"][0]}} for key in _OUTCOMES
    ]
    for key, text in _OUTCOMES.items():
        outcomes[key]["description"] = text


class ExportResultItem(Body):
    model_config = ConfigDict(json_schema_extra=_exactly_one_outcome)

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


Base = TypeVar("Base", bound=BaseModel)


def _narrowed(base: type[Base], body: BaseModel, **replaced: Any) -> Base:
    """`body`'s values as an instance of `base`, the domain type it extends, without
    validating them a second time: they passed rules at least as strict as the base's.
    (Dumping and validating again cost a third of an import line's parsing.)"""
    values = {name: getattr(body, name) for name in base.model_fields}
    return base.model_construct(**(values | replaced))


def _money(value: Money | None) -> Money | None:
    return None if value is None else _narrowed(Money, value)


class LineItemInput(LineItem):
    amount: NewMoney
    original_amount: NewMoney | None = None

    def line_item(self) -> LineItem:
        return _narrowed(
            LineItem, self, amount=_money(self.amount), original_amount=_money(self.original_amount)
        )


class PutRecordBody(RecordContent):
    """A full record as in GET, without id/version/updated_at/export; new money is bounded."""

    amount: NewMoney
    original_amount: NewMoney | None = None
    line_items: tuple[LineItemInput, ...] = ()
    review_status: PlatformStatus | None = None

    def content(self) -> RecordContent:
        """The record in the domain's own types (Money, not NewMoney), as PUT stores it."""
        return _narrowed(
            RecordContent,
            self,
            amount=_money(self.amount),
            original_amount=_money(self.original_amount),
            line_items=tuple(item.line_item() for item in self.line_items),
        )


class ReviewStatusBody(Body):
    review_status: PlatformStatus
