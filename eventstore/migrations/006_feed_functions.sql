-- The feeds' page reads. Each must walk its index in (tx, position) order and stop after
-- `max` rows. Left to itself, the planner guesses few rows after a cursor (a row
-- comparison and the snapshot's xmin have no useful statistics, none at all on a freshly
-- loaded table) and picks a bitmap scan and a sort, which reads every event after the
-- cursor for each page: quadratic over a log read from its start. Functions with these
-- settings cannot take that plan.
CREATE OR REPLACE FUNCTION events_after(after_tx xid8, after_position bigint, max integer)
RETURNS SETOF events LANGUAGE sql STABLE
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
    SELECT * FROM events
    WHERE (tx, position) > (after_tx, after_position)
      AND tx < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY tx, position
    LIMIT max
$$;

CREATE OR REPLACE FUNCTION account_events_after(
    account text, after_tx xid8, after_position bigint, max integer
)
RETURNS SETOF events LANGUAGE sql STABLE
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
    SELECT * FROM events
    WHERE account_id = account
      AND (tx, position) > (after_tx, after_position)
      AND tx < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY tx, position
    LIMIT max
$$;
