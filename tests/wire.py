"""HTTP/1.1 on a raw socket: requests that no well-behaved client library would send
(bytes that are not UTF-8 in a header, broken framing, half-sent headers)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str, target: str, headers: dict[str, bytes | str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close"]
    for name, value in headers.items():
        lines.append(
            name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
        )
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def parse_answer(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawAnswer(int(status_line.split()[1]), headers, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


async def exchange(host: str, port: int, data: bytes, wait: float = 10.0) -> RawAnswer:
    """Send `data` as is and read the answer until the server closes the connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(wait):
            raw = await reader.read()
    finally:
        writer.close()
    return parse_answer(raw)


async def read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    """One answer with a Content-Length, read without waiting for the connection to end."""
    head = await reader.readuntil(b"\r\n\r\n")
    partial = parse_answer(head)
    body = await reader.readexactly(int(partial.headers.get("content-length", "0")))
    return RawAnswer(partial.status, partial.headers, body)
