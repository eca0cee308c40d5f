"""Realistic accounting records, written as the JSON Lines that `python -m service import` reads
and as rows for COPY into the baseline's tables.

Record ids are `accr_<tag>_<n>`: a workload's Lua script and pgbench script rebuild the same
ids from (tag, n), so each load generator can be handed a range of records nobody touched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

READY = "READY_FOR_EXPORT"
_TYPES = (
    ("CARD_EXPENSE_POST", "CARD"),
    ("REIMBURSEMENT_EXPENSE_POST", "REIMBURSEMENT"),
    ("BILL_EXPENSE", "BILL"),
)
_MEMOS = ("Business lunch with client", "Team offsite travel", "Software subscription", "Taxi")
_VENDORS = ("Acme Corp", "Globex", "Initech", "Umbrella Supplies", "Hooli Cloud")
_ROLES = ("EMPLOYEE", "BOOKKEEPER", "AP_CLERK")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def record_id(tag: str, n: int) -> str:
    return f"accr_{tag}_{n}"


def record_body(n: int) -> dict[str, Any]:
    """The body of `PUT /internal/accounting/records/{id}` for the n-th record, every field
    present as a platform would send it (~1.7 KB of JSON)."""
    kind, source = _TYPES[n % len(_TYPES)]
    cents = 1_000 + (n * 7_919) % 500_000
    amount = {"amount": cents / 100, "currency": "USD"}
    when = (_EPOCH + timedelta(minutes=n)).isoformat().replace("+00:00", "Z")
    vendor = _VENDORS[n % len(_VENDORS)]
    return {
        "amount": amount,
        "original_amount": amount,
        "type": kind,
        "source_id": f"exp_{n}",
        "source_type": source,
        "erp_posting_date": when,
        "receipts": [{"id": f"receipt_{n}", "download_uris": [f"https://files.example/{n}.pdf"]}],
        "user": {
            "id": f"cuuser_{n % 500}",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": f"user{n % 500}@example.com",
            "role": _ROLES[n % len(_ROLES)],
            "status": "ACTIVE",
            "manager_id": f"cuuser_{n % 17}",
            "department_id": "dept_finance",
            "department_name": "Finance",
            "location_id": "loc_berlin",
            "location_name": "Berlin",
            "title_id": None,
            "title_name": None,
            "manager_first_name": "Grace",
            "manager_last_name": "Hopper",
            "manager_title_id": None,
            "manager_title_name": None,
        },
        "vendor": {
            "id": f"vendor_{n % 200}",
            "name": vendor,
            "contact_name": None,
            "email": f"billing@vendor{n % 200}.example",
            "website": "https://vendor.example",
            "phone": None,
        },
        "memo": _MEMOS[n % len(_MEMOS)],
        "posted_at": when,
        "due_at": None,
        "invoice_number": f"INV-{n:08d}" if source == "BILL" else None,
        "line_items": [
            {
                "id": f"accrli_{n}_d",
                "type": "DEBIT",
                "amount": amount,
                "memo": "Meals",
                "original_amount": None,
                "accounting_field_values": [
                    {"brex_field_id": "ef_gl", "brex_field_value_id": f"efo_{n % 40}"},
                    {"brex_field_id": "ef_dept", "brex_field_value_id": "efo_fin"},
                ],
            },
            {
                "id": f"accrli_{n}_c",
                "type": "CREDIT",
                "amount": amount,
                "memo": None,
                "original_amount": None,
                "accounting_field_values": [],
            },
        ],
    }


def write(jsonl: Path, table: Path, account: str, tag: str, count: int) -> list[str]:
    """Records accr_TAG_0 ... accr_TAG_{count-1}, ready for export, twice: as import lines
    (the body plus its `id`) and as rows of a record_state-shaped table in COPY's text
    format, the state as the service keeps it (the body under `content`). Returns their
    ids."""
    ids: list[str] = []
    with jsonl.open("w", encoding="utf-8") as lines, table.open("w", encoding="utf-8") as rows:
        for n in range(count):
            rid, body = record_id(tag, n), record_body(n)
            text = json.dumps(body)  # ids and statuses need no escaping
            lines.write(f'{{"id": "{rid}", "review_status": "{READY}", {text[1:]}\n')
            at = (_EPOCH + timedelta(milliseconds=n)).isoformat()
            state = (
                f'{{"id": "{rid}", "version": 1, "review_status": "{READY}",'
                f' "updated_at": "{at}", "export": null, "content": {text}}}'
            )
            # JSON text holds no tab or newline; COPY's text format wants backslashes doubled.
            state = state.replace("\\", "\\\\")
            rows.write(f"{account}\t{rid}\t1\t{READY}\t{body['source_type']}\t{body['type']}")
            rows.write(f"\t{at}\t{state}\n")
            ids.append(rid)
    return ids
