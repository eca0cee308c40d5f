-- Current state of every accounting record; the API reads records from here. Written in
-- the same transaction as the events it folds. (Re-runnable: older databases hold it.)
CREATE TABLE IF NOT EXISTS record_state (
    account_id    text NOT NULL,
    -- Ids are ASCII; byte order makes (updated_at, record_id) the same order everywhere,
    -- whatever the server's default collation.
    record_id     text COLLATE "C" NOT NULL,
    version       integer NOT NULL,
    review_status text NOT NULL,
    source_type   text NOT NULL,
    type          text NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- The transaction that created the row, and the one that last wrote it: a paging
    -- cursor's snapshot tells from them whether the row is the record as of that snapshot,
    -- or a later state to be re-folded (projections.record_query).
    created_tx    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    last_tx       xid8 NOT NULL DEFAULT pg_current_xact_id(),
    state         jsonb NOT NULL,
    PRIMARY KEY (account_id, record_id)
);
CREATE INDEX IF NOT EXISTS record_state_by_update
    ON record_state (account_id, updated_at, record_id);
CREATE INDEX IF NOT EXISTS record_state_by_status
    ON record_state (account_id, review_status, updated_at, record_id);
CREATE INDEX IF NOT EXISTS record_state_by_last_tx ON record_state (account_id, last_tx);
