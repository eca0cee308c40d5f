-- The account logs (CONTRACT §6.2): a Merkle tree per account over its events' hashes, in
-- feed order. Only the sealer writes these tables. A complete subtree never changes, so
-- the tree grows by appending rows.
CREATE TABLE IF NOT EXISTS audit_trees (
    account_id text PRIMARY KEY,
    size       bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Which event is which leaf.
CREATE TABLE IF NOT EXISTS audit_leaves (
    account_id text NOT NULL,
    leaf_index bigint NOT NULL,
    position   bigint NOT NULL,
    PRIMARY KEY (account_id, leaf_index),
    UNIQUE (account_id, position)
);
-- The hash of every complete subtree: (level, node_index) covers leaves
-- [node_index * 2^level, (node_index + 1) * 2^level); level 0 holds the leaf hashes.
CREATE TABLE IF NOT EXISTS audit_nodes (
    account_id text NOT NULL,
    level      smallint NOT NULL,
    node_index bigint NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (account_id, level, node_index)
);
-- Signed checkpoints: C2SP tlog-checkpoint text in a C2SP signed note (Ed25519).
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    account_id text NOT NULL,
    tree_size  bigint NOT NULL CHECK (tree_size > 0),
    root_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    note       text NOT NULL,
    PRIMARY KEY (account_id, tree_size)
);
