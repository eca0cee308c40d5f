"""What a test's clients sent and got back, request by request, to be checked against the
event log afterwards. Every request carries an Idempotency-Key, which its events record in
their metadata: that ties each event to the request that caused it."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.factories import record_body

EXPORT = "/v3/accounting/records/export-results"


@dataclass
class Sent:
    key: str
    method: str
    path: str
    body: Any
    outcomes: dict[str, str]  # record id -> the event type an export should write
    status: int | None = None  # None: no answer came back (the connection died)
    statuses: list[int | None] = field(default_factory=list)  # of every try
    answer: Any = None
    tries: int = 0

    @property
    def is_export(self) -> bool:
        return self.path == EXPORT


@dataclass
class Journal:
    base: str
    headers: dict[str, str]
    sent: dict[str, Sent] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"k{random.randrange(10**9)}-")
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def new(
        self, method: str, path: str, body: Any, outcomes: dict[str, str] | None = None
    ) -> Sent:
        sent = Sent(f"{self.prefix}{next(self._numbers)}", method, path, body, outcomes or {})
        self.sent[sent.key] = sent
        return sent

    async def send(self, session: aiohttp.ClientSession, sent: Sent, wait: float = 30) -> Sent:
        sent.tries += 1
        headers = self.headers | {"Idempotency-Key": sent.key}
        try:
            async with session.request(
                sent.method,
                self.base + sent.path,
                json=sent.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=wait),
            ) as resp:
                sent.answer = await resp.json()
                sent.status = resp.status
        except (TimeoutError, aiohttp.ClientError):
            sent.status, sent.answer = None, None
        sent.statuses.append(sent.status)
        return sent

    def in_doubt(self) -> list[Sent]:
        """Requests whose outcome the client cannot know: no answer, or 503 (the database
        went away, maybe after it committed)."""
        return [s for s in self.sent.values() if s.status in (None, 503)]

    def acknowledged_exports(self) -> list[Sent]:
        return [s for s in self.sent.values() if s.is_export and s.status == 200]


def export_item(record_id: str, success: bool) -> tuple[dict[str, Any], str]:
    if success:
        return {"accounting_record_id": record_id, "success": {"reference_id": "je"}}, (
            "ExportSucceeded"
        )
    return {"accounting_record_id": record_id, "failure": {"error_message": "closed"}}, (
        "ExportFailed"
    )


@dataclass
class Ledger:
    """What the clients believe about the records, to pick plausible requests."""

    ready: set[str] = field(default_factory=set)
    review: set[str] = field(default_factory=set)


async def _back_off(sent: Sent) -> None:
    """After a 503 (or no answer) a client waits a little, as Retry-After asks."""
    if sent.status in (None, 503):
        await asyncio.sleep(0.25)


async def connector(
    session: aiohttp.ClientSession, journal: Journal, ledger: Ledger, rng: random.Random
) -> None:
    """Report random batches of outcomes on records believed ready, until cancelled;
    batches of several connectors overlap."""
    while True:
        pool = sorted(ledger.ready)
        if not pool:
            await asyncio.sleep(0.01)
            continue
        batch = rng.sample(pool, k=min(len(pool), rng.randint(1, 6)))
        items = [export_item(rid, rng.random() < 0.7) for rid in batch]
        sent = journal.new(
            "POST",
            EXPORT,
            {"results": [item for item, _ in items]},
            dict(zip(batch, (t for _, t in items), strict=True)),
        )
        await journal.send(session, sent)
        await _back_off(sent)
        if sent.status == 200:
            for rid, kind in sent.outcomes.items():
                ledger.ready.discard(rid)
                if kind == "ExportFailed":
                    ledger.review.add(rid)


async def platform(
    session: aiohttp.ClientSession, journal: Journal, ledger: Ledger, rng: random.Random
) -> None:
    """Send records back to READY_FOR_EXPORT after a failure, and create new ones."""
    while True:
        if ledger.review and rng.random() < 0.7:
            rid = rng.choice(sorted(ledger.review))
            path = f"/internal/accounting/records/{rid}/review-status"
            sent = await journal.send(
                session, journal.new("POST", path, {"review_status": "READY_FOR_EXPORT"})
            )
            if sent.status == 200:
                ledger.review.discard(rid)
                ledger.ready.add(rid)
        else:
            rid = f"accr_live{rng.randrange(10**12):012d}"
            body = record_body(review_status="READY_FOR_EXPORT", memo=f"m{rng.random()}")
            sent = await journal.send(
                session, journal.new("PUT", f"/internal/accounting/records/{rid}", body)
            )
            if sent.status == 201:
                ledger.ready.add(rid)
        await asyncio.sleep(0)


async def setup_account(session: aiohttp.ClientSession, journal: Journal, records: int) -> Ledger:
    """An ACTIVE integration and `records` records READY_FOR_EXPORT, through the journal."""
    body = {"vendor": "ERP_A", "vendor_account_id": "ledger-1"}
    sent = await journal.send(session, journal.new("POST", "/v3/accounting/integration", body))
    assert sent.status == 200, sent.answer
    ledger = Ledger()
    for n in range(records):
        rid = f"accr_seed{n:06d}{journal.prefix.strip('-')}"
        body = record_body(review_status="READY_FOR_EXPORT")
        sent = await journal.send(
            session, journal.new("PUT", f"/internal/accounting/records/{rid}", body)
        )
        assert sent.status == 201, sent.answer
        ledger.ready.add(rid)
    return ledger
