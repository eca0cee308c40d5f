"""Tamper evidence: the account log's Merkle tree and its signed checkpoints."""
