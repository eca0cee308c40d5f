"""Property-based API conformance (schemathesis) against the real service.

One test per OpenAPI document: the public reference document (the six public operations)
and our own (as served at /openapi.json, extensions included); schemathesis makes one test
item per operation. Each item serves the app (`create_app` on the shared database, through
the `app` fixture, which also checks every answer against both documents) on a loopback
port from a background thread, seeds a fresh account (an ACTIVE and a DISABLED integration,
records in every review status, some READY_FOR_EXPORT, one EXPORTED), then lets schemathesis
generate requests in its examples, coverage and fuzzing phases, positive and negative, with
a fixed seed and derandomized, and checks every answer. Positive cases are steered towards
the seeded objects (real ids, a real cursor) so that they reach real state, not only 404s.
Every call carries a bearer token for the account with every scope. The app is served as
`serve` serves it (service.api.server.ServiceRunner).

Left out, each with its reason below: status_code_conformance against the public document
(`test_public_document`), and single failures that are the contract's own answers
(`_contract_refusal`) or another route's methods (`_other_route_method`).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis import Case, HookContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.openapi.checks import (
    AllowHeaderMismatch,
    RejectedPositiveData,
    UnsupportedMethodResponse,
)
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from service.api.app import service_document as openapi_document
from service.api.server import ServiceRunner
from tests.conftest import FIGURES, make_token
from tests.contract import ERROR_CODES
from tests.factories import new_record_id, record_body
from tests.openapi_check import PUBLIC_DOCUMENT

SEED = 20260424
# Fuzzed cases per operation, positive and negative together (the examples and coverage
# phases add their own fixed cases): both tests together take 15-20 s on 2 cores.
MAX_EXAMPLES = 40
EXPORT_RESULTS = "/v3/accounting/records/export-results"

FUZZED: dict[str, int] = {"cases": 0}


@schemathesis.check
def error_envelope(ctx: Any, response: Response, case: Case) -> bool | None:
    """Every answer is counted; every refusal (4xx, 5xx) is the contract's envelope."""
    FUZZED["cases"] += 1
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON") from None
    assert isinstance(body, dict) and set(body) == {"error_code", "message", "details"}, body
    assert body["error_code"] in ERROR_CODES, body
    return None


# Every built-in check that judges a single answer (the others need the CLI's stateful runs
# or a second identity), and ours.
CHECKS = [
    error_envelope,
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    positive_data_acceptance,
    negative_data_rejection,
    missing_required_header,
    ignored_auth,
    unsupported_method,
    allow_header_conformance,
]


@dataclass(frozen=True)
class Live:
    """The service on a loopback port, and what was seeded for the caller's account."""

    url: str
    headers: dict[str, str]
    session: requests.Session
    integration_ids: tuple[str, ...]
    record_ids: tuple[str, ...]
    ready_ids: tuple[str, ...]
    cursors: tuple[str, ...]


# The server of the running test, for the generation hooks (which see no fixtures).
_SERVING: list[Live] = []


def _seed(session: requests.Session, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """An ACTIVE and a DISABLED integration, and records of several kinds in every review
    status."""

    def send(method: str, path: str, body: Any = None) -> Any:
        resp = session.request(method, url + path, json=body, headers=headers, timeout=30)
        assert resp.status_code in (200, 201), f"{method} {path} -> {resp.status_code}: {resp.text}"
        return resp.json()

    integrations = "/v3/accounting/integration"
    disabled = send("POST", integrations, {"vendor": "ERP_B", "vendor_account_id": "b-1"})
    send("POST", f"{integrations}/{disabled['integration_id']}/disconnect")
    active = send("POST", integrations, {"vendor": "ERP_A", "vendor_account_id": "ledger-1"})
    bill = {
        "type": "BILL_EXPENSE",
        "source_type": "BILL",
        "due_at": "2026-05-24T00:00:00Z",
        "invoice_number": "INV-1",
        "user": None,
        "vendor": {"id": "vendor_2", "name": "Paper Co", "email": "ap@paper.example"},
    }
    bare = {"original_amount": None, "receipts": None, "user": None, "vendor": None, "memo": None}
    refund = {"type": "CARD_EXPENSE_REFUND", "source_id": None}
    plan = [
        ("PREPARE", {}),
        ("PREPARE", bill),
        ("REVIEW", bare),
        ("REVIEW", refund),
        ("READY_FOR_EXPORT", {}),
        ("READY_FOR_EXPORT", bill),
        ("READY_FOR_EXPORT", refund),
        ("READY_FOR_EXPORT", bare),
        ("READY_FOR_EXPORT", {}),
        ("READY_FOR_EXPORT", {}),
    ]
    record_ids = []
    for status, overrides in plan:
        record_id = new_record_id()
        path = f"/internal/accounting/records/{record_id}"
        send("PUT", path, record_body(**overrides))
        if status != "PREPARE":
            send("POST", f"{path}/review-status", {"review_status": status})
        record_ids.append(record_id)
    ready = record_ids[4:]
    # One record EXPORTED, one sent back to REVIEW with its failure kept; four stay ready.
    results = [
        {"accounting_record_id": ready[0], "success": {"reference_id": "je-1"}},
        {"accounting_record_id": ready[1], "failure": {"error_message": "GL account closed"}},
    ]
    send("POST", EXPORT_RESULTS, {"results": results})
    page = send("GET", "/v3/accounting/records?limit=3")
    assert page["next_cursor"], page
    return {
        "integration_ids": (active["integration_id"], disabled["integration_id"]),
        "record_ids": tuple(record_ids),
        "ready_ids": tuple(ready[2:]),
        "cursors": (page["next_cursor"],),
    }


@pytest.fixture
def live(app: web.Application, account: str) -> Iterator[Live]:
    """Serve `app` on 127.0.0.1 from a thread with its own event loop (schemathesis calls
    are synchronous), seeded for `account`."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="conformance-server", daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    # The server `serve` runs: what aiohttp's parser refuses gets the envelope there too.
    runner = ServiceRunner(app, access_log=None)
    try:
        run(runner.setup())
        run(web.TCPSite(runner, "127.0.0.1", 0).start())
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        headers = {"Authorization": f"Bearer {make_token(account)}"}
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment for loopback calls
            seeded = _seed(session, url, headers)
            _SERVING.append(Live(url=url, headers=headers, session=session, **seeded))
            yield _SERVING[-1]
    finally:
        _SERVING.clear()
        run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


# --- Steering positive cases towards the seeded objects ------------------------------------


def _set_path(name: str, value: str) -> Callable[[Case], None]:
    return lambda case: case.path_parameters.__setitem__(name, value)


def _set_query(name: str, value: Any) -> Callable[[Case], None]:
    return lambda case: case.query.__setitem__(name, value)


def _set_fields(fields: dict[str, str]) -> Callable[[Case], None]:
    return lambda case: case.body.update(fields)


def _set_results(ids: tuple[str, ...]) -> Callable[[Case], None]:
    def change(case: Case) -> None:
        for item, record_id in zip(case.body["results"], ids, strict=False):
            item["accounting_record_id"] = record_id

    return change


def _changed(case: Case, change: Callable[[Case], None] | None) -> Case:
    if change is not None:
        change(case)
    return case


_KEYS = itertools.count()


def map_case(context: HookContext, case: Case) -> Case:
    """A positive case's generated Idempotency-Key gets a unique suffix (when it has room):
    otherwise the few keys generation favours ("0"...) would be spent by the first cases
    and every later valid request would only be refused as a reuse (422), never run."""
    key = (case.headers or {}).get("Idempotency-Key")
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and isinstance(key, str) and len(key) <= 240:
        case.headers["Idempotency-Key"] = f"{key}~{next(_KEYS)}"
    return case


def flatmap_case(context: HookContext, case: Case) -> st.SearchStrategy[Case]:
    """A positive case keeps its generated values or, as Hypothesis chooses, gets a seeded
    record or integration id, seeded ids in `ids`, a real cursor, distinct READY_FOR_EXPORT
    ids in its export results, or the ACTIVE integration's vendor in a create. Negative
    cases are left alone (a real id could make them valid)."""
    if not _SERVING or case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)
    live = _SERVING[-1]
    changes: list[st.SearchStrategy[Callable[[Case], None]]] = []
    params = case.path_parameters or {}
    if "record_id" in params:
        changes.append(st.sampled_from(live.record_ids).map(lambda v: _set_path("record_id", v)))
    if "integration_id" in params:
        ids = st.sampled_from(live.integration_ids)
        changes.append(ids.map(lambda v: _set_path("integration_id", v)))
    if case.operation.path == "/v3/accounting/records" and case.query is not None:
        subsets = st.lists(st.sampled_from(live.record_ids), min_size=1, max_size=4)
        changes.append(subsets.map(lambda v: _set_query("ids", v)))
        changes.append(st.sampled_from(live.cursors).map(lambda v: _set_query("cursor", v)))
    body = case.body
    if case.operation.path == "/v3/accounting/integration" and isinstance(body, dict):
        # The ACTIVE integration itself (200), or its vendor with another ledger (409).
        asks = [{"vendor": "ERP_A", "vendor_account_id": ledger} for ledger in ("ledger-1", "l-2")]
        changes.append(st.sampled_from(asks).map(_set_fields))
    if (
        case.operation.path == EXPORT_RESULTS
        and isinstance(body, dict)
        and isinstance(body.get("results"), list)
        and all(isinstance(item, dict) for item in body["results"])
        and len(body["results"]) <= len(live.ready_ids)
    ):
        changes.append(st.permutations(live.ready_ids).map(lambda v: _set_results(tuple(v))))
    if not changes:
        return st.just(case)
    # Seeded values first: Hypothesis favours the first alternatives.
    return st.one_of(*changes, st.none()).map(lambda change: _changed(case, change))


# --- The known false positives -------------------------------------------------------------


def _error(response: Response) -> tuple[str, dict[str, Any]]:
    """The error envelope's code and details ("" and {} when the body is not one)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return "", {}
    if not isinstance(body, dict):
        return "", {}
    details = body.get("details")
    return str(body.get("error_code")), details if isinstance(details, dict) else {}


def _contract_refusal(failure: Failure, response: Response, *, public: bool) -> bool:
    """A schema-valid request that the contract (CONTRACT.md) refuses for a reason the
    document does not state: positive_data_acceptance must not count it. (Against our own
    document the `public` ones would be real gaps in it, so they count there.)"""
    if not isinstance(failure, RejectedPositiveData):
        return False
    status = response.status_code
    code, details = _error(response)
    field, reason = details.get("field"), str(details.get("reason", ""))
    return any(
        (
            # An Idempotency-Key reused with another body is 422 (keys are per account;
            # generated keys too long for map_case's suffix can repeat across cases).
            status == 422 and code == "INVALID_REQUEST" and "idempotency_key" in details,
            # review_status together with source_type=BILL is 400.
            status == 400 and field == "review_status" and "source_type=BILL" in reason,
            # A cursor the API did not hand out is 400.
            status == 400 and field in ("cursor", "after"),
            # A tree size beyond the sealed log, or sizes out of order: state, not shape.
            status == 400 and field in ("tree_size", "to_size", "from_size"),
            # The analytics summary's `to` before its `from` is 400.
            status == 400 and field == "to" and "from" in reason,
            # An EXPORTED record can be neither revised nor moved: 422.
            status == 422 and details.get("current_status") == "EXPORTED",
            # NUL (U+0000) in a body or URL is 400: PostgreSQL text cannot hold it.
            status == 400 and reason == "contains the NUL character",
            # New money has at most 6 digits after the point: said in the schema's
            # description, since `multipleOf` cannot say it of binary floats.
            status == 400 and "digits after the decimal point" in reason,
            # Public document: its strings have no minLength; the contract wants non-empty
            # vendor, vendor_account_id, record ids, error messages.
            public and status == 400 and reason == "String should have at least 1 character",
            # Public document: its `limit` is any number; the contract wants an integer 1..1000.
            public and status == 400 and field == "limit",
            # export-results refuses with 422 a record no longer READY_FOR_EXPORT (exported by
            # an earlier case) and an id repeated in one request: state, not shape.
            status == 422
            and code
            in {"ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT", "DUPLICATE_ACCOUNTING_RECORD_IDS"},
        )
    )


# Schema violations of a negative case that do not make the request invalid for us: unknown
# query parameters are ignored (as unknown body fields are: clients evolve), and the harness
# sends every case with a bearer token, so a case generated without one has one.
_HARMLESS_VIOLATIONS = {
    "- query: violates `additionalProperties`",
    "- header: violates `required` (was Authorization)",
}


def _harmless_negative(failure: Failure) -> bool:
    if not isinstance(failure, AcceptedNegativeData):
        return False
    _, _, components = failure.message.partition("Invalid component:")
    lines = {line.strip() for line in components.splitlines() if line.strip()}
    return bool(lines) and lines <= _HARMLESS_VIOLATIONS


# Methods that a URL answers through another route than the operation under test.
OTHER_ROUTES = {
    # GET /v3/accounting/integration is our extension, absent from the public document.
    "/v3/accounting/integration": ["GET"],
    # The URL also matches GET /v3/accounting/records/{record_id} (a record "export-results").
    EXPORT_RESULTS: ["GET"],
}


# What a negative case may break that the service rightly accepts: a query parameter it does
# not know (ignored, like unknown body fields), and a missing Authorization header that the
# harness itself puts back (every call carries the token).
_HARMLESS_MUTATIONS = ("violates `additionalProperties`", "violates `required` (was Authorization)")


def _harmless_negative(failure: Failure) -> bool:
    if not isinstance(failure, AcceptedNegativeData):
        return False
    described = failure.message.partition("Invalid component:")[2]
    mutations = [line.strip(" -") for line in described.splitlines() if line.strip(" -")]
    return bool(mutations) and all(
        any(line.endswith(harmless) for harmless in _HARMLESS_MUTATIONS) for line in mutations
    )


def _other_route_method(failure: Failure, case: Case) -> bool:
    """unsupported_method / allow_header_conformance judge a URL by one path of the document;
    a method that the URL serves through another route is neither a wrong answer nor a wrong
    `Allow`."""
    others = OTHER_ROUTES.get(case.operation.path, [])
    if isinstance(failure, UnsupportedMethodResponse):
        return failure.method in others
    if isinstance(failure, AllowHeaderMismatch):
        return failure.undocumented_methods == others and not failure.missing_methods
    return False


def _schema(document: dict[str, Any], *, public: bool, examples: int = MAX_EXAMPLES) -> BaseSchema:
    document = copy.deepcopy(document)
    # Never aim at the servers a document names: every call passes our loopback base URL.
    document["servers"] = [{"url": "http://127.0.0.1:9"}]
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": examples,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema.hook(map_case)
    schema.hook(flatmap_case)

    def filter_failure(
        context: HookContext, failure: Failure, case: Case, response: Response
    ) -> bool:
        return not (
            _contract_refusal(failure, response, public=public)
            or _other_route_method(failure, case)
            or _harmless_negative(failure)
        )

    schema.hook(filter_failure)
    return schema


PUBLIC = _schema(json.loads(PUBLIC_DOCUMENT.read_text()), public=True)
OWN = _schema(openapi_document(), public=False)
# make test-long: many more cases per operation.
LONG_EXAMPLES = 400
PUBLIC_LONG = _schema(json.loads(PUBLIC_DOCUMENT.read_text()), public=True, examples=LONG_EXAMPLES)
OWN_LONG = _schema(openapi_document(), public=False, examples=LONG_EXAMPLES)


@pytest.fixture(scope="module", autouse=True)
def fuzz_figures() -> Iterator[None]:
    yield
    if FUZZED["cases"]:
        FIGURES.append(
            f"fuzzing (schemathesis): {FUZZED['cases']} requests checked (5xx, conformance, "
            "envelope)"
        )
        FUZZED["cases"] = 0


def test_the_document_fuzzed_is_the_one_served(live: Live) -> None:
    served = live.session.get(live.url + "/openapi.json", timeout=30).json()
    assert served == json.loads(json.dumps(openapi_document()))


# Hypothesis's health checks judge generation, not the server: the server and its seeded
# account are made once per operation on purpose (function_scoped_fixture), and too_slow
# or data_too_large would only make the test depend on how busy the machine is.
PER_OPERATION = settings(suppress_health_check=list(HealthCheck))


def check_public(case: Case, live: Live) -> None:
    case.call_and_validate(
        base_url=live.url,
        session=live.session,
        headers=live.headers,
        checks=CHECKS,
        excluded_checks=[
            # The contract adds statuses the public document does not list (400, 401, 403,
            # 413, 415, 422 for a reused Idempotency-Key, 503): our own document lists them.
            status_code_conformance,
        ],
    )


def check_own(case: Case, live: Live) -> None:
    case.call_and_validate(
        base_url=live.url, session=live.session, headers=live.headers, checks=CHECKS
    )


@PUBLIC.parametrize()
@PER_OPERATION
def test_public_document(case: Case, live: Live) -> None:
    check_public(case, live)


@OWN.parametrize()
@PER_OPERATION
def test_own_document(case: Case, live: Live) -> None:
    check_own(case, live)


@PUBLIC_LONG.parametrize()
@PER_OPERATION
@pytest.mark.long
def test_public_document_long(case: Case, live: Live) -> None:
    check_public(case, live)


@OWN_LONG.parametrize()
@PER_OPERATION
@pytest.mark.long
def test_own_document_long(case: Case, live: Live) -> None:
    check_own(case, live)
