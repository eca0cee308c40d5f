"""Canonical bytes of an event and the per-stream hash chain (CONTRACT §6.2).

An event's canonical bytes are the UTF-8 of one JSON object with exactly the keys
`account_id, data, metadata, recorded_at, schema_version, stream_id, type, version`:
keys sorted by code point at every depth, no whitespace, non-ASCII written as itself,
strings escaped as Python's `json.dumps(s, ensure_ascii=False)` escapes them,
integers as plain digits, decimals in plain positional notation, `recorded_at` as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC. Floats are refused: money is never binary.

Why numbers are normalized: `data` and `metadata` are stored as jsonb, which keeps
every JSON number as PostgreSQL `numeric` and prints it back in positional notation
without an exponent, keeping the scale (`1E+2` reads back as `100`, `1E-7` as
`0.0000001`, `100.50` as `100.50`, `-0.00` as `0.00`). The hash covers the stored
bytes, so the canonical text of a number is what `numeric` prints, and the service
sends `normalize_numbers(data)` so that what it hashed is exactly what it reads back.

The chain: `hash = SHA-256(prev_hash ‖ canonical bytes)`, `prev_hash` being the hash
of the previous version of the same stream, or `GENESIS` (32 zero bytes) at version 1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Protocol, TypeVar, cast

import orjson

GENESIS: Final = bytes(32)
HASH_SIZE: Final = 32

J = TypeVar("J")


def canonical_json(value: object) -> str:
    """The canonical JSON text of a JSON-like value (dict, list, str, int, Decimal, ...).

    orjson writes exactly this form (sorted keys, compact, the same escapes) in a fraction
    of the time; `reference_json` is the rules spelled out, which the tests hold it to and
    which takes over for what orjson will not write (integers past 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_as_numeric).decode()
    except orjson.JSONEncodeError:
        return reference_json(value)


def _as_numeric(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(decimal_text(value))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def reference_json(value: object) -> str:
    """The canonical JSON text, written by the rules of the module docstring."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: object, out: list[str]) -> None:
    # bool before int: bool is an int subclass.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, int):
        # int(...) so that an IntEnum writes its value, not its name.
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        out.append(decimal_text(value))
    elif isinstance(value, float):
        raise TypeError("floats are not canonical: use int or Decimal")
    elif isinstance(value, Mapping):
        _write_object(value, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"not a JSON value: {type(value).__name__}")


def _write_object(value: Mapping[Any, Any], out: list[str]) -> None:
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
    out.append("{")
    for i, key in enumerate(sorted(value)):
        if i:
            out.append(",")
        out.append(json.dumps(key, ensure_ascii=False))
        out.append(":")
        _write(value[key], out)
    out.append("}")


def decimal_text(value: Decimal) -> str:
    """How PostgreSQL `numeric` prints this decimal: positional, scale kept, no `-0`."""
    if not value.is_finite():
        raise ValueError(f"not a JSON number: {value}")
    # "f" without a precision writes every digit of the coefficient, and no exponent.
    text = format(value, "f")
    if value.is_zero() and text.startswith("-"):
        return text[1:]
    return text


def normalize_numbers(value: J) -> J:
    """The same value with every Decimal replaced by the Decimal of its canonical text."""
    if isinstance(value, Decimal):
        return cast(J, Decimal(decimal_text(value)))
    if isinstance(value, Mapping):
        return cast(J, {key: normalize_numbers(item) for key, item in value.items()})
    if isinstance(value, list):
        return cast(J, [normalize_numbers(item) for item in value])
    if isinstance(value, tuple):
        return cast(J, tuple(normalize_numbers(item) for item in value))
    return value


def format_instant(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC, as
    `to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` writes it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("recorded_at must be timezone-aware")
    u = moment.astimezone(UTC)
    # Spelled out rather than strftime: %Y does not pad years below 1000 on every libc.
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T"
        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"
    )


def canonical_parts(
    *,
    account_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> tuple[str, str]:
    """(prefix, suffix) such that `prefix + format_instant(recorded_at) + suffix` is the
    canonical text: the append statement fills in `recorded_at`, which the database
    assigns, with `convert_to(prefix || to_char(...) || suffix, 'UTF8')`."""
    for name, obj in (("data", data), ("metadata", metadata)):
        if not isinstance(obj, Mapping):
            raise TypeError(f"{name} must be a JSON object")
    return parts_around_time(
        account_id=account_id,
        stream_id=stream_id,
        version=version,
        type=type,
        schema_version=schema_version,
        data_text=canonical_json(data),
        metadata_text=canonical_json(metadata),
    )


def parts_around_time(
    *,
    account_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data_text: str,
    metadata_text: str,
) -> tuple[str, str]:
    """canonical_parts for data and metadata already in canonical text (the append sends
    that same text to be stored, so it is made once)."""
    for name, text in (("account_id", account_id), ("stream_id", stream_id), ("type", type)):
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str")
    for name, number in (("version", version), ("schema_version", schema_version)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"{name} must be an int")
    # The keys below are written in sorted order; recorded_at sits between them.
    prefix = (
        '{"account_id":' + canonical_json(account_id)
        + ',"data":' + data_text
        + ',"metadata":' + metadata_text
        + ',"recorded_at":"'
    )  # fmt: skip
    suffix = (
        '","schema_version":' + canonical_json(schema_version)
        + ',"stream_id":' + canonical_json(stream_id)
        + ',"type":' + canonical_json(type)
        + ',"version":' + canonical_json(version)
        + "}"
    )  # fmt: skip
    return prefix, suffix


def canonical_event(
    *,
    account_id: str,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    recorded_at: datetime,
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> bytes:
    """The canonical bytes of one event."""
    prefix, suffix = canonical_parts(
        account_id=account_id,
        stream_id=stream_id,
        version=version,
        type=type,
        schema_version=schema_version,
        data=data,
        metadata=metadata,
    )
    return (prefix + format_instant(recorded_at) + suffix).encode("utf-8")


_EVENT_FIELDS = (
    "account_id",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "recorded_at",
    "data",
    "metadata",
)


class Row(Protocol):
    def __getitem__(self, column: str) -> Any: ...


def canonical_row(row: Row) -> bytes:
    """The canonical bytes of an event as read from the events table (any mapping with its
    columns, such as an asyncpg record)."""
    return canonical_event(**{name: row[name] for name in _EVENT_FIELDS})


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """SHA-256(prev_hash ‖ canonical bytes): the event's link in its stream's chain."""
    if len(prev_hash) != HASH_SIZE:
        raise ValueError(f"prev_hash must be {HASH_SIZE} bytes, got {len(prev_hash)}")
    return hashlib.sha256(prev_hash + canonical).digest()
