"""What every view does: read the body, name the caller, run the command."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from service import idempotency
from service.appkeys import POOL, SETTINGS
from service.auth import principal
from service.errors import invalid_request
from service.jsonio import BodyNotJson, json_response, nul_at, parse
from service.middleware import request_id_of
from service.schemas import validate
from service.transactions import Caller, Outcome, Work, run_command

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()  # aiohttp answers 413 past client_max_size
    if not raw.strip():
        raise invalid_request(
            "A JSON request body is required.", {"field": "body", "reason": "empty"}
        )
    try:
        data = parse(raw)
    except BodyNotJson as exc:
        raise invalid_request(
            "The request body is not valid JSON.", {"field": "body", "reason": str(exc)}
        ) from None
    where = nul_at(data)
    if where is not None:
        raise invalid_request(
            "Text may not contain the NUL character (U+0000).",
            {"field": where, "reason": "contains the NUL character"},
        )
    return data


async def read_body(request: web.Request, model: type[M]) -> tuple[M, Any]:
    data = await read_json(request)
    return validate(model, data), data


def caller_of(request: web.Request) -> Caller:
    who = principal(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise invalid_request(
            "Idempotency-Key must be 1 to 255 characters.",
            {"field": "Idempotency-Key", "reason": "length"},
        )
    return Caller(who.account_id, who.client_id, request_id_of(request), key)


async def execute(request: web.Request, work: Work, body: Any = None) -> web.Response:
    caller = caller_of(request)
    request_hash = (
        idempotency.fingerprint(request.method, request.path, body)
        if caller.idempotency_key
        else None
    )
    outcome: Outcome = await run_command(
        request.app[POOL],
        caller,
        work,
        request_hash=request_hash,
        retries=request.app[SETTINGS].export_conflict_retries,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return json_response(outcome.body, outcome.status, headers)
