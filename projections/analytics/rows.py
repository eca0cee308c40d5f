"""The rows of the analytics tables, one NamedTuple per table, fields in the table's column
order (migrations/001_analytics.sql)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from projections.tables import Jsonb, Table


class ExportAttemptRow(NamedTuple):
    account_id: str
    record_id: str
    version: int
    position: int
    integration_id: str
    vendor: str
    vendor_account_id: str
    outcome: str
    reference_id: str | None
    error_message: str | None
    error_code: str | None
    reported_at: datetime
    record_type: str
    source_type: str
    amount: Decimal
    currency: str
    client_id: str | None


class DailyExportRow(NamedTuple):
    account_id: str
    day: date
    vendor: str
    outcome: str
    currency: str
    attempts: int
    amount: Decimal


class LifecycleRow(NamedTuple):
    account_id: str
    record_id: str
    created_at: datetime
    ready_at: datetime | None
    first_reported_at: datetime | None
    exported_at: datetime | None
    failed_attempts: int
    attempts_before_success: int | None


class RecordRow(NamedTuple):
    account_id: str
    record_id: str
    version: int
    review_status: str
    type: str
    source_type: str
    source_id: str | None
    amount: Decimal
    currency: str
    original_amount: Decimal | None
    original_currency: str | None
    erp_posting_date: datetime
    posted_at: datetime
    due_at: datetime | None
    invoice_number: str | None
    memo: str | None
    vendor_id: str | None
    vendor_name: str | None
    user_id: str | None
    user_email: str | None
    user_name: str | None
    department_name: str | None
    receipts: int
    updated_at: datetime
    export_status: str | None
    export_integration_id: str | None
    export_reference_id: str | None
    export_error_message: str | None
    export_error_code: str | None
    export_reported_at: datetime | None


class LineItemRow(NamedTuple):
    account_id: str
    record_id: str
    line_number: int
    line_item_id: str
    type: str
    amount: Decimal
    currency: str
    original_amount: Decimal | None
    original_currency: str | None
    memo: str | None
    accounting_field_values: Jsonb


EXPORT_ATTEMPTS = Table("export_attempts", ExportAttemptRow, ("account_id", "record_id", "version"))
DAILY_EXPORTS = Table(
    "daily_exports", DailyExportRow, ("account_id", "day", "vendor", "outcome", "currency")
)
RECORD_LIFECYCLE = Table("record_lifecycle", LifecycleRow, ("account_id", "record_id"))
RECORDS = Table("records", RecordRow, ("account_id", "record_id"))
RECORD_LINE_ITEMS = Table(
    "record_line_items", LineItemRow, ("account_id", "record_id", "line_number")
)
