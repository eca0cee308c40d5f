-- Inline projections: written in the same transaction as the events they fold.

-- Current state of every accounting record; the API reads records from here.
CREATE TABLE record_state (
    account_id    text NOT NULL,
    record_id     text NOT NULL,
    version       integer NOT NULL,
    review_status text NOT NULL,
    source_type   text NOT NULL,
    type          text NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- The transaction that created the row: pagination hides rows newer than its horizon.
    created_tx    xid8 NOT NULL DEFAULT pg_current_xact_id(),
    state         jsonb NOT NULL,
    PRIMARY KEY (account_id, record_id)
);
CREATE INDEX record_state_by_update ON record_state (account_id, updated_at, record_id);
CREATE INDEX record_state_by_status ON record_state (account_id, review_status, updated_at, record_id);

-- The account's integrations; at most one ACTIVE per account, enforced here too.
CREATE TABLE integrations (
    account_id        text NOT NULL,
    integration_id    text NOT NULL,
    vendor            text NOT NULL,
    vendor_account_id text NOT NULL,
    status            text NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (account_id, integration_id)
);
CREATE UNIQUE INDEX integrations_one_active ON integrations (account_id) WHERE status = 'ACTIVE';

-- Idempotency-Key: the stored answer of the first request with a key, per account.
CREATE TABLE idempotency_keys (
    account_id   text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
