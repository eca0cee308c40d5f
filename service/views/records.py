"""CONTRACT §4: reading accounting records."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import simplejson
from aiohttp import web
from multidict import MultiMapping

from domain.errors import NotFound
from domain.values import ReviewStatus, SourceType
from projections.record_query import PagePosition, RecordFilter, is_snapshot, query_records
from projections.records import load_record
from service.appkeys import POOL
from service.auth import RECORD_READ, RECORD_WRITE, principal, requires
from service.errors import ApiError, invalid_request
from service.handlers.records import record_as_of
from service.jsonio import json_response
from service.render import record_json

routes = web.RouteTableDef()

MAX_IDS = 500
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


def _bad(field: str, reason: str) -> ApiError:
    return invalid_request(
        f"Invalid query parameter {field}: {reason}", {"field": field, "reason": reason}
    )


def _bool(query: MultiMapping[str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise _bad(name, "must be true or false")


def _instant(query: MultiMapping[str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _bad(name, "must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise _bad(name, "must carry a timezone (e.g. Z)")
    return parsed.astimezone(UTC)


def _enum(
    query: MultiMapping[str], name: str, allowed: type[ReviewStatus] | type[SourceType]
) -> str | None:
    value = query.get(name)
    if value is None:
        return None
    if value not in allowed.__members__:
        raise _bad(name, "must be one of " + ", ".join(allowed.__members__))
    return value


def _limit(query: MultiMapping[str]) -> int:
    value = query.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise _bad("limit", "must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(position: PagePosition) -> str:
    payload = {
        "s": position.snapshot,
        "n": position.total_count,
        "u": position.updated_at.isoformat(),
        "i": position.record_id,
    }
    return base64.urlsafe_b64encode(simplejson.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> PagePosition:
    try:
        payload: dict[str, Any] = simplejson.loads(
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        )
        total = payload["n"]
        if not isinstance(total, int) or total < 0:
            raise ValueError("total")
        updated_at = datetime.fromisoformat(payload["u"])
        snapshot, record_id = payload["s"], payload["i"]
        if updated_at.tzinfo is None or not isinstance(record_id, str) or "\x00" in record_id:
            raise ValueError("position")
        if not isinstance(snapshot, str) or not is_snapshot(snapshot):
            raise ValueError("snapshot")
        return PagePosition(snapshot, total, updated_at, record_id)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _bad("cursor", "not a cursor returned by this API") from None


def parse_filters(query: MultiMapping[str]) -> RecordFilter:
    ids = tuple(query.getall("ids", ())) + tuple(query.getall("ids[]", ()))
    if len(ids) > MAX_IDS:
        raise _bad("ids", f"at most {MAX_IDS} ids")
    review_status = _enum(query, "review_status", ReviewStatus)
    source_type = _enum(query, "source_type", SourceType)
    if review_status and source_type == SourceType.BILL:
        raise _bad("review_status", "cannot be combined with source_type=BILL")
    return RecordFilter(
        ids=ids,
        review_status=review_status,
        source_type=source_type,
        updated_after=_instant(query, "updated_at[gt]"),
        updated_from=_instant(query, "updated_at[gte]"),
        updated_before=_instant(query, "updated_at[lt]"),
        updated_until=_instant(query, "updated_at[lte]"),
    )


@routes.get("/v3/accounting/records")
@requires(RECORD_READ, RECORD_WRITE)
async def query_accounting_records(request: web.Request) -> web.Response:
    query = request.query
    filters = parse_filters(query)
    limit = _limit(query)
    single_entry = _bool(query, "single_entry")
    cursor = query.get("cursor")
    position = decode_cursor(cursor) if cursor else None
    async with request.app[POOL].acquire() as conn:
        page = await query_records(conn, principal(request).account_id, filters, position, limit)
    return json_response(
        {
            "items": [record_json(state, single_entry) for state in page.items],
            "has_next_page": page.next_position is not None,
            "next_cursor": encode_cursor(page.next_position) if page.next_position else None,
            "total_count": page.total_count,
        }
    )


@routes.get("/v3/accounting/records/{record_id}")
@requires(RECORD_READ, RECORD_WRITE)
async def get_accounting_record(request: web.Request) -> web.Response:
    record_id = request.match_info["record_id"]
    single_entry = _bool(request.query, "single_entry")
    as_of = _instant(request.query, "as_of")
    account_id = principal(request).account_id
    async with request.app[POOL].acquire() as conn:
        if as_of is None:
            state = await load_record(conn, account_id, record_id)
        else:
            state = await record_as_of(conn, account_id, record_id, as_of)
    if state is None:
        raise NotFound(f"Accounting record {record_id} not found.")
    return json_response(record_json(state, single_entry))
