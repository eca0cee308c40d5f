"""The HTTP edge as `serve` runs it (service.api.server.ServiceRunner): limits that fit the
contract, aiohttp's own refusals in the error envelope and logged as one line without the
request's bytes, headers that name no version and keep answers out of caches, and
connections that are closed when idle or half-sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from service.api.server import ServiceRunner
from tests.conftest import make_token
from tests.contract import ERROR_CODES
from tests.wire import RawAnswer, exchange, parse_answer, read_answer, request_bytes

MakeApp = Callable[..., web.Application]
TOKEN = "Bearer " + make_token("acct_edge")


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[tuple[str, int]]:
    runner = ServiceRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield "127.0.0.1", int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def assert_envelope(answer: RawAnswer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/json"), answer
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error_code", "message", "details"} and body["error_code"] in ERROR_CODES
    assert answer.headers["x-request-id"]
    assert answer.headers["server"] == "accounting-export"
    assert answer.headers["x-content-type-options"] == "nosniff"
    return body


async def test_a_query_with_the_contracts_500_longest_ids_is_answered(app_with: MakeApp) -> None:
    ids = [f"accr_{n:03d}" + "x" * 120 for n in range(500)]
    assert all(len(i) == 128 for i in ids)
    async with serving(app_with()) as (host, port), aiohttp.ClientSession() as session:
        url = f"http://{host}:{port}/v3/accounting/records"
        params = [("ids", i) for i in ids]
        async with session.get(url, params=params, headers={"Authorization": TOKEN}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["items"] == []
        params = [("ids[]", i) for i in ids] + [("ids", "accr_one_more")]
        async with session.get(url, params=params, headers={"Authorization": TOKEN}) as resp:
            assert resp.status == 400  # 501 ids: the contract's bound, in the envelope


SECRET_BYTES = b"tok-3f9a-in-a-broken-request"
MALFORMED = {
    "request line too long": request_bytes("GET", "/v3/accounting/records?x=" + "a" * 140_000, {}),
    "header too long": request_bytes("GET", "/healthz", {"X-Big": "b" * 20_000}),
    "not a method": b"G\x01T / HTTP/1.1\r\nHost: x\r\nAuthorization: " + SECRET_BYTES + b"\r\n\r\n",
    "a control byte in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01"
    + SECRET_BYTES
    + b"\r\n\r\n",
    "a bad Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + SECRET_BYTES + b"\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_what_the_parser_refuses_gets_the_envelope_and_one_clean_log_line(
    app_with: MakeApp, name: str
) -> None:
    async with serving(app_with()) as (host, port):
        with structlog.testing.capture_logs() as logs:
            answer = await exchange(host, port, MALFORMED[name])
    body = assert_envelope(answer, 400)
    assert body["details"]["field"] == "http"
    refused = [entry for entry in logs if entry["event"] == "http request refused"]
    assert len(refused) == 1, logs
    assert SECRET_BYTES.decode() not in repr(logs)
    assert refused[0]["request_id"] == answer.headers["x-request-id"]


async def test_a_chunked_body_that_breaks_off_is_a_400_envelope(app_with: MakeApp) -> None:
    head = request_bytes("POST", "/v3/accounting/integration", {"Authorization": TOKEN})
    head = head.replace(
        b"Content-Length: 0", b"Transfer-Encoding: chunked\r\nContent-Type: application/json"
    )
    async with serving(app_with()) as (host, port):
        answer = await exchange(host, port, head + b'5\r\n{"ven\r\nzz\r\n')
    assert_envelope(answer, 400)


async def test_authenticated_answers_are_neither_cached_nor_sniffed(app_with: MakeApp) -> None:
    async with serving(app_with()) as (host, port):
        for target, auth, status in [
            ("/v3/accounting/records", TOKEN, 200),
            ("/v3/accounting/records", "Bearer x", 401),
            ("/v3/nowhere", TOKEN, 404),
        ]:
            data = request_bytes("GET", target, {"Authorization": auth})
            answer = await exchange(host, port, data)
            assert answer.status == status
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["server"] == "accounting-export"  # no versions


async def test_metrics_need_the_metrics_scope(app_with: MakeApp) -> None:
    async with serving(app_with()) as (host, port):
        anonymous = await exchange(host, port, request_bytes("GET", "/metrics", {}))
        assert_envelope(anonymous, 401)
        other = "Bearer " + make_token("acct_edge", ["accounting.record.read"])
        refused = await exchange(
            host, port, request_bytes("GET", "/metrics", {"Authorization": other})
        )
        assert_envelope(refused, 403)
        allowed = "Bearer " + make_token("acct_edge", ["accounting.metrics.read"])
        scraped = await exchange(
            host, port, request_bytes("GET", "/metrics", {"Authorization": allowed})
        )
        assert scraped.status == 200 and b"http_requests_total" in scraped.body


async def closed_after(host: str, port: int, trickle: bytes | None) -> float:
    """Seconds until the server closes a connection that sends `trickle` a byte every 0.1 s
    (None: sends nothing)."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()

    async def dribble() -> None:
        for byte in trickle or b"":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(dribble())
    try:
        async with asyncio.timeout(10):
            rest = await reader.read()
        return time.monotonic() - started if rest == b"" or parse_answer(rest) else 0.0
    finally:
        sender.cancel()
        writer.close()


async def test_idle_and_half_sent_connections_are_closed(app_with: MakeApp) -> None:
    async with serving(app_with(http_idle_timeout=0.5)) as (host, port):
        assert 0.4 < await closed_after(host, port, None) < 3
        slowloris = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200
        assert 0.4 < await closed_after(host, port, slowloris) < 3
        # After an answer, a kept-alive connection that stays idle is closed too.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await reader.readuntil(b'"ok"}')
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        assert time.monotonic() - started < 3
        writer.close()


async def test_a_body_sent_too_slowly_is_cut_off_by_the_request_timeout(app_with: MakeApp) -> None:
    async with serving(app_with(request_timeout=0.5, http_idle_timeout=5)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        head = request_bytes(
            "POST",
            "/v3/accounting/integration",
            {"Authorization": TOKEN, "Content-Type": "application/json"},
        )
        writer.write(head.replace(b"Content-Length: 0", b"Content-Length: 100") + b"{")
        started = time.monotonic()
        answer = await asyncio.wait_for(read_answer(reader), 10)
        waited = time.monotonic() - started
        # The rest of the body is not waited for long: the connection ends soon after.
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
    assert 0.4 < waited < 3
    assert_envelope(answer, 503)
    assert answer.headers["retry-after"] == "1"
