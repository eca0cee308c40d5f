-- Tables for analysts (CONTRACT §6.3), kept from the gap-safe feed by the `analytics`
-- catch-up projector (projections.analytics), and the read-only `analyst` role.
-- Every key starts with account_id; money is numeric, never a float.
CREATE SCHEMA analytics;
COMMENT ON SCHEMA analytics IS
    'Read models for analysts, kept exactly once from the event log by the analytics projector';

CREATE TABLE analytics.export_attempts (
    account_id        text NOT NULL,
    record_id         text NOT NULL,
    version           integer NOT NULL,
    position          bigint NOT NULL,
    integration_id    text NOT NULL,
    vendor            text NOT NULL,
    vendor_account_id text NOT NULL,
    outcome           text NOT NULL CHECK (outcome IN ('EXPORTED', 'FAILED')),
    reference_id      text,
    error_message     text,
    error_code        text,
    reported_at       timestamptz NOT NULL,
    record_type       text NOT NULL,
    source_type       text NOT NULL,
    amount            numeric NOT NULL,
    currency          text NOT NULL,
    client_id         text,
    PRIMARY KEY (account_id, record_id, version)
);
CREATE INDEX export_attempts_by_time ON analytics.export_attempts (account_id, reported_at);
COMMENT ON TABLE analytics.export_attempts IS
    'One row per export outcome a connector reported; the record''s type and amount as they were then';
COMMENT ON COLUMN analytics.export_attempts.version IS 'The record''s version this report made';
COMMENT ON COLUMN analytics.export_attempts.position IS 'The event''s position in the log';
COMMENT ON COLUMN analytics.export_attempts.vendor IS 'The ERP the integration exports to';
COMMENT ON COLUMN analytics.export_attempts.error_code IS 'The ERP''s reason code, when the connector sent one';
COMMENT ON COLUMN analytics.export_attempts.client_id IS 'The connector that reported it';

CREATE TABLE analytics.daily_exports (
    account_id text NOT NULL,
    day        date NOT NULL,
    vendor     text NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('EXPORTED', 'FAILED')),
    currency   text NOT NULL,
    attempts   bigint NOT NULL,
    amount     numeric NOT NULL,
    PRIMARY KEY (account_id, day, vendor, outcome, currency)
);
COMMENT ON TABLE analytics.daily_exports IS
    'Export outcomes per UTC day, ERP vendor, outcome and currency: how many, and their amount';

CREATE TABLE analytics.record_lifecycle (
    account_id              text NOT NULL,
    record_id               text NOT NULL,
    created_at              timestamptz NOT NULL,
    ready_at                timestamptz,
    first_reported_at       timestamptz,
    exported_at             timestamptz,
    failed_attempts         integer NOT NULL,
    attempts_before_success integer,
    PRIMARY KEY (account_id, record_id)
);
COMMENT ON TABLE analytics.record_lifecycle IS 'When each record reached each stage';
COMMENT ON COLUMN analytics.record_lifecycle.ready_at IS 'First time it became READY_FOR_EXPORT';
COMMENT ON COLUMN analytics.record_lifecycle.first_reported_at IS
    'First export outcome reported for it, success or failure';
COMMENT ON COLUMN analytics.record_lifecycle.attempts_before_success IS
    'Failed reports before the successful one; null until exported';

CREATE TABLE analytics.records (
    account_id           text NOT NULL,
    record_id            text NOT NULL,
    version              integer NOT NULL,
    review_status        text NOT NULL,
    type                 text NOT NULL,
    source_type          text NOT NULL,
    source_id            text,
    amount               numeric NOT NULL,
    currency             text NOT NULL,
    original_amount      numeric,
    original_currency    text,
    erp_posting_date     timestamptz NOT NULL,
    posted_at            timestamptz NOT NULL,
    due_at               timestamptz,
    invoice_number       text,
    memo                 text,
    vendor_id            text,
    vendor_name          text,
    user_id              text,
    user_email           text,
    user_name            text,
    department_name      text,
    receipts             integer NOT NULL,
    updated_at           timestamptz NOT NULL,
    export_status        text,
    export_integration_id text,
    export_reference_id  text,
    export_error_message text,
    export_error_code    text,
    export_reported_at   timestamptz,
    PRIMARY KEY (account_id, record_id)
);
CREATE INDEX records_by_status ON analytics.records (account_id, review_status);
COMMENT ON TABLE analytics.records IS 'Each record as it is now, flattened';
COMMENT ON COLUMN analytics.records.vendor_name IS 'The merchant or supplier (not the ERP)';
COMMENT ON COLUMN analytics.records.receipts IS 'How many receipts it has';
COMMENT ON COLUMN analytics.records.export_status IS 'Last reported outcome: EXPORTED or FAILED';

CREATE TABLE analytics.record_line_items (
    account_id              text NOT NULL,
    record_id               text NOT NULL,
    line_number             integer NOT NULL,
    line_item_id            text NOT NULL,
    type                    text NOT NULL,
    amount                  numeric NOT NULL,
    currency                text NOT NULL,
    original_amount         numeric,
    original_currency       text,
    memo                    text,
    accounting_field_values jsonb NOT NULL,
    PRIMARY KEY (account_id, record_id, line_number)
);
COMMENT ON TABLE analytics.record_line_items IS 'The line items of each record as it is now';

-- The role is cluster-wide while this runs once per database: create it only if missing,
-- and only if we may (a service user without CREATEROLE leaves it to the DBA).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst')
       AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        CREATE ROLE analyst NOLOGIN;
        ALTER ROLE analyst SET default_transaction_read_only = on;
        ALTER ROLE analyst SET statement_timeout = '5min';
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- made meanwhile by the migration of another database on this cluster
END $$;

-- SELECT on this schema and nothing else: the event log, the idempotency keys and the
-- API's own projections are not granted.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN
        GRANT USAGE ON SCHEMA analytics TO analyst;
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO analyst;
        ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO analyst;
    ELSE
        RAISE NOTICE 'role analyst missing and not creatable here: analysts get no access';
    END IF;
END $$;
