"""JSON in and out with exact decimals (money never passes through a binary float)."""

from __future__ import annotations

from typing import Any

import simplejson
from aiohttp import web

from eventstore.pool import dumps, loads


class BodyNotJson(ValueError):
    pass


def parse(raw: bytes) -> Any:
    try:
        return loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, simplejson.JSONDecodeError, ValueError) as exc:
        raise BodyNotJson(str(exc)) from None


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


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(body), status=status, content_type="application/json", headers=headers
    )
