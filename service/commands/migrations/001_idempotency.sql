-- Idempotency-Key: per account, the outcome of the first request with a key (its result or
-- its refusal), written in the same transaction as the events it produced.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    account_id   text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS outcome jsonb;

-- Databases from before outcomes were kept stored the rendered answer (status, body): keep
-- it as the outcome {"answer": {...}}, which is replayed as it was.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'idempotency_keys'
                 AND column_name = 'body') THEN
        UPDATE idempotency_keys
        SET outcome = jsonb_build_object('answer', jsonb_build_object('status', status, 'body', body))
        WHERE outcome IS NULL AND status IS NOT NULL;
        ALTER TABLE idempotency_keys DROP COLUMN status, DROP COLUMN body;
    END IF;
END $$;
