-- The transaction that last wrote each record's row: a paging cursor's snapshot tells from it
-- whether the row is the record as of that snapshot, or a later state to be re-folded.
ALTER TABLE record_state ADD COLUMN last_tx xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX record_state_by_last_tx ON record_state (account_id, last_tx);

-- Ids are ASCII; byte order makes (updated_at, record_id) the same order everywhere,
-- whatever the server's default collation.
ALTER TABLE record_state ALTER COLUMN record_id TYPE text COLLATE "C";

-- An event takes the time of its insert, not of its transaction's start: a stream's next
-- version is inserted only after the previous one committed, so its events' times never go
-- backwards, however long a transaction waited before appending.
ALTER TABLE events ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();
