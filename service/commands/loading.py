"""The read of a batch of commands: everything they decide against, in one statement.

Each command says what it needs (records, its account's integrations); the idempotency
keys come along; the database's clock gives the time every event of the batch is
recorded at (read after the state it follows was committed, so a stream's times never go
backwards). As each command is decided, its effect is laid over what was read, so the
next command of the batch sees it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain import integrations
from domain.integrations import STREAM_ID as INTEGRATIONS_STREAM
from domain.integrations import Integrations
from domain.records import RecordState
from eventstore.statement import Statement
from eventstore.store import StreamRow, stream_row, streams_read_part
from eventstore.types import Conn
from projections import records
from projections.integrations import fold_stream
from service.commands import idempotency

_NOW = """
SELECT 'now' AS kind, NULL AS account_id, NULL AS key, NULL::jsonb AS doc,
       clock_timestamp() AS at"""


@dataclass(frozen=True)
class Needs:
    account_id: str
    record_ids: Sequence[str] = ()
    integrations: bool = False


@dataclass
class Loaded:
    at: datetime
    records: dict[tuple[str, str], RecordState] = field(default_factory=dict)
    integrations: dict[str, Integrations] = field(default_factory=dict)
    keys: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def record(self, account_id: str, record_id: str) -> RecordState | None:
        return self.records.get((account_id, record_id))

    def integrations_of(self, account_id: str) -> Integrations:
        return self.integrations.get(account_id, Integrations())


async def load(conn: Conn, needs: Sequence[Needs], keys: Sequence[tuple[str, str]]) -> Loaded:
    stmt = Statement()
    parts = [_NOW]
    pairs = list(dict.fromkeys((n.account_id, r) for n in needs for r in n.record_ids))
    if pairs:
        parts.append(records.read_part(stmt, pairs))
    accounts = list(dict.fromkeys(n.account_id for n in needs if n.integrations))
    if accounts:
        parts.append(streams_read_part(stmt, accounts, INTEGRATIONS_STREAM))
    if keys:
        parts.append(idempotency.read_part(stmt, list(dict.fromkeys(keys))))
    rows = await conn.fetch(stmt.sql("\nUNION ALL\n".join(parts)), *stmt.args)
    streams: dict[str, list[StreamRow]] = defaultdict(list)
    loaded = Loaded(at=next(row["at"] for row in rows if row["kind"] == "now"))
    for row in rows:
        kind, account, key, doc = row["kind"], row["account_id"], row["key"], row["doc"]
        if kind == "record":
            loaded.records[(account, key)] = records.state_of(doc)
        elif kind == "event":
            streams[account].append(stream_row(account, key, doc, row["at"]))
        elif kind == "key":
            loaded.keys[(account, key)] = doc
    for account in accounts:
        loaded.integrations[account] = fold_stream(streams[account])
    return loaded


def folded(
    before: Integrations, events: Sequence[integrations.IntegrationEvent], at: datetime
) -> Integrations:
    state = before
    for event in events:
        state = integrations.evolve(state, event, at)
    return state
