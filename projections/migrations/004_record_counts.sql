-- How many records each account has in each review status and source type: the total of a
-- records page, without counting rows. Writers never update a count in place (that row
-- would serialize every writer of an account): each write appends its changes, which a
-- catch-up job folds into record_counts; a reader adds both, in one snapshot.
CREATE TABLE IF NOT EXISTS record_counts (
    account_id    text NOT NULL,
    review_status text NOT NULL,
    source_type   text NOT NULL,
    n             bigint NOT NULL,
    PRIMARY KEY (account_id, review_status, source_type)
);
CREATE TABLE IF NOT EXISTS record_count_changes (
    account_id    text NOT NULL,
    review_status text NOT NULL,
    source_type   text NOT NULL,
    delta         integer NOT NULL
);
CREATE INDEX IF NOT EXISTS record_count_changes_by_account ON record_count_changes (account_id);

-- The records already there, counted once.
INSERT INTO record_counts (account_id, review_status, source_type, n)
SELECT account_id, review_status, source_type, count(*) FROM record_state
GROUP BY account_id, review_status, source_type
ON CONFLICT DO NOTHING;
