-- The event log: append-only, one row per fact.
CREATE TABLE events (
    position       bigint GENERATED ALWAYS AS IDENTITY,
    tx             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid NOT NULL,
    account_id     text NOT NULL,
    stream_id      text NOT NULL,
    version        integer NOT NULL CHECK (version > 0),
    type           text NOT NULL,
    schema_version integer NOT NULL DEFAULT 1,
    data           jsonb NOT NULL,
    metadata       jsonb NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, position),
    UNIQUE (account_id, stream_id, version),
    UNIQUE (event_id)
);

-- Gap-safe global and per-account feeds read in commit-horizon order.
CREATE INDEX events_feed ON events (tx, position);
CREATE INDEX events_account_feed ON events (account_id, tx, position);

-- The log is never updated or deleted in place.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
