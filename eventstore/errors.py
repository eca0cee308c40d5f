"""Typed failures of the event store (never a raw driver error)."""

from __future__ import annotations


class EventStoreError(Exception):
    """Base of every error the event store raises on purpose."""


class ConcurrencyConflict(EventStoreError):
    """Another writer appended to a stream after the expected version was read."""

    def __init__(self, streams: list[tuple[str, str]], reason: str) -> None:
        self.streams = streams
        names = ", ".join(f"{account}/{stream}" for account, stream in streams) or "unknown"
        super().__init__(f"concurrency conflict on {names}: {reason}")


class InvalidCursor(EventStoreError):
    """A feed cursor that this store did not produce."""
