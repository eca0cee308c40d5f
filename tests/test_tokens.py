"""Bearer tokens (CONTRACT §2): what must be refused with 401 however it is signed or
shaped, and RS256 with one PEM key, which must accept a token naming a kid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api import Client
from tests.conftest import AUDIENCE, SECRET

MakeApp = Callable[..., web.Application]
RECORDS = "/v3/accounting/records"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(header: bytes, payload: bytes, key: str = SECRET) -> str:
    """A token with these exact JSON bytes, validly signed with HS256 and `key`."""
    head = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(key.encode(), head.encode(), hashlib.sha256).digest()
    return f"{head}.{b64(signature)}"


def claims(account: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "c1",
        "account_id": account,
        "scope": "accounting.record.read",
        "aud": AUDIENCE,
        "exp": now + 60,
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def with_raw(account: str, field: str, raw: str) -> bytes:
    """Claims whose `field` is written as the raw JSON `raw` (e.g. 1e999, NaN, "123")."""
    text = json.dumps(claims(account, **{field: 0}))
    return text.replace(f'"{field}": 0', f'"{field}": {raw}').encode()


HS = b'{"alg":"HS256","typ":"JWT"}'


def refused_tokens(account: str) -> dict[str, str]:
    now = int(time.time())
    return {
        "alg none": jwt.encode(claims(account), None, algorithm="none"),  # type: ignore[arg-type]
        "wrong key": jwt.encode(claims(account), "another-secret-of-thirty-two-bytes!!", "HS256"),
        "RS256 header on an HS secret": signed(
            b'{"alg":"RS256"}', json.dumps(claims(account)).encode()
        ),
        "expired": jwt.encode(claims(account, exp=now - 5), SECRET, "HS256"),
        "not yet valid": jwt.encode(claims(account, nbf=now + 300), SECRET, "HS256"),
        "wrong audience": jwt.encode(claims(account, aud="someone-else"), SECRET, "HS256"),
        "no sub": jwt.encode(claims(account, sub=None), SECRET, "HS256"),
        "no exp": jwt.encode(claims(account, exp=None), SECRET, "HS256"),
        "no aud": jwt.encode(claims(account, aud=None), SECRET, "HS256"),
        "no account_id": jwt.encode(claims(account, account_id=None), SECRET, "HS256"),
        "no scope": jwt.encode(claims(account, scope=None), SECRET, "HS256"),
        "exp as a string": signed(HS, with_raw(account, "exp", f'"{now + 60}"')),
        "nbf as a string": signed(HS, with_raw(account, "nbf", f'"{now - 60}"')),
        "iat as a string": signed(HS, with_raw(account, "iat", f'"{now}"')),
        "exp true": signed(HS, with_raw(account, "exp", "true")),
        "exp 1e999": signed(HS, with_raw(account, "exp", "1e999")),
        "exp NaN": signed(HS, with_raw(account, "exp", "NaN")),
        "a lone surrogate in account_id": signed(HS, with_raw(account, "account_id", '"a\\ud800"')),
        "a lone surrogate in sub": signed(HS, with_raw(account, "sub", '"\\udfff"')),
        "a NUL in scope": signed(HS, with_raw(account, "scope", '"accounting.record.read\\u0000"')),
        "a header nested deep": signed(
            b'{"alg":"HS256","x":' + b"[" * 5000 + b"]" * 5000 + b"}", b"{}"
        ),
        "a header that is not JSON": signed(b"\xff\xfe", json.dumps(claims(account)).encode()),
        "not ASCII": "eyJ\u00e9.e30.sig",
        "not a JWT": "not-a-jwt",
    }


async def test_tokens_that_must_be_refused_are_401(client: Client, account: str) -> None:
    good = jwt.encode(claims(account), SECRET, "HS256")
    assert (await client.get(RECORDS, headers={"Authorization": f"Bearer {good}"})).status == 200
    for name, token in refused_tokens(account).items():
        resp = await client.get(RECORDS, headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401, name
        body = await resp.json()
        assert body["error_code"] == "UNAUTHORIZED", name


async def test_rs256_with_one_pem_key_accepts_a_kid_and_refuses_confusion(
    aiohttp_client: Any, app_with: MakeApp, tmp_path: Path, account: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(pem)
    client = await aiohttp_client(
        app_with(jwt_secret=None, jwt_public_key_file=tmp_path / "key.pem")
    )

    async def status(token: str) -> int:
        resp = await client.get(RECORDS, headers={"Authorization": f"Bearer {token}"})
        return int(resp.status)

    assert await status(jwt.encode(claims(account), key, "RS256")) == 200
    assert await status(jwt.encode(claims(account), key, "RS256", headers={"kid": "k-2026"})) == 200
    # The public key used as an HS256 secret (algorithm confusion), and HS tokens at all.
    assert await status(signed(HS, json.dumps(claims(account)).encode(), pem.decode())) == 401
    assert await status(jwt.encode(claims(account), SECRET, "HS256")) == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert await status(jwt.encode(claims(account), other, "RS256", headers={"kid": "k"})) == 401
