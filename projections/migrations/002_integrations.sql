-- The account's integrations; at most one ACTIVE per account, enforced here too.
-- (Re-runnable: older databases hold it.)
CREATE TABLE IF NOT EXISTS integrations (
    account_id        text NOT NULL,
    integration_id    text NOT NULL,
    vendor            text NOT NULL,
    vendor_account_id text NOT NULL,
    status            text NOT NULL CHECK (status IN ('ACTIVE', 'DISABLED')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (account_id, integration_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS integrations_one_active
    ON integrations (account_id) WHERE status = 'ACTIVE';
