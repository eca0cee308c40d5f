-- A write statement that finds what it relied on has changed (a stream moved past its
-- expected version, a guarded row changed) raises this: the whole statement is undone, and
-- the writer decides again (SQLSTATE 40001, as for any serialization failure).
CREATE OR REPLACE FUNCTION concurrency_conflict(what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'concurrency conflict: %', what USING ERRCODE = '40001';
END $$;
