"""JSON on the wire with exact decimals: money never passes through a binary float."""

from __future__ import annotations

from typing import Any

import simplejson
from aiohttp import web

from service.api.errors import InvalidInput


def parse_json(raw: bytes) -> Any:
    """A request body or import line; numbers with a fraction or exponent become Decimal."""
    try:
        return simplejson.loads(raw.decode("utf-8"), use_decimal=True, allow_nan=False)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInput(
            "The request body is not valid JSON.", {"field": "body", "reason": str(exc)}
        ) from None


def dumps(body: Any) -> str:
    return simplejson.dumps(body, use_decimal=True, ensure_ascii=False, separators=(",", ":"))


def nul_at(value: Any, path: str = "body") -> str | None:
    """Where a NUL character (U+0000) stands in a parsed JSON value, key or string: PostgreSQL
    text cannot hold it, so such input is refused rather than failing at the database."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path != "body" else str(key)
            if "\x00" in key:
                return where
            found = nul_at(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_at(item, f"{path}.{index}")
            if found:
                return found
    return None


def refuse_nul(data: Any) -> Any:
    where = nul_at(data)
    if where is not None:
        raise InvalidInput(
            "Text may not contain the NUL character (U+0000).",
            {"field": where, "reason": "contains the NUL character"},
        )
    return data


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(body), status=status, content_type="application/json", headers=headers
    )
