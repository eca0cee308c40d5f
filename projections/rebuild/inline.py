"""The inline projections (`record_state`, `integrations`) as functions of whole streams, for
rebuilding and verifying them: the same folds as the append transaction's (projections.records,
projections.integrations), written into tables being built beside the live ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from domain import integrations
from domain.integrations import INTEGRATION_EVENTS, Integrations
from domain.records import RECORD_EVENTS
from eventstore.streams import Stream
from eventstore.types import Conn
from projections import record_counts
from projections.codecs import INTEGRATIONS
from projections.records import fold_records
from projections.stream_projection import fold_each
from projections.tables import Jsonb, Table, Xid8


class RecordStateRow(NamedTuple):
    account_id: str
    record_id: str
    version: int
    review_status: str
    source_type: str
    type: str
    updated_at: datetime
    # The transactions of the record's first and latest events: what the row's own writes
    # would have stamped, so that a paging cursor's snapshot judges a rebuilt row as it
    # judged the live one (projections.record_query).
    created_tx: Xid8
    last_tx: Xid8
    state: Jsonb


class IntegrationRow(NamedTuple):
    account_id: str
    integration_id: str
    vendor: str
    vendor_account_id: str
    status: str
    created_at: datetime
    updated_at: datetime


RECORD_STATE = Table("record_state", RecordStateRow, ("account_id", "record_id"))
INTEGRATION_ROWS = Table("integrations", IntegrationRow, ("account_id", "integration_id"))


def record_state_row(stream: Stream) -> RecordStateRow:
    state = fold_records(stream)
    assert state is not None, "a record stream starts with RecordCreated"
    return RecordStateRow(
        account_id=stream[0].account_id,
        record_id=state.id,
        version=state.version,
        review_status=state.review_status.value,
        source_type=state.content.source_type.value,
        type=state.content.type.value,
        updated_at=state.updated_at,
        created_tx=stream[0].tx,
        last_tx=stream[-1].tx,
        state=state.model_dump(mode="python"),
    )


def integration_rows(stream: Stream) -> list[IntegrationRow]:
    """The account's integrations, each updated when an event last changed it."""
    state, changed_at = Integrations(), dict[str, datetime]()
    for stored in stream:
        after = integrations.evolve(state, INTEGRATIONS.decode(stored), stored.recorded_at)
        for item in after.items:
            if item not in state.items:
                changed_at[item.integration_id] = stored.recorded_at
        state = after
    account = stream[0].account_id
    return [
        IntegrationRow(
            account,
            i.integration_id,
            i.vendor,
            i.vendor_account_id,
            i.status,
            i.created_at,
            changed_at[i.integration_id],
        )
        for i in state.items
    ]


class RecordStateProjection:
    name = "record_state"
    schema = None
    tables: tuple[Table, ...] = (RECORD_STATE,)
    event_types = frozenset(model.__name__ for model in RECORD_EVENTS)
    kept_by_projector = False

    def versions_query(self, schema: str) -> str:
        return f"SELECT account_id, record_id AS stream_id, version FROM {RECORD_STATE.at(schema)}"

    async def swapped(self, conn: Conn) -> None:
        await record_counts.recount(conn)  # the counts of the records now in place

    async def project(
        self, conn: Conn, schema: str, streams: Sequence[Stream], *, fresh: bool
    ) -> None:
        rows = await fold_each(streams, record_state_row)
        if fresh:
            await RECORD_STATE.copy(conn, schema, rows)
        else:
            newer = "WHERE record_state.version < EXCLUDED.version"
            await RECORD_STATE.insert(conn, schema, rows, RECORD_STATE.replace_all(newer))


class IntegrationsProjection:
    name = "integrations"
    schema = None
    tables: tuple[Table, ...] = (INTEGRATION_ROWS,)
    event_types = frozenset(model.__name__ for model in INTEGRATION_EVENTS)
    kept_by_projector = False

    def versions_query(self, schema: str) -> None:
        return None

    async def swapped(self, conn: Conn) -> None:
        return None

    async def project(
        self, conn: Conn, schema: str, streams: Sequence[Stream], *, fresh: bool
    ) -> None:
        rows = [row for rows in await fold_each(streams, integration_rows) for row in rows]
        if not fresh:  # an account's rows are its whole stream's fold: replace them
            accounts = [(stream[0].account_id,) for stream in streams]
            await INTEGRATION_ROWS.delete(conn, schema, ("account_id",), accounts)
        await INTEGRATION_ROWS.copy(conn, schema, rows)
