"""Path and query parameters, as pydantic models: they parse the request and describe the
parameters in the OpenAPI document."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from annotated_types import Le
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

_DIGITS = re.compile(r"[0-9]{1,100}")
QUERY_INT_MAX = 10**18 - 1  # within bigint, and said in the schema
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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


def _day(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not _DAY.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date") from None


QueryInt = Annotated[int, BeforeValidator(_whole_number)]  # give it bounds with Field()
# A position or tree size: no bound of its own but bigint's, stated in the schema.
QuerySize = Annotated[int, Le(QUERY_INT_MAX), BeforeValidator(_whole_number)]
QueryBool = Annotated[bool, BeforeValidator(_flag)]
QueryInstant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
QueryDay = Annotated[
    date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})
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


class HistoryQuery(Params):
    proof: QueryBool = Field(
        False,
        description="Add to each sealed event its leaf index and inclusion proof against "
        "the latest checkpoint, and that checkpoint.",
    )


class EventsQuery(Params):
    after: str | None = Field(None, description="`next_cursor` of the previous page.")
    limit: QueryInt = Field(100, ge=1, le=1000, description="Page size.")


class CheckpointsQuery(Params):
    after_size: QuerySize = Field(0, ge=0, description="Only checkpoints of larger trees.")
    limit: QueryInt = Field(100, ge=1, le=1000, description="Page size.")


class InclusionQuery(Params):
    position: QuerySize = Field(ge=1, description="The event's position (from the feed).")
    tree_size: QuerySize = Field(ge=1, description="The size of the tree to prove it in.")


class ConsistencyQuery(Params):
    from_size: QuerySize = Field(ge=1, description="The older tree's size.")
    to_size: QuerySize = Field(ge=1, description="The newer tree's size.")


class ExportSummaryQuery(Params):
    from_: QueryDay | None = Field(
        None, alias="from", description="First day counted (UTC), inclusive; none: from the start."
    )
    to: QueryDay | None = Field(None, description="Last day counted (UTC), inclusive.")
    group_by: Literal["day", "vendor", "outcome"] = Field(
        "day", description="One line per day, per ERP vendor or per outcome (and currency)."
    )

    @field_validator("to")
    @classmethod
    def not_before_from(cls, to: date | None, info: ValidationInfo) -> Any:
        start = info.data.get("from_")
        if to is not None and start is not None and to < start:
            raise ValueError("must not be before `from`")
        return to
