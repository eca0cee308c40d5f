"""Every non-2xx answer is the contract's envelope and carries X-Request-Id."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.api import Client, count_events, create_integration, export, fail, ok, ready_records
from tests.contract import ERROR_CODES
from tests.factories import record_body


async def envelope(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status
    assert resp.content_type == "application/json"
    assert resp.headers["X-Request-Id"]
    body: dict[str, Any] = await resp.json()
    assert set(body) == {"error_code", "message", "details"}
    assert body["error_code"] == code
    assert body["error_code"] in ERROR_CODES
    assert isinstance(body["message"], str) and body["message"]
    return body


async def test_unknown_path_is_404(client: Client) -> None:
    await envelope(await client.get("/v3/nothing-here"), 404, "NOT_FOUND")


async def test_wrong_method_is_405(client: Client, auth: dict[str, str]) -> None:
    resp = await client.delete("/v3/accounting/integration", headers=auth)
    await envelope(resp, 405, "INVALID_REQUEST")
    assert "POST" in resp.headers["Allow"]


async def test_body_too_large_is_413(client: Client, auth: dict[str, str]) -> None:
    big = b'{"results": [' + b'{"accounting_record_id": "accr_x", "success": {}},' * 30_000 + b"]}"
    resp = await client.post(
        "/v3/accounting/records/export-results",
        data=big,
        headers=auth | {"Content-Type": "application/json"},
    )
    await envelope(resp, 413, "INVALID_REQUEST")


async def test_malformed_json_and_empty_body_are_400(client: Client, auth: dict[str, str]) -> None:
    for data in (b"{not json", b"", b'{"amount": NaN}'):
        resp = await client.post(
            "/v3/accounting/integration",
            data=data,
            headers=auth | {"Content-Type": "application/json"},
        )
        body = await envelope(resp, 400, "INVALID_REQUEST")
        assert body["details"]["field"] == "body"


async def test_unhandled_error_is_a_bare_500(aiohttp_client: Any, app: web.Application) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("SELECT secret FROM internals")

    app.router.add_get("/boom", boom)
    client: TestClient = await aiohttp_client(app)  # type: ignore[type-arg]
    resp = await client.get("/boom", headers={"X-Request-Id": "trace-me-123"})
    body = await envelope(resp, 500, "INTERNAL_ERROR")
    assert resp.headers["X-Request-Id"] == "trace-me-123"
    text = str(body)
    assert "SELECT" not in text and "Traceback" not in text and "RuntimeError" not in text


async def test_request_id_is_made_when_absent_and_returned_on_success(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert len(resp.headers["X-Request-Id"]) >= 16


async def test_readiness_checks_the_database(client: Client) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ready"
    assert "analytics" in body["projectors"]  # and how far behind each one is


async def test_metrics_count_requests_and_export_outcomes(
    client: Client, auth: dict[str, str]
) -> None:
    def sample(text: str, prefix: str) -> float:
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    before = await (await client.get("/metrics", headers=auth)).text()
    await create_integration(client, auth)
    good, bad = await ready_records(client, auth, 2)
    assert (await export(client, auth, [ok(good), fail(bad)]))[0] == 200
    after = await (await client.get("/metrics", headers=auth)).text()
    success = 'export_results_recorded_total{outcome="ExportSuccess"}'
    failure = 'export_results_recorded_total{outcome="ExportFailure"}'
    assert sample(after, success) == sample(before, success) + 1
    assert sample(after, failure) == sample(before, failure) + 1
    route = (
        'http_requests_total{method="POST",'
        'route="/v3/accounting/records/export-results",status="200"}'
    )
    assert sample(after, route) >= 1


async def test_nul_characters_are_refused_as_bad_requests(
    client: Client, auth: dict[str, str], account: str
) -> None:
    """PostgreSQL text cannot hold U+0000: wherever it comes in, the answer is 400 naming
    the place, and nothing is written."""
    json_headers = auth | {"Content-Type": "application/json"}

    async def refused(resp: Any, field: str) -> None:
        body = await envelope(resp, 400, "INVALID_REQUEST")
        assert body["details"]["field"] == field

    bad_vendor = b'{"vendor": "ERP_\\u0000A", "vendor_account_id": "l1"}'
    await refused(
        await client.post("/v3/accounting/integration", data=bad_vendor, headers=json_headers),
        "vendor",
    )
    await create_integration(client, auth)
    (rid,) = await ready_records(client, auth, 1)
    before = await count_events(client, account)
    for item, field in (
        (
            '{"accounting_record_id": "accr_\\u0000", "success": {}}',
            "results.0.accounting_record_id",
        ),
        (
            f'{{"accounting_record_id": "{rid}", "failure": {{"error_message": "a\\u0000"}}}}',
            "results.0.failure.error_message",
        ),
        (
            f'{{"accounting_record_id": "{rid}", "success": {{"reference_id": "r\\u0000"}}}}',
            "results.0.success.reference_id",
        ),
        (
            f'{{"accounting_record_id": "{rid}", "success": {{}}, "note\\u0000": 1}}',
            "results.0.note\x00",
        ),
    ):
        resp = await client.post(
            "/v3/accounting/records/export-results",
            data=f'{{"results": [{item}]}}'.encode(),
            headers=json_headers,
        )
        await refused(resp, field)
    resp = await client.put(
        f"/internal/accounting/records/{rid}",
        data=json.dumps(record_body(memo="lunch\x00")).encode(),
        headers=json_headers,
    )
    await refused(resp, "memo")
    for path in (f"/v3/accounting/records/{rid}%00", "/v3/accounting/records?ids=accr_a%00b"):
        await refused(await client.get(path, headers=auth), "url")
    assert await count_events(client, account) == before
    record = await (await client.get(f"/v3/accounting/records/{rid}", headers=auth)).json()
    assert record["review_status"] == "READY_FOR_EXPORT"


async def test_only_plain_request_ids_are_kept(client: Client) -> None:
    kept = await client.get("/healthz", headers={"X-Request-Id": "trace-42.a:b_c"})
    assert kept.headers["X-Request-Id"] == "trace-42.a:b_c"
    for odd in ("two words", "x" * 129, 'quote"d', "tab\there"):
        resp = await client.get("/healthz", headers={"X-Request-Id": odd})
        assert resp.headers["X-Request-Id"] != odd
        assert len(resp.headers["X-Request-Id"]) == 32
