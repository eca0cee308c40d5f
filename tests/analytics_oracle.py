"""The analytics tables as the tests expect them, computed from the stored events' JSON by a
fold of the tests' own (no domain model, no projection code), and read back from the
database in the same shape, for comparison."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from decimal import Decimal
from typing import Any

from eventstore.types import Conn

Rows = dict[str, set[tuple[Any, ...]]]

RECORD_TYPES = [
    "RecordCreated",
    "RecordRevised",
    "ReviewStatusChanged",
    "ExportSucceeded",
    "ExportFailed",
]
# The columns compared, per table.
COLUMNS = {
    "records": "account_id, record_id, version, review_status, type, source_type, amount, "
    "currency, vendor_name, memo, updated_at, export_status, export_reference_id, "
    "export_error_message, export_error_code",
    "record_line_items": "account_id, record_id, line_number, line_item_id, type, amount, "
    "currency, memo",
    "record_lifecycle": "account_id, record_id, created_at, ready_at, first_reported_at, "
    "exported_at, failed_attempts, attempts_before_success",
    "export_attempts": "account_id, record_id, version, position, integration_id, vendor, "
    "vendor_account_id, outcome, reference_id, error_message, error_code, reported_at, "
    "record_type, "
    "source_type, amount, currency, client_id",
    "daily_exports": "account_id, day, vendor, outcome, currency, attempts, amount",
}
_EVENTS = """
SELECT account_id, stream_id, version, position, type, schema_version, data, metadata,
       recorded_at
FROM events WHERE account_id = ANY($1::text[]) AND type = ANY($2::text[])
ORDER BY account_id, stream_id, version
"""


async def expected_tables(conn: Conn, accounts: list[str]) -> Rows:
    """Fold the accounts' record events, stream by stream, into the compared columns."""
    rows: Rows = {name: set() for name in COLUMNS}
    streams: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for event in await conn.fetch(_EVENTS, accounts, RECORD_TYPES):
        streams[(event["account_id"], event["stream_id"])].append(event)
    daily: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for (account, record_id), events in streams.items():
        _fold_record(rows, daily, account, record_id, events)
    rows["daily_exports"] = {(*key, n, amount) for key, (n, amount) in daily.items()}
    return rows


def _fold_record(
    rows: Rows,
    daily: dict[tuple[Any, ...], list[Any]],
    account: str,
    record_id: str,
    events: list[Any],
) -> None:
    content: dict[str, Any] = {}
    status, last_export = "", None
    created = ready = first_report = exported = None
    failures, before_success = 0, None
    for e in events:
        data, at = e["data"], e["recorded_at"]
        if e["type"] == "RecordCreated":
            content, status, created = dict(data["content"]), data["review_status"], at
        elif e["type"] == "RecordRevised":
            content.update(data["changes"])
        elif e["type"] == "ReviewStatusChanged":
            status = data["to_status"]
        else:
            ok = e["type"] == "ExportSucceeded"
            status = "EXPORTED" if ok else "REVIEW"
            outcome = "EXPORTED" if ok else "FAILED"
            error = _error(e["schema_version"], data) if not ok else (None, None)
            last_export = (outcome, data.get("reference_id"), *error)
            first_report = first_report or at
            money = content["amount"]
            rows["export_attempts"].add(
                (account, record_id, e["version"], e["position"], data["integration_id"],
                 data["vendor"], data["vendor_account_id"], outcome, data.get("reference_id"),
                 *error, at, content["type"], content["source_type"],
                 money["amount"], money["currency"], e["metadata"].get("client_id"))
            )  # fmt: skip
            day = (account, at.astimezone(UTC).date(), data["vendor"], outcome, money["currency"])
            daily[day][0] += 1
            daily[day][1] += money["amount"]
            if ok:
                exported, before_success = at, failures
            else:
                failures += 1
        if status == "READY_FOR_EXPORT" and ready is None:
            ready = at
    last = events[-1]
    vendor = content.get("vendor") or {}
    export = last_export or (None, None, None, None)
    rows["records"].add(
        (account, record_id, last["version"], status, content["type"], content["source_type"],
         content["amount"]["amount"], content["amount"]["currency"], vendor.get("name"),
         content.get("memo"), last["recorded_at"], *export)
    )  # fmt: skip
    for number, item in enumerate(content.get("line_items") or [], start=1):
        rows["record_line_items"].add(
            (account, record_id, number, item["id"], item["type"], item["amount"]["amount"],
             item["amount"]["currency"], item.get("memo"))
        )  # fmt: skip
    rows["record_lifecycle"].add(
        (account, record_id, created, ready, first_report, exported, failures, before_success)
    )


def _error(schema_version: int, data: dict[str, Any]) -> tuple[str, str | None]:
    """An ExportFailed's message and code, in either stored shape: version 1 held the
    message alone, version 2 an `error` object."""
    if schema_version == 1:
        return data["error_message"], None
    return data["error"]["message"], data["error"].get("code")


async def actual_tables(conn: Conn, accounts: list[str], schema: str = "analytics") -> Rows:
    """The compared columns of the analytics tables, for the accounts."""
    return {
        name: {
            tuple(row)
            for row in await conn.fetch(
                f"SELECT {columns} FROM {schema}.{name} WHERE account_id = ANY($1::text[])",
                accounts,
            )
        }
        for name, columns in COLUMNS.items()
    }
