"""Canonical event bytes and the stream hash chain (CONTRACT §6.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
import simplejson
from hypothesis import given
from hypothesis import strategies as st

from eventstore.canonical import (
    GENESIS,
    canonical_event,
    canonical_json,
    canonical_parts,
    chain_hash,
    format_instant,
    normalize_numbers,
    reference_json,
)

# Golden vectors: the expected texts are written by hand from the rules; the hashes were
# computed from those literal texts with sha256sum.
FIRST: dict[str, Any] = {
    "account_id": "acc-1",
    "stream_id": "record-42",
    "version": 1,
    "type": "RecordCreated",
    "schema_version": 1,
    "recorded_at": datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=UTC),
    "data": {"currency": "EUR", "b": [1, True, None], "amount": Decimal("100.50")},
    "metadata": {"request_id": "r1", "client_id": "c"},
}
FIRST_TEXT = (
    '{"account_id":"acc-1","data":{"amount":100.50,"b":[1,true,null],"currency":"EUR"},'
    '"metadata":{"client_id":"c","request_id":"r1"},'
    '"recorded_at":"2024-03-01T12:30:45.123456Z","schema_version":1,'
    '"stream_id":"record-42","type":"RecordCreated","version":1}'
)
FIRST_HASH = "fb4783f29089aef2cc6c462306dafae04ebbccb0313dce7d3779fd477153090b"

SECOND: dict[str, Any] = {
    "account_id": "acc-1",
    "stream_id": "record-42",
    "version": 2,
    "type": "NoteAdded",
    "schema_version": 2,
    # Two hours east of UTC: written in UTC.
    "recorded_at": datetime(2024, 3, 1, 14, 30, 45, tzinfo=timezone(timedelta(hours=2))),
    "data": {"z": {"b": 2, "a": 1}, "note": 'Café "quoted" back\\slash\nnew\ttab\x01 😀'},
    "metadata": {},
}
SECOND_TEXT = (
    '{"account_id":"acc-1",'
    '"data":{"note":"Café \\"quoted\\" back\\\\slash\\nnew\\ttab\\u0001 😀","z":{"a":1,"b":2}},'
    '"metadata":{},"recorded_at":"2024-03-01T12:30:45.000000Z","schema_version":2,'
    '"stream_id":"record-42","type":"NoteAdded","version":2}'
)
SECOND_HASH = "cc31e83e45a59b014be5d28c6cb5b2a041534ba58bdb169d32c278075536faa8"


def test_golden_events_and_their_chain() -> None:
    first = canonical_event(**FIRST)
    second = canonical_event(**SECOND)
    assert first == FIRST_TEXT.encode("utf-8")
    assert second == SECOND_TEXT.encode("utf-8")
    first_hash = chain_hash(GENESIS, first)
    assert first_hash.hex() == FIRST_HASH
    assert chain_hash(first_hash, second).hex() == SECOND_HASH


def test_genesis_is_32_zero_bytes() -> None:
    assert GENESIS == b"\x00" * 32


@pytest.mark.parametrize("event", [FIRST, SECOND])
def test_split_form_equals_whole_form(event: dict[str, Any]) -> None:
    fields = {key: value for key, value in event.items() if key != "recorded_at"}
    prefix, suffix = canonical_parts(**fields)
    whole = (prefix + format_instant(event["recorded_at"]) + suffix).encode("utf-8")
    assert whole == canonical_event(**event)
    assert prefix.endswith(',"recorded_at":"')
    assert suffix.startswith('","schema_version":')


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (Decimal("100.50"), "100.50"),
        (Decimal("1E+2"), "100"),
        (Decimal("1.0E+2"), "100"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("1.50E-1"), "0.150"),
        (Decimal("-1.5E-3"), "-0.0015"),
        (Decimal("-0"), "0"),
        (Decimal("-0.00"), "0.00"),
        (Decimal("-0E+3"), "0"),
        (Decimal("0E-10"), "0.0000000000"),
        (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
        (2**100, "1267650600228229401496703205376"),
        (-(10**30), "-1000000000000000000000000000000"),
        (0, "0"),
    ],
)
def test_numbers_are_written_as_postgresql_numeric_prints_them(
    number: int | Decimal, text: str
) -> None:
    assert canonical_json(number) == text
    assert canonical_json(normalize_numbers(number)) == text


@pytest.mark.parametrize(
    ("string", "text"),
    [
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("\x7f/<>&'", '"\x7f/<>&\'"'),
        ("é ß € \u2028 \u2029", '"é ß € \u2028 \u2029"'),
        ("😀 \U0001f1eb\U0001f1f7", '"😀 \U0001f1eb\U0001f1f7"'),
    ],
)
def test_strings_are_escaped_only_where_json_must(string: str, text: str) -> None:
    assert canonical_json(string) == text


def test_object_keys_are_sorted_by_code_point_at_every_depth() -> None:
    value = {"b": {"é": 1, "z": 2, "A": 3}, "a": [{"y": None, "x": False}], "B": "", "😀": 0}
    assert canonical_json(value) == (
        '{"B":"","a":[{"x":false,"y":null}],"b":{"A":3,"z":2,"é":1},"😀":0}'
    )


def test_enums_are_written_as_their_values() -> None:
    class Colour(StrEnum):
        RED = "red"

    class Level(IntEnum):
        HIGH = 3

    assert canonical_json({"c": Colour.RED, "l": Level.HIGH}) == '{"c":"red","l":3}'


def test_normalize_numbers_rewrites_every_decimal_and_keeps_the_rest() -> None:
    value: dict[str, Any] = {"a": [Decimal("1E+2"), {"b": Decimal("-0.00")}], "c": 7, "d": "x"}
    normalized = normalize_numbers(value)
    assert normalized == {"a": [Decimal("100"), {"b": Decimal("0.00")}], "c": 7, "d": "x"}
    assert str(normalized["a"][0]) == "100"
    assert str(normalized["a"][1]["b"]) == "0.00"
    assert canonical_json(normalized) == canonical_json(value)
    assert value["a"][0] == Decimal("1E+2")  # the input is left alone


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": 0.1}, [float("nan")], Decimal("NaN"), Decimal("Infinity"), {1: "x"}, {"s": {1}}],
)
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        reference_json(value)
    if not _has_float(value):  # the service holds no floats: the fast path does not look
        with pytest.raises((TypeError, ValueError)):
            canonical_json(value)


def _has_float(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return isinstance(value, float)


def test_instants_are_utc_with_six_fraction_digits() -> None:
    early = datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert format_instant(early) == "0005-01-02T03:04:05.000006Z"
    later = datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert format_instant(later) == "2023-12-31T23:30:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", True), ("version", "1"), ("schema_version", Decimal(1)), ("stream_id", 42)],
)
def test_event_fields_must_have_their_types(field: str, value: object) -> None:
    fields = {key: item for key, item in FIRST.items() if key != "recorded_at"}
    fields[field] = value
    with pytest.raises(TypeError, match=field):
        canonical_parts(**fields)


def test_chain_hash_needs_a_32_byte_predecessor() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        chain_hash(b"\x00" * 31, b"{}")


# JSON-like values as the service holds them: numbers are int or Decimal, never float.
_decimals = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(
        lambda sign, digits, exponent: Decimal((sign, tuple(int(d) for d in digits), exponent)),
        st.integers(0, 1),
        st.text("0123456789", min_size=1, max_size=40),
        st.integers(-40, 40),
    ),
)
_text = st.text(st.characters(exclude_categories=["Cs"]))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), _decimals, _text)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(_text, children, max_size=5)
    ),
    max_leaves=30,
)


@given(_values)
def test_the_fast_writer_writes_the_reference_form(value: object) -> None:
    assert canonical_json(value) == reference_json(value)


def test_every_character_is_written_as_the_reference_writes_it() -> None:
    every = "".join(chr(c) for c in range(0x3000)) + "\u2028\u2029\ufeff\U0001f600\U0010ffff"
    value = {every: every, "b": [every], "a": {"😀": 1, "ￚ": 2, "é": 3}}
    assert canonical_json(value) == reference_json(value)


@given(_values)
def test_canonical_text_survives_a_json_round_trip(value: object) -> None:
    text = canonical_json(value)
    assert canonical_json(simplejson.loads(text, use_decimal=True)) == text


@given(_values)
def test_normalized_values_have_the_same_canonical_text(value: object) -> None:
    normalized = normalize_numbers(value)
    assert canonical_json(normalized) == canonical_json(value)
    assert normalize_numbers(normalized) == normalized
