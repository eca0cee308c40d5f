"""Who signs the account logs' checkpoints: one Ed25519 key under one key name, each
account's log named by its own origin line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.audit.notes import (
    Verifier,
    format_checkpoint,
    generate_key,
    private_key_from_pem,
    private_key_to_pem,
    sign_note,
    verifier_key,
)


@dataclass(frozen=True)
class Signer:
    key_name: str  # e.g. a host name: no spaces, no "+"
    private_key: Ed25519PrivateKey

    def origin(self, account_id: str) -> str:
        """The log's name in its checkpoints: one log per account."""
        return f"{self.key_name}/{quote(account_id, safe='')}"

    def checkpoint(self, account_id: str, size: int, root: bytes) -> str:
        """The signed note of the account log's checkpoint at `size` leaves."""
        text = format_checkpoint(self.origin(account_id), size, root)
        return sign_note(text, self.key_name, self.private_key)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.key_name, self.private_key.public_key())

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.key_name, self.private_key.public_key())


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The PEM key at `path`, generated (readable by the owner only) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_bytes(private_key_to_pem(generate_key()))
    return private_key_from_pem(path.read_bytes())
