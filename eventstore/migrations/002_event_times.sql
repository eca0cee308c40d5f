-- An event takes the time of its insert, not of its transaction's start: a stream's next
-- version is inserted only after the previous one committed, so its events' times never go
-- backwards, however long a transaction waited before appending.
ALTER TABLE events ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();
