"""A realistic demo account: one integration and records in every type and status."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from domain.exports import ExportFailure, ExportResult, ExportSuccess, ReportExportResults
from domain.imports import ImportReport
from domain.integrations import CreateIntegration
from domain.records import ChangeReviewStatus
from domain.values import RecordType, ReviewStatus, UserRole
from projections.integrations import list_integrations
from service.api.jsonio import dumps
from service.commands.caller import Caller
from service.commands.ids import new_integration_id
from service.commands.runner import run_command
from service.ops.bulk_import import import_lines

VENDORS = ["Acme Corp", "Globex", "Initech", "Umbrella Supplies", "Stark Travel", "Wayne Catering"]
PEOPLE = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Edsger", "Dijkstra")]
SOURCE = {"CARD": "CARD", "REWA": "CARD", "REIM": "REIMBURSEMENT", "INVO": "BILL", "BILL": "BILL"}


def demo_record(rng: random.Random, n: int, base: datetime) -> dict[str, Any]:
    kind = rng.choice(list(RecordType))
    amount = {"amount": Decimal(rng.randint(100, 250_000)) / 100, "currency": "USD"}
    first, last = rng.choice(PEOPLE)
    vendor = rng.choice(VENDORS)
    posted = base - timedelta(hours=rng.randint(1, 24 * 60))
    is_bill = kind.value.startswith(("BILL", "INVOICE"))
    fields = [
        {
            "brex_field_id": "ef_gl",
            "remote_field_id": "gl",
            "brex_field_value_id": f"efo_{rng.randint(1, 9)}",
            "remote_field_value_id": str(6000 + rng.randint(0, 99)),
        }
    ]
    return {
        "id": f"accr_demo{n:05d}",
        "amount": amount,
        "original_amount": amount,
        "type": kind.value,
        "source_id": f"src_{n:05d}",
        "source_type": SOURCE[kind.value[:4]],
        "erp_posting_date": posted.isoformat(),
        "posted_at": posted.isoformat(),
        "due_at": (posted + timedelta(days=30)).isoformat() if is_bill else None,
        "invoice_number": f"INV-{n:05d}" if is_bill else None,
        "memo": f"{vendor} #{n}",
        "receipts": [
            {"id": f"receipt_{n}", "download_uris": [f"https://files.example/receipt_{n}.pdf"]}
        ],
        "user": {
            "id": f"cuuser_{first.lower()}",
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}@demo.example",
            "role": rng.choice(list(UserRole)).value,
            "status": "ACTIVE",
        },
        "vendor": {"id": f"vendor_{VENDORS.index(vendor)}", "name": vendor},
        "line_items": [
            {
                "id": f"accrli_{n:05d}d",
                "type": "DEBIT",
                "amount": amount,
                "memo": vendor,
                "accounting_field_values": fields,
            },
            {
                "id": f"accrli_{n:05d}c",
                "type": "CREDIT",
                "amount": amount,
                "accounting_field_values": [],
            },
        ],
    }


async def seed_demo(
    pool: asyncpg.Pool, account_id: str, count: int = 300, seed: int = 7
) -> ImportReport | None:
    """Fill `account_id` with demo data once; None when it already has an integration."""
    caller = Caller(account_id, "demo-seed", "seed")
    async with pool.acquire() as conn:
        if await list_integrations(conn, account_id):
            return None
    rng = random.Random(seed)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [demo_record(rng, n, base) for n in range(count)]
    report = await import_lines(pool, caller, ((i + 1, dumps(r)) for i, r in enumerate(rows)))
    statuses = [
        ReviewStatus.PREPARE,
        ReviewStatus.REVIEW,
        ReviewStatus.READY_FOR_EXPORT,
        ReviewStatus.READY_FOR_EXPORT,
    ]
    done = await run_command(
        pool,
        caller,
        CreateIntegration(
            new_integration_id=new_integration_id(),
            vendor="ERP_A",
            vendor_account_id="demo-ledger",
        ),
    )
    assert done.result.status == "ACTIVE"
    ready: list[str] = []
    for i, row in enumerate(rows):
        status = statuses[i % len(statuses)]
        await run_command(
            pool, caller, ChangeReviewStatus(record_id=row["id"], review_status=status)
        )
        if status is ReviewStatus.READY_FOR_EXPORT:
            ready.append(row["id"])
    # A third of the ready records have been exported, a few failed back to REVIEW.
    results = [
        ExportResult(
            accounting_record_id=rid,
            outcome=ExportFailure(error_message="GL account 6099 is closed")
            if k % 7 == 0
            else ExportSuccess(
                reference_id=f"erp_{k}", deep_link_url=f"https://erp.example/txn/{k}"
            ),
        )
        for k, rid in enumerate(ready[: len(ready) * 2 // 3])
    ]
    await run_command(pool, caller, ReportExportResults(results=tuple(results)))
    return report
