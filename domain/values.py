"""Value objects of an accounting record, as the public API spells them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)


class Frozen(BaseModel):
    # Unknown input fields are ignored: clients evolve.
    model_config = ConfigDict(frozen=True, extra="ignore", use_enum_values=False)


def number_only(value: Any) -> Any:
    # JSON numbers arrive as int or Decimal (never float: see service.jsonio); strings and
    # booleans are wrong types, not numbers to coerce.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a JSON number")
    return value


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 9999 west of UTC, year 1 east of it
        raise ValueError("is out of range once converted to UTC") from None


# Exact decimal money: never a binary float from request to storage.
Amount = Annotated[
    Decimal,
    BeforeValidator(number_only),
    WithJsonSchema({"type": "number"}),
]
# Timezone-aware instants, normalised to UTC and written ISO-8601 with `Z`.
Instant = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(_iso_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Text = Annotated[str, StringConstraints(min_length=1)]


class RecordType(StrEnum):
    CARD_EXPENSE_POST = "CARD_EXPENSE_POST"
    CARD_EXPENSE_REPAYMENT = "CARD_EXPENSE_REPAYMENT"
    CARD_EXPENSE_REFUND = "CARD_EXPENSE_REFUND"
    CARD_PAYMENT = "CARD_PAYMENT"
    CARD_PAYMENT_REFUND = "CARD_PAYMENT_REFUND"
    REWARD_REDEMPTION = "REWARD_REDEMPTION"
    REIMBURSEMENT_EXPENSE_APPROVAL = "REIMBURSEMENT_EXPENSE_APPROVAL"
    REIMBURSEMENT_EXPENSE_POST = "REIMBURSEMENT_EXPENSE_POST"
    REIMBURSEMENT_EXPENSE_REPAYMENT = "REIMBURSEMENT_EXPENSE_REPAYMENT"
    REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYOUT = "REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYOUT"
    REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYOUT_REVERSAL = (
        "REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYOUT_REVERSAL"
    )
    REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYIN = "REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYIN"
    REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_REFUND = "REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_REFUND"
    INVOICE = "INVOICE"
    INVOICE_PAYMENT = "INVOICE_PAYMENT"
    BILL_EXPENSE = "BILL_EXPENSE"
    BILL_EXPENSE_PAYMENT = "BILL_EXPENSE_PAYMENT"
    BILL_EXPENSE_CARD_PAYMENT = "BILL_EXPENSE_CARD_PAYMENT"
    BILL_MONEY_MOVEMENT_PAYIN = "BILL_MONEY_MOVEMENT_PAYIN"


# Records whose expense side is the CREDIT line: they reverse an earlier expense.
REVERSING_TYPES = frozenset(
    {
        RecordType.CARD_EXPENSE_REFUND,
        RecordType.CARD_EXPENSE_REPAYMENT,
        RecordType.CARD_PAYMENT_REFUND,
        RecordType.REIMBURSEMENT_EXPENSE_REPAYMENT,
        RecordType.REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_PAYOUT_REVERSAL,
        RecordType.REIMBURSEMENT_EXPENSE_MONEY_MOVEMENT_REFUND,
    }
)


class ReviewStatus(StrEnum):
    PREPARE = "PREPARE"
    REVIEW = "REVIEW"
    READY_FOR_EXPORT = "READY_FOR_EXPORT"
    EXPORTED = "EXPORTED"


class SourceType(StrEnum):
    CARD = "CARD"
    REIMBURSEMENT = "REIMBURSEMENT"
    BILL = "BILL"


class LineItemType(StrEnum):
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


class UserRole(StrEnum):
    ACCOUNT_ADMIN = "ACCOUNT_ADMIN"
    AP_CLERK = "AP_CLERK"
    BOOKKEEPER = "BOOKKEEPER"
    CARD_ADMIN = "CARD_ADMIN"
    EMPLOYEE = "EMPLOYEE"
    EMPLOYEE_WITHOUT_CORP_CARDS = "EMPLOYEE_WITHOUT_CORP_CARDS"
    EXPENSE_ADMIN = "EXPENSE_ADMIN"
    SUPER_ADMIN = "SUPER_ADMIN"
    USER_MANAGEMENT_ADMIN = "USER_MANAGEMENT_ADMIN"


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"
    DISABLED = "DISABLED"
    INACTIVE = "INACTIVE"
    INVITED = "INVITED"
    PENDING_ACTIVATION = "PENDING_ACTIVATION"


class Money(Frozen):
    amount: Amount
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3, to_upper=True)]


class AccountingFieldValue(Frozen):
    brex_field_id: Text
    remote_field_id: str | None = None
    brex_field_value_id: Text
    remote_field_value_id: str | None = None


class LineItem(Frozen):
    id: Text
    type: LineItemType
    amount: Money
    original_amount: Money | None = None
    memo: str | None = None
    accounting_field_values: tuple[AccountingFieldValue, ...] = ()


class Receipt(Frozen):
    id: Text
    download_uris: tuple[str, ...] | None = None


class User(Frozen):
    id: Text
    first_name: str
    last_name: str
    email: str
    role: UserRole
    status: UserStatus
    manager_id: str | None = None
    department_id: str | None = None
    department_name: str | None = None
    location_id: str | None = None
    location_name: str | None = None
    title_id: str | None = None
    title_name: str | None = None
    manager_first_name: str | None = None
    manager_last_name: str | None = None
    manager_title_id: str | None = None
    manager_title_name: str | None = None


class Vendor(Frozen):
    id: Text
    name: str
    contact_name: str | None = None
    email: str | None = None
    website: str | None = None
    phone: str | None = None


class RecordContent(Frozen):
    """Everything the platform says about a record (what a PUT carries)."""

    amount: Money
    original_amount: Money | None = None
    type: RecordType
    source_id: str | None = None
    source_type: SourceType
    erp_posting_date: Instant
    receipts: tuple[Receipt, ...] | None = None
    user: User | None = None
    vendor: Vendor | None = None
    memo: str | None = None
    posted_at: Instant
    due_at: Instant | None = None
    invoice_number: str | None = None
    line_items: tuple[LineItem, ...] = ()

    def expense_side(self) -> LineItemType:
        return LineItemType.CREDIT if self.type in REVERSING_TYPES else LineItemType.DEBIT


RECORD_ID_PREFIX = "accr_"
RECORD_ID_MAX = 128
# Ids go into URLs, logs, file names of exports and ERP fields: plain ASCII letters, digits,
# `_` and `-` after the prefix, so no id holds a separator, a dot path, a control or bidi
# character, and no two Unicode spellings of one id can name two records.
RECORD_ID_PATTERN = (
    f"^{RECORD_ID_PREFIX}[A-Za-z0-9_-]{{1,{RECORD_ID_MAX - len(RECORD_ID_PREFIX)}}}$"
)
RECORD_ID_RULE = (
    f"must be {RECORD_ID_PREFIX} followed by 1 to {RECORD_ID_MAX - len(RECORD_ID_PREFIX)} "
    "ASCII letters, digits, '_' or '-'"
)
_RECORD_ID = re.compile(RECORD_ID_PATTERN.removesuffix("$").removeprefix("^"))


def is_record_id(value: object) -> bool:
    """Whether `value` may name a record the platform creates."""
    return isinstance(value, str) and _RECORD_ID.fullmatch(value) is not None
