"""The HTTP server around the app: aiohttp's, with our limits."""

from __future__ import annotations

from typing import Any

from service.settings import Settings


def http_limits(settings: Settings) -> dict[str, Any]:
    """What aiohttp's connection handler is given (Application(handler_args=...))."""
    return {
        # The contract allows 500 `ids` of up to 128 characters in one query string.
        "max_line_size": settings.http_max_line_bytes,
        "max_field_size": settings.http_max_header_bytes,
    }
