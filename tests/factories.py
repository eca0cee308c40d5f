"""Realistic record bodies for tests."""

from __future__ import annotations

import uuid
from typing import Any


def record_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": {"amount": 100.5, "currency": "USD"},
        "original_amount": {"amount": 100.5, "currency": "USD"},
        "type": "CARD_EXPENSE_POST",
        "source_id": "exp_1",
        "source_type": "CARD",
        "erp_posting_date": "2026-04-24T16:13:49.959513Z",
        "receipts": [{"id": "receipt_1", "download_uris": ["https://files.example/r1.pdf"]}],
        "user": {
            "id": "cuuser_1",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "role": "EMPLOYEE",
            "status": "ACTIVE",
        },
        "vendor": {"id": "vendor_1", "name": "Acme Corp"},
        "memo": "Business lunch",
        "posted_at": "2026-04-24T16:13:49Z",
        "due_at": None,
        "invoice_number": None,
        "line_items": [
            {
                "id": "accrli_debit1",
                "type": "DEBIT",
                "amount": {"amount": 100.5, "currency": "USD"},
                "memo": "Meals",
                "accounting_field_values": [
                    {"brex_field_id": "ef_1", "brex_field_value_id": "efo_1"}
                ],
            },
            {
                "id": "accrli_credit1",
                "type": "CREDIT",
                "amount": {"amount": 100.5, "currency": "USD"},
                "accounting_field_values": [],
            },
        ],
    }
    body.update(overrides)
    return body


def new_record_id() -> str:
    return "accr_" + uuid.uuid4().hex[:16]
