"""JSON on the wire with exact decimals: money never passes through a binary float.

JSON that comes in (bodies, import lines, cursors) is bounded before anything uses it:
at most MAX_DEPTH levels of nesting, numbers of at most MAX_NUMBER_CHARS characters
within 1e±MAX_EXPONENT, and text that PostgreSQL can store (no NUL, no lone surrogate).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import orjson
import simplejson
from aiohttp import web

from service.api.errors import InvalidInput

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 400
MAX_EXPONENT = 400  # beyond any binary double: schema-valid input always fits
NUL = "contains the NUL character"
SURROGATE = "contains a lone surrogate (not Unicode text)"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What JSON text must hold for a parsed string to hold NUL or a lone surrogate: the
# character itself, or its escape (\u0000, \ud800-\udfff, in either case).
_RISKY_TEXT = re.compile(r"[\x00\ud800-\udfff]|\\u(?:0000|[dD][89a-fA-F])")


def _sized(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number longer than {MAX_NUMBER_CHARS} characters")
    return text


def _integer(text: str) -> int:
    return int(_sized(text))


def _decimal(text: str) -> Decimal:
    value = Decimal(_sized(text))
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "JSON has no NaN or Infinity literals in numbers"
    if value and (abs(value.adjusted()) > MAX_EXPONENT or exponent < -MAX_EXPONENT):
        raise ValueError(f"a number beyond 1e{MAX_EXPONENT} or 1e-{MAX_EXPONENT}")
    return value


_DECODER = simplejson.JSONDecoder(parse_float=_decimal, parse_int=_integer, allow_nan=False)


def parse_json(raw: bytes) -> Any:
    """A request body or import line; numbers with a fraction or exponent become Decimal."""
    try:
        text = raw.decode("utf-8")
        data = _DECODER.decode(text)
    except RecursionError:
        data = _too_deep()
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInput(
            "The request body is not valid JSON.", {"field": "body", "reason": str(exc)}
        ) from None
    _check_bounds(data, strings=_may_hold_unstorable(text), deep=_may_be_deep(text))
    return data


def _may_hold_unstorable(text: str) -> bool:
    """Whether a string parsed from `text` may hold NUL or a lone surrogate. Text decoded
    from UTF-8 holds no surrogate itself, and most bodies have no escape and no NUL at all:
    two substring searches spare them the pattern's scan (15 us on a 1.7 KB record)."""
    return ("\\u" in text or "\x00" in text) and _RISKY_TEXT.search(text) is not None


def _may_be_deep(text: str) -> bool:
    """Whether `text` may nest deeper than MAX_DEPTH: not when it has no more brackets
    than that in all (those inside strings only count against it), as a record has."""
    return text.count("[") + text.count("{") > MAX_DEPTH


def _too_deep() -> Any:
    raise InvalidInput(
        "The request body is nested too deeply.",
        {"field": "body", "reason": f"nested deeper than {MAX_DEPTH} levels"},
    )


def unstorable(text: str) -> str | None:
    """Why PostgreSQL text cannot hold `text` (None: it can)."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL if found.group() == "\x00" else SURROGATE


def printable(text: str) -> str:
    """`text` with lone surrogates written as escapes, so that it can be sent back."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_bounds(data: Any, strings: bool = True, deep: bool = True) -> None:
    """Depth and text of a parsed value, walked without recursion (it may be deep); its
    strings only when the text could hold what PostgreSQL cannot store (`strings`), its
    depth only when the text could nest too deep (`deep`)."""
    if not strings:
        if deep:
            _check_depth(data)
        return
    stack: list[tuple[Any, str, int]] = [(data, "body", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            reason = unstorable(value)
            if reason:
                _refuse_text(path, reason)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = []
            for key, item in items:
                where = str(key) if path == "body" else f"{path}.{key}"
                reason = unstorable(key) if isinstance(key, str) else None
                if reason:
                    _refuse_text(where, reason)
                children.append((item, where, depth + 1))
            stack.extend(reversed(children))


def _check_depth(data: Any) -> None:
    """The depth alone, level by level: the containers of each level, no paths (a
    refusal for depth names none), nothing pushed for scalars."""
    level, depth = ([data] if isinstance(data, dict | list) else []), 1
    while level:
        if depth > MAX_DEPTH:
            _too_deep()
        inner: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            inner.extend(item for item in items if isinstance(item, dict | list))
        level, depth = inner, depth + 1


def _refuse_text(where: str, reason: str) -> None:
    message = (
        "Text may not contain the NUL character (U+0000)."
        if reason == NUL
        else "Text must be Unicode: a lone surrogate (\\ud800-\\udfff) is not."
    )
    raise InvalidInput(message, {"field": printable(where), "reason": reason})


def dumps(body: Any) -> str:
    return simplejson.dumps(body, use_decimal=True, ensure_ascii=False, separators=(",", ":"))


def _as_digits(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))  # money as its own digits
    raise TypeError(f"not JSON: {type(value).__name__}")


def _encoded(body: Any) -> bytes:
    try:
        return orjson.dumps(body, default=_as_digits)
    except orjson.JSONEncodeError:
        # A lone surrogate echoed in a refusal goes out as its JSON escape; an integer past
        # 64 bits as its digits: the slower encoder takes both.
        return dumps(body).encode("utf-8", "backslashreplace")


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encoded(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )
