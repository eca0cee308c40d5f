"""Who runs a command: the tenant, the client, and what their events record about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    account_id: str
    client_id: str
    request_id: str
    idempotency_key: str | None = None

    def metadata(self) -> dict[str, Any]:
        """What every event the caller causes records in its metadata."""
        meta = {"client_id": self.client_id, "request_id": self.request_id}
        if self.idempotency_key:
            meta["idempotency_key"] = self.idempotency_key
        return meta
