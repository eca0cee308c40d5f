"""Ids: server-made ones (a prefix and 96 random bits: not guessable, not sequential), and
the rule for the record ids the platform chooses."""

from __future__ import annotations

import secrets

RECORD_ID_PREFIX = "accr_"
RECORD_ID_MAX = 128
RECORD_ID_RULE = f"must start with {RECORD_ID_PREFIX} and be at most {RECORD_ID_MAX} characters"


def new_integration_id() -> str:
    return "int_" + secrets.token_hex(12)


def is_record_id(value: object) -> bool:
    """Whether `value` may name a record the platform creates."""
    return (
        isinstance(value, str)
        and value.startswith(RECORD_ID_PREFIX)
        and len(value) <= RECORD_ID_MAX
    )
