"""Ids the server makes: a prefix and 96 random bits (not guessable, not sequential)."""

from __future__ import annotations

import secrets


def new_integration_id() -> str:
    return "int_" + secrets.token_hex(12)
