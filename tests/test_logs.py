"""What the service writes, as a process: one JSON object per line, and never a token or
the secret that signs them, whatever the requests carried (and `serve` prints no token
unless it runs its own cluster with a secret of its own making)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from service.api.auth import ALL_SCOPES, issue_token
from tests.conftest import AUDIENCE
from tests.live import Service, service_env
from tests.wire import exchange, request_bytes


async def test_logs_are_json_lines_without_tokens_or_secrets(
    tmp_path: Path, shared_dsn: str
) -> None:
    env = service_env(tmp_path / "data", database_url=shared_dsn)
    del env["JWT_SECRET"]  # generated into DATA_DIR, as for local use
    service = Service(tmp_path, env).start()
    try:
        secret = (tmp_path / "data" / "jwt-secret").read_text().strip()
        token = issue_token(secret, audience=AUDIENCE, account_id="acct_logs", scopes=ALL_SCOPES)
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        async with aiohttp.ClientSession() as session:
            for headers, path in [
                ({"Authorization": f"Bearer {token}"}, "/v3/accounting/records"),
                ({"Authorization": f"Bearer {tampered}"}, "/v3/accounting/records"),
                ({"Authorization": f"Bearer {token}"}, f"/v3/accounting/records/accr_x?t={token}"),
                ({"Authorization": f"Bearer {token}"}, f"/nowhere/{token}"),
                ({"Authorization": token}, "/v3/accounting/integration"),
            ]:
                async with session.get(service.base + path, headers=headers) as resp:
                    await resp.read()
            async with session.post(
                service.base + "/v3/accounting/integration",
                data=b"{not json " + token.encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            ) as resp:
                assert resp.status == 400
        broken = b"GET /x HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b"\x01\r\n\r\n"
        answer = await exchange("127.0.0.1", service.port, broken)
        assert answer.status == 400
        long_line = request_bytes("GET", "/v3/" + "a" * 200_000, {"Authorization": token})
        assert (await exchange("127.0.0.1", service.port, long_line)).status == 400
    finally:
        assert await asyncio.to_thread(service.stop) == 0
    lines = service.log_lines()
    assert len(lines) > 5
    for line in lines:
        json.loads(line)  # every line is one JSON object
        for needle in (secret, token, tampered, token.split(".")[1], "Bearer"):
            assert needle not in line, f"a log line holds a token or the secret: {line[:200]}"
    printed = service.stdout.read_text()
    assert "TOKEN" not in printed and "eyJ" not in printed, "serve printed a token"
