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


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dumps(body), status=status, content_type="application/json", headers=headers
    )
