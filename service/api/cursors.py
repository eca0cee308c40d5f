"""The opaque paging cursor of GET /v3/accounting/records: where the next page starts,
and the snapshot (and total) of the first page, which every later page keeps."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

import simplejson

from domain.values import RECORD_ID_MAX
from projections.record_query import PagePosition, is_snapshot
from service.api.errors import InvalidInput
from service.api.jsonio import parse_json


def encode_cursor(position: PagePosition) -> str:
    payload = {
        "s": position.snapshot,
        "n": position.total_count,
        "u": position.updated_at.isoformat(),
        "i": position.record_id,
    }
    return base64.urlsafe_b64encode(simplejson.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> PagePosition:
    """A cursor this API made; anything else (forged, truncated, deep, huge) is a 400."""
    try:
        # parse_json bounds depth, numbers and text like any other JSON that comes in.
        payload = parse_json(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        total, snapshot, record_id = payload["n"], payload["s"], payload["i"]
        if not isinstance(total, int) or isinstance(total, bool) or not 0 <= total < 2**63:
            raise ValueError("total")
        updated_at = datetime.fromisoformat(payload["u"])
        if updated_at.tzinfo is None:
            raise ValueError("position")
        updated_at = updated_at.astimezone(UTC)  # OverflowError near year 1 or 9999
        if not isinstance(record_id, str) or not 0 < len(record_id) <= RECORD_ID_MAX:
            raise ValueError("position")
        if not isinstance(snapshot, str) or not is_snapshot(snapshot):
            raise ValueError("snapshot")
        return PagePosition(snapshot, total, updated_at, record_id)
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, InvalidInput):
        reason = "not a cursor returned by this API"
        raise InvalidInput(
            f"Invalid query parameter cursor: {reason}", {"field": "cursor", "reason": reason}
        ) from None
