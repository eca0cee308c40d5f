"""Routes that declare what they take and give.

Each view is registered with `Routes.route(...)`: its path, query and body models, its
answers, the scopes that may call it and the refusals it can give. The wrapper enforces the
scopes and parses the inputs into those models before the view runs; the OpenAPI document
(service.api.openapi) is built from the same declarations, so the two cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from service.api.auth import Principal, authenticate
from service.api.errors import Forbidden, InvalidInput, UnsupportedMediaType
from service.api.jsonio import json_response, parse_json
from service.api.keys import COMMANDS, PRINCIPAL, REQUEST_ID
from service.commands.caller import Caller
from service.commands.runner import Completed

# Visible ASCII only: a key is stored, logged and compared byte for byte.
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
P = TypeVar("P")
Q = TypeVar("Q")
B = TypeVar("B")
Schema = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    body: Any  # JSON-ready: the shape of the operation's answer model for `status`
    status: int = 200
    replayed: bool = False  # the stored outcome of an earlier request with the same key


@dataclass(frozen=True)
class Call(Generic[P, Q, B]):
    """One request, its inputs parsed into the operation's models."""

    request: web.Request
    path: P
    query: Q
    body: B

    @property
    def principal(self) -> Principal:
        return self.request[PRINCIPAL]

    def caller(self) -> Caller:
        key = self.request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                {"field": "Idempotency-Key", "reason": "not 1 to 255 visible ASCII characters"},
            )
        who = self.principal
        return Caller(who.account_id, who.client_id, self.request[REQUEST_ID], key)

    async def run(self, command: BaseModel) -> Completed:
        return await self.request.app[COMMANDS].run(self.caller(), command)


View = Callable[[Call[Any, Any, Any]], Awaitable[Reply | web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    view: View
    operation_id: str
    summary: str
    description: str
    tag: str
    answers: Mapping[int, type[BaseModel] | Schema]  # successful answers by status
    scopes: tuple[str, ...] = ()  # any one of them will do; none: no token needed
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[type[BaseException], ...] = ()  # refusals beyond those every input brings
    media_type: str = "application/json"
    # The successful answers in other forms too, chosen by the Accept header.
    other_media_types: Mapping[str, Schema] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        """Writes take an Idempotency-Key."""
        return self.method in ("POST", "PUT")


@dataclass
class Routes:
    operations: list[Operation] = field(default_factory=list)

    def route(self, method: str, path: str, **declared: Any) -> Callable[[View], View]:
        def register(view: View) -> View:
            self.operations.append(Operation(method, path, view, **declared))
            return view

        return register

    def add_to(self, app: web.Application) -> None:
        for operation in self.operations:
            app.router.add_route(operation.method, operation.path, _handler(operation))


def _handler(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if op.scopes:
            request[PRINCIPAL] = _authorized(request, op.scopes)
        call = Call(
            request,
            _parsed(op.path_params, dict(request.match_info), "path"),
            _parsed(op.query, _query_input(op.query, request.query), "query"),
            _parsed(op.body, await _json_body(request), "body") if op.body else None,
        )
        reply = await op.view(call)
        if isinstance(reply, web.StreamResponse):
            return reply
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
        return json_response(reply.body, reply.status, headers)

    return handle


def _authorized(request: web.Request, scopes: tuple[str, ...]) -> Principal:
    who = authenticate(request)
    if not who.scopes.intersection(scopes):
        raise Forbidden(
            "The access token lacks the scope for this action.",
            {"required_scopes": list(scopes)},
        )
    return who


async def _json_body(request: web.Request) -> Any:
    charset = (request.charset or "utf-8").lower()
    if request.content_type != "application/json" or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "The request body must be sent as application/json (UTF-8).",
            {"field": "Content-Type", "reason": "not application/json"},
        )
    try:
        raw = await request.read()  # aiohttp answers 413 past client_max_size
    except web.RequestPayloadError:  # a Content-Encoding or chunking that does not decode
        raise InvalidInput(
            "The request body could not be decoded.",
            {"field": "body", "reason": "undecodable Content-Encoding or framing"},
        ) from None
    if not raw.strip():
        raise InvalidInput("A JSON request body is required.", {"field": "body", "reason": "empty"})
    return parse_json(raw)


def _query_input(model: type[BaseModel] | None, query: MultiMapping[str]) -> dict[str, Any]:
    """The query as the model reads it: every value of a list field (`ids=a&ids=b`, also
    spelled `ids[]`), the first value of the others."""
    if model is None:
        return {}
    lists = {name for name, f in model.model_fields.items() if f.annotation == list[str]}
    data: dict[str, Any] = {}
    for key in dict.fromkeys(query):
        name = key.removesuffix("[]")
        if name in lists:
            data[name] = [*data.get(name, []), *query.getall(key)]
        else:
            data.setdefault(key, query[key])
    return data


def _parsed(model: type[BaseModel] | None, data: Any, where: str) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = validation_details(error)
        message = (
            "The request body is invalid."
            if where == "body"
            else f"Invalid {where} parameter {details['field']}: {details['reason']}"
        )
        raise InvalidInput(message, details) from None


def validation_details(error: ValidationError) -> dict[str, Any]:
    problems = [
        {"field": ".".join(str(part) for part in e["loc"]) or "body", "reason": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]
    return {**problems[0], "errors": problems}
