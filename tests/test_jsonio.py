"""Bounds of JSON that comes in (service.api.jsonio), at their edges, without I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from service.api.errors import InvalidInput
from service.api.jsonio import MAX_DEPTH, NUL, SURROGATE, parse_json


def nested(depth: int, opener: str) -> bytes:
    """`depth` containers, one inside the other: lists, or objects of one key."""
    if opener == "[":
        return ("[" * depth + "1" + "]" * depth).encode()
    return ('{"a": ' * depth + "1" + "}" * depth).encode()


@pytest.mark.parametrize("opener", ["[", "{"])
def test_depth_up_to_the_limit_is_taken(opener: str) -> None:
    assert parse_json(nested(MAX_DEPTH, opener)) is not None


@pytest.mark.parametrize("opener", ["[", "{"])
def test_one_level_past_the_limit_is_refused(opener: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_json(nested(MAX_DEPTH + 1, opener))
    assert refused.value.details == {
        "field": "body",
        "reason": f"nested deeper than {MAX_DEPTH} levels",
    }


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '{"memo": "' + "[{" * 200 + '", "n": [[1.50]]}'
    assert parse_json(text.encode()) == {"memo": "[{" * 200, "n": [[Decimal("1.50")]]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"memo": "a\\u0000b"}', NUL),
        (b'{"memo": "a\\ud800b"}', SURROGATE),
        (b'{"memo": "a\\uDFFFb"}', SURROGATE),
        (b'{"a\\u0000": 1}', NUL),
    ],
)
def test_unstorable_text_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_json(raw)
    assert refused.value.details is not None
    assert refused.value.details["reason"] == reason


def test_escapes_postgresql_can_store_are_taken() -> None:
    raw = b'{"memo": "caf\\u00e9 \\ud83d\\ude00 \\u0041", "raw": "\xc3\xa9"}'
    assert parse_json(raw) == {"memo": "café 😀 A", "raw": "é"}
