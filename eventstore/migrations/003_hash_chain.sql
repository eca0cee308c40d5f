-- The per-stream hash chain (CONTRACT §6.2): hash = SHA-256(prev_hash ‖ canonical bytes),
-- computed in the append. Events stored before the chain get theirs in the next migration.
ALTER TABLE events ADD COLUMN IF NOT EXISTS prev_hash bytea;
ALTER TABLE events ADD COLUMN IF NOT EXISTS hash bytea;
