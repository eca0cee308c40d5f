"""The opaque paging cursor of GET /v3/accounting/records: where the next page starts,
and the snapshot (and total) of the first page, which every later page keeps."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import simplejson

from projections.record_query import PagePosition, is_snapshot
from service.api.errors import InvalidInput


def encode_cursor(position: PagePosition) -> str:
    payload = {
        "s": position.snapshot,
        "n": position.total_count,
        "u": position.updated_at.isoformat(),
        "i": position.record_id,
    }
    return base64.urlsafe_b64encode(simplejson.dumps(payload).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> PagePosition:
    """A cursor this API made; anything else (forged, truncated) is a 400."""
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
        reason = "not a cursor returned by this API"
        raise InvalidInput(
            f"Invalid query parameter cursor: {reason}", {"field": "cursor", "reason": reason}
        ) from None
