"""The few plain HTTP calls of a run: create the integration, time list pages."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

READY_PAGE = "/v3/accounting/records?review_status=READY_FOR_EXPORT&limit=100"
FIRST_PAGE = "/v3/accounting/records?limit=100"


class ApiError(RuntimeError):
    pass


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_integration(base: str, token: str) -> None:
    body = {"vendor": "ERP_A", "vendor_account_id": "ledger-bench"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(base + "/v3/accounting/integration", json=body, headers=_auth(token)) as answer,
    ):
        if answer.status != 200:
            raise ApiError(f"creating the integration: {answer.status} {await answer.text()}")


async def page_latencies(
    base: str, token: str, path: str, samples: int, warmup: int = 2
) -> tuple[list[float], int]:
    """Seconds per request of `samples` sequential GETs (after `warmup` untimed ones) on one
    kept-alive connection, and the page's total_count."""
    timings: list[float] = []
    body = b"{}"
    async with aiohttp.ClientSession(headers=_auth(token)) as http:
        for n in range(warmup + samples):
            start = time.perf_counter()
            async with http.get(base + path) as answer:
                body = await answer.read()
                if answer.status != 200:
                    raise ApiError(f"GET {path}: {answer.status} {body[:500]!r}")
            if n >= warmup:
                timings.append(time.perf_counter() - start)
    page: dict[str, Any] = json.loads(body)
    return timings, int(page["total_count"])
