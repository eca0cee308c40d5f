"""Give the events stored before the hash chain their links, once, stream by stream in
version order, from their stored bytes (the same canonical form the append hashes), then
make the chain mandatory. The append-only trigger is lifted for this one transaction."""

from __future__ import annotations

from eventstore.canonical import GENESIS, canonical_row, chain_hash
from eventstore.types import Conn

_UNCHAINED = """
SELECT position, account_id, stream_id, version, type, schema_version, data, metadata,
       recorded_at
FROM events WHERE hash IS NULL
ORDER BY account_id, stream_id, version
"""
_LINK = """
UPDATE events SET prev_hash = l.prev_hash, hash = l.hash
FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[]) AS l(account_id, position,
                                                                     prev_hash, hash)
WHERE events.account_id = l.account_id AND events.position = l.position
"""
_BATCH = 2000


async def migrate(conn: Conn) -> None:
    await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update")
    stream: tuple[str, str] | None = None
    prev = GENESIS
    batch: list[tuple[str, int, bytes, bytes]] = []
    async for row in conn.cursor(_UNCHAINED, prefetch=_BATCH):
        if (row["account_id"], row["stream_id"]) != stream:
            stream, prev = (row["account_id"], row["stream_id"]), GENESIS
        link = chain_hash(prev, canonical_row(row))
        batch.append((row["account_id"], row["position"], prev, link))
        prev = link
        if len(batch) >= _BATCH:
            await _write(conn, batch)
    await _write(conn, batch)
    await conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update")
    await conn.execute(
        """ALTER TABLE events ALTER COLUMN prev_hash SET NOT NULL,
                              ALTER COLUMN hash SET NOT NULL,
                              ADD CONSTRAINT events_hash_size
                                  CHECK (length(hash) = 32 AND length(prev_hash) = 32)"""
    )


async def _write(conn: Conn, batch: list[tuple[str, int, bytes, bytes]]) -> None:
    if batch:
        await conn.execute(_LINK, *(list(column) for column in zip(*batch, strict=True)))
        batch.clear()
