"""Projections whose rows are a function of whole streams, and the catch-up projector that
keeps one from the feed.

The feed gives events in commit order, which is not always a stream's version order: a
transaction that took its id early can commit version 4 of a record after another commits
version 3, and a page of the feed can end between them. So a projector never folds the
events a page brings on their own: it reads each stream the page touched, whole and as
committed now, and folds it from version 1 with the domain's `evolve`. What it has already
folded of a stream (the version it stored) tells which of the stream's events are new;
an event that arrives after its stream was folded past it changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from eventstore.streams import Stream, read_streams
from eventstore.types import Conn, FeedEntry
from projections.tables import Table

T = TypeVar("T")
_STREAMS_PER_TURN = 50


class StreamProjection(Protocol):
    name: str
    tables: tuple[Table, ...]
    event_types: frozenset[str]  # the kinds of stream it folds, by their events' types
    kept_by_projector: bool  # by a catch-up projector, or in the append's own transaction

    @property
    def schema(self) -> str | None:
        """Where its live tables are; None: the connection's current schema."""
        ...

    async def project(
        self, conn: Conn, schema: str, streams: Sequence[Stream], *, fresh: bool
    ) -> None:
        """Write what `streams` (each whole from version 1) make into the tables in
        `schema`. `fresh`: the tables are being built and hold none of these streams yet."""
        ...

    def versions_query(self, schema: str) -> str | None:
        """SQL giving (account_id, stream_id, version) for each stream folded into the
        tables in `schema`; None when the tables do not keep a stream's version."""
        ...

    async def swapped(self, conn: Conn) -> None:
        """Right after a rebuild swapped the tables in, in the swap's transaction."""
        ...


async def fold_each(streams: Sequence[Stream], fold: Callable[[Stream], T]) -> list[T]:
    """`fold` of every stream, giving the event loop a turn every few streams: a projector
    runs inside the service, whose requests must not wait for a whole batch to be folded."""
    folded = []
    for n, stream in enumerate(streams, start=1):
        folded.append(fold(stream))
        if n % _STREAMS_PER_TURN == 0:
            await asyncio.sleep(0)
    return folded


async def live_schema(conn: Conn, projection: StreamProjection) -> str:
    return projection.schema or str(await conn.fetchval("SELECT current_schema()"))


def touched(projection: StreamProjection, events: Sequence[FeedEntry]) -> set[tuple[str, str]]:
    return {(e.account_id, e.stream_id) for e in events if e.type in projection.event_types}


@dataclass
class StreamProjector:
    """A catch-up projector (projections.catchup) that keeps `projection` in `schema`."""

    projection: StreamProjection
    schema: str
    name: str

    async def apply(self, conn: Conn, events: Sequence[FeedEntry]) -> None:
        streams = await read_streams(conn, touched(self.projection, events))
        if streams:
            await self.projection.project(conn, self.schema, streams, fresh=False)

    async def tick(self, conn: Conn) -> None:
        return None
