"""Model-based tests (Hypothesis stateful): random sequences of platform actions, connector
reports and integration changes against the real app over HTTP. A small in-memory model,
written from the contract (not from the domain code), predicts every answer; after each
step the API's records and integrations equal the model's, and every record and the
integrations folded from the log equal their projection rows (tests/invariants.py)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from service.api.keys import POOL
from tests.conftest import FIGURES, make_token
from tests.factories import record_body
from tests.invariants import _check_projections

STATUSES = ("PREPARE", "REVIEW", "READY_FOR_EXPORT")


@dataclass
class Live:
    url: str
    loop: asyncio.AbstractEventLoop
    app: web.Application
    session: requests.Session
    steps: list[int] = field(default_factory=lambda: [0, 0, 0])  # requests, runs, exports


@pytest.fixture
def live(app: web.Application) -> Iterator[Live]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    runner = web.AppRunner(app, access_log=None)
    run(runner.setup())
    run(web.TCPSite(runner, "127.0.0.1", 0).start())
    try:
        with requests.Session() as session:
            session.trust_env = False
            yield Live(f"http://127.0.0.1:{runner.addresses[0][1]}", loop, app, session)
    finally:
        run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@dataclass
class Record:
    status: str
    version: int
    memo: str
    export: str | None = None  # EXPORTED | FAILED: the last outcome reported


@dataclass
class Link:
    vendor: str
    account: str
    status: str


def machine(live: Live) -> type[RuleBasedStateMachine]:
    class Accounting(RuleBasedStateMachine):
        records = Bundle("records")
        integrations = Bundle("integrations")

        def __init__(self) -> None:
            super().__init__()
            self.account = f"acct_model_{uuid.uuid4().hex[:10]}"
            self.headers = {"Authorization": f"Bearer {make_token(self.account)}"}
            self.model: dict[str, Record] = {}
            self.links: dict[str, Link] = {}
            live.steps[1] += 1

        def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
            live.steps[0] += 1
            resp = live.session.request(
                method, live.url + path, json=body, headers=self.headers, timeout=30
            )
            return resp.status_code, resp.json()

        def active(self) -> str | None:
            return next((i for i, link in self.links.items() if link.status == "ACTIVE"), None)

        @initialize(target=records)
        def first_record(self) -> str:
            return self.put_new("first")

        @rule(
            target=records,
            memo=st.sampled_from(["a", "b"]),
            status=st.sampled_from(["READY_FOR_EXPORT", None, *STATUSES]),
        )
        def create_record(self, memo: str, status: str | None) -> str:
            return self.put_new(memo, status)

        def put_new(self, memo: str, status: str | None = None) -> str:
            # Ids in creation order (the account is new each run): Hypothesis replays a run's
            # choices, so the same choices must name the same records.
            rid = f"accr_m{len(self.model):04d}"
            body = record_body(memo=memo) | ({"review_status": status} if status else {})
            code, got = self.call("PUT", f"/internal/accounting/records/{rid}", body)
            assert code == 201, got
            self.model[rid] = Record(status or "PREPARE", 1, memo)
            return rid

        @rule(rid=records, memo=st.sampled_from(["a", "b", "c"]))
        def revise(self, rid: str, memo: str) -> None:
            record = self.model[rid]
            code, got = self.call(
                "PUT", f"/internal/accounting/records/{rid}", record_body(memo=memo)
            )
            if memo == record.memo:
                assert code == 200 and got["version"] == record.version
            elif record.status == "EXPORTED":
                assert code == 422 and got["error_code"] == "INVALID_REQUEST"
            else:
                assert code == 200, got
                record.memo, record.version = memo, record.version + 1

        @rule(rid=records, status=st.sampled_from(["READY_FOR_EXPORT", "REVIEW", "PREPARE"]))
        def move(self, rid: str, status: str) -> None:
            record = self.model[rid]
            code, got = self.call(
                "POST",
                f"/internal/accounting/records/{rid}/review-status",
                {"review_status": status},
            )
            if record.status == "EXPORTED":
                assert code == 422, got
            else:
                assert code == 200, got
                if status != record.status:
                    record.status, record.version = status, record.version + 1

        @rule(
            target=integrations,
            vendor=st.sampled_from(["ERP_A", "ERP_B"]),
            ledger=st.sampled_from(["l1", "l2"]),
        )
        def create_integration(self, vendor: str, ledger: str) -> str:
            code, got = self.call(
                "POST",
                "/v3/accounting/integration",
                {"vendor": vendor, "vendor_account_id": ledger},
            )
            active = self.active()
            if active is None:
                assert code == 200, got
                self.links[got["integration_id"]] = Link(vendor, ledger, "ACTIVE")
                return str(got["integration_id"])
            link = self.links[active]
            if link.vendor != vendor:
                assert (code, got["error_code"]) == (409, "ACTIVE_INTEGRATION_EXISTS")
            elif link.account != ledger:
                assert (code, got["error_code"]) == (409, "VENDOR_ACCOUNT_ID_MISMATCH")
            else:
                assert (code, got["integration_id"]) == (200, active)
            return active

        @rule(iid=integrations)
        def disconnect(self, iid: str) -> None:
            code, got = self.call("POST", f"/v3/accounting/integration/{iid}/disconnect")
            if self.links[iid].status == "ACTIVE":
                assert code == 200 and got["status"] == "DISABLED"
                self.links[iid].status = "DISABLED"
            else:
                assert (code, got["error_code"]) == (409, "INTEGRATION_NOT_ACTIVE")

        @rule(iid=integrations)
        def reactivate(self, iid: str) -> None:
            code, got = self.call("POST", f"/v3/accounting/integration/{iid}/reactivate")
            if self.active() is None:
                assert code == 200 and got["status"] == "ACTIVE"
                self.links[iid].status = "ACTIVE"
            else:
                assert (code, got["error_code"]) == (409, "ACTIVE_INTEGRATION_EXISTS")

        @initialize(target=integrations)
        def first_integration(self) -> str:
            return self.create_integration("ERP_A", "l1")

        def ready(self) -> list[str]:
            return sorted(rid for rid, r in self.model.items() if r.status == "READY_FOR_EXPORT")

        @precondition(lambda self: bool(self.ready()) and self.active() is not None)
        @rule(data=st.data())
        def report_ready(self, data: st.DataObject) -> None:
            self.report(data, plausible=True)

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data())
        def report_any(self, data: st.DataObject) -> None:
            self.report(data, plausible=False)

        def report(self, data: st.DataObject, plausible: bool) -> None:
            """A batch of distinct records believed ready, or any batch at all."""
            ready = self.ready()
            if plausible:
                ids = data.draw(
                    st.lists(st.sampled_from(ready), min_size=1, max_size=4, unique=True)
                )
                unknown: list[str] = []
            else:
                ids = data.draw(
                    st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=4)
                )
                unknown = data.draw(st.booleans().map(lambda b: ["accr_unknown"] if b else []))
            outcomes = data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
            batch = ids + unknown
            items = [
                {"accounting_record_id": rid, "success": {"reference_id": "r"}}
                if ok
                else {"accounting_record_id": rid, "failure": {"error_message": "no"}}
                for rid, ok in zip(batch, [*outcomes, True], strict=False)
            ]
            code, got = self.call(
                "POST", "/v3/accounting/records/export-results", {"results": items}
            )
            error = got.get("error_code")
            if len(set(batch)) < len(batch):
                assert (code, error) == (422, "DUPLICATE_ACCOUNTING_RECORD_IDS")
            elif self.active() is None:
                assert (code, error) == (422, "INTEGRATION_NOT_ACTIVE")
            elif unknown:
                assert (code, error) == (404, "NOT_FOUND")
            elif any(self.model[rid].status != "READY_FOR_EXPORT" for rid in ids):
                assert (code, error) == (422, "ACCOUNTING_RECORD_NOT_READY_FOR_EXPORT")
            else:
                assert code == 200 and got["updated_accounting_record_ids"] == ids, got
                live.steps[2] += 1
                for rid, ok in zip(ids, outcomes, strict=True):
                    record = self.model[rid]
                    record.status = "EXPORTED" if ok else "REVIEW"
                    record.export = "EXPORTED" if ok else "FAILED"
                    record.version += 1

        @invariant()
        def api_matches_model(self) -> None:
            code, page = self.call("GET", "/v3/accounting/records?limit=1000")
            assert code == 200
            seen = {
                r["id"]: (
                    r["review_status"],
                    r["version"],
                    r["memo"],
                    (r["export"] or {}).get("status"),
                )
                for r in page["items"]
            }
            expected = {
                rid: (r.status, r.version, r.memo, r.export) for rid, r in self.model.items()
            }
            assert seen == expected
            code, listed = self.call("GET", "/v3/accounting/integration")
            assert {i["integration_id"]: i["status"] for i in listed["items"]} == {
                iid: link.status for iid, link in self.links.items()
            }

        @invariant()
        def log_folds_to_the_projections(self) -> None:
            async def check() -> None:
                async with live.app[POOL].acquire() as conn:
                    streams = await conn.fetch(
                        "SELECT DISTINCT stream_id FROM events WHERE account_id = $1", self.account
                    )
                    await _check_projections(conn, self.account, {r["stream_id"] for r in streams})

            asyncio.run_coroutine_threadsafe(check(), live.loop).result(timeout=60)

    return Accounting


def run_model(live: Live, examples: int, steps: int) -> None:
    run_state_machine_as_test(
        machine(live),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    requests, runs, exports = live.steps
    FIGURES.append(
        f"model-based: {runs} runs, {requests} requests checked against the model "
        f"({exports} export batches accepted)"
    )


def test_api_follows_the_model(live: Live) -> None:
    run_model(live, examples=40, steps=25)


@pytest.mark.long
def test_api_follows_the_model_long(live: Live) -> None:
    run_model(live, examples=150, steps=40)
