-- Where each catch-up projector stands in the gap-safe feed. Written in the same
-- transaction as the projector's rows, so its effect is exactly once.
CREATE TABLE IF NOT EXISTS projector_checkpoints (
    projector  text PRIMARY KEY,
    tx         bigint NOT NULL DEFAULT 0,
    position   bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
