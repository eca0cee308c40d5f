"""Path and query parameters, as pydantic models: they parse the request and describe the
parameters in the OpenAPI document."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from domain.values import RECORD_ID_PATTERN, ReviewStatus, SourceType

_DIGITS = re.compile(r"[0-9]{1,9}")


def _whole_number(value: Any) -> Any:
    # int() would take " 5 ", "+5" and "1_0": a query parser takes digits only.
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number written in digits")
        return int(value)
    return value


def _flag(value: Any) -> Any:
    # pydantic would also take "yes", "on", "1" and "t": a query parser takes the two words.
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("must be true or false")
        return value == "true"
    return value


def _instant(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    # An unescaped "+" in a query string arrives as a space.
    text = value.replace("Z", "+00:00").replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry a timezone (e.g. Z)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


QueryInt = Annotated[int, BeforeValidator(_whole_number)]
QueryBool = Annotated[bool, BeforeValidator(_flag)]
QueryInstant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Params(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class RecordPath(Params):
    record_id: str = Field(description="The accounting record's id (prefix `accr_`).")


class NewRecordPath(Params):
    record_id: str = Field(
        description="The record's id, chosen by the platform: `accr_` and then ASCII "
        "letters, digits, `_` or `-` (128 characters in all at most).",
        pattern=RECORD_ID_PATTERN,
    )


class IntegrationPath(Params):
    integration_id: str = Field(description="The integration's id (prefix `int_`).")


SingleEntry = Annotated[
    QueryBool, Field(description="When true, keep only the expense-side line items.")
]
# Cursors carry the first page's snapshot, whose list of running transactions can be long.
CURSOR_MAX = 32_768


class RecordQuery(Params):
    single_entry: SingleEntry = False
    as_of: QueryInstant | None = Field(
        None, description="Answer with the record as it stood at this instant (extension)."
    )


def _updated(op: str, words: str) -> Any:
    return Field(
        None, alias=f"updated_at[{op}]", description=f"Only records updated {words} this instant."
    )


class RecordsQuery(Params):
    ids: list[str] = Field(
        default_factory=list,
        max_length=500,
        description="Only these records; repeat the parameter for each id.",
    )
    source_type: SourceType | None = Field(
        None,
        description="Only records from this source (extension). With BILL, review_status "
        "must not be given.",
    )
    review_status: ReviewStatus | None = Field(None, description="Only records in this status.")
    updated_after: QueryInstant | None = _updated("gt", "after")
    updated_from: QueryInstant | None = _updated("gte", "at or after")
    updated_before: QueryInstant | None = _updated("lt", "before")
    updated_until: QueryInstant | None = _updated("lte", "at or before")
    limit: QueryInt = Field(100, ge=1, le=1000, description="Page size.")
    cursor: str | None = Field(
        None, max_length=CURSOR_MAX, description="`next_cursor` of the previous page."
    )
    single_entry: SingleEntry = False

    @field_validator("review_status")
    @classmethod
    def not_with_bills(cls, status: ReviewStatus | None, info: ValidationInfo) -> Any:
        if status is not None and info.data.get("source_type") is SourceType.BILL:
            raise ValueError("cannot be combined with source_type=BILL")
        return status
