"""Facts of the public API, written down once for the tests, apart from the service's code."""

from __future__ import annotations

# CONTRACT §2: the error codes, exactly and in the contract's order.
ERROR_CODES = [
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
]
