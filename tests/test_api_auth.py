"""Bearer tokens, scopes and tenants (CONTRACT §2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from service.api.app import create_app
from service.api.auth import (
    INTEGRATION_WRITE,
    RECORD_MANAGE,
    RECORD_READ,
    RECORD_WRITE,
)
from tests.api import Client, put_record
from tests.conftest import AUDIENCE, SECRET, make_token, settings_for


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(account: str, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "c1",
        "account_id": account,
        "scope": RECORD_READ,
        "aud": AUDIENCE,
        "exp": now + 60,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


async def assert_401(client: Client, headers: dict[str, str]) -> None:
    resp = await client.get("/v3/accounting/records", headers=headers)
    assert resp.status == 401, headers
    body = await resp.json()
    assert body["error_code"] == "UNAUTHORIZED"
    assert set(body) == {"error_code", "message", "details"}


async def test_missing_or_malformed_header(client: Client) -> None:
    await assert_401(client, {})
    await assert_401(client, {"Authorization": "Basic dXNlcjpwdw=="})
    await assert_401(client, {"Authorization": "Bearer "})
    await assert_401(client, bearer("not.a.jwt"))


async def test_expired_token(client: Client, account: str) -> None:
    await assert_401(client, bearer(make_token(account, ttl=-10)))


async def test_bad_signature_wrong_audience_and_missing_claims(
    client: Client, account: str
) -> None:
    await assert_401(
        client, bearer(jwt.encode(claims(account), "another-secret-entirely-0123456789", "HS256"))
    )
    await assert_401(
        client, bearer(jwt.encode(claims(account, aud="someone-else"), SECRET, "HS256"))
    )
    await assert_401(client, bearer(jwt.encode(claims(account, exp=None), SECRET, "HS256")))
    await assert_401(client, bearer(jwt.encode(claims(account, account_id=None), SECRET, "HS256")))
    for nul in ({"account_id": "acct\x00x"}, {"sub": "client\x00x"}):
        await assert_401(client, bearer(jwt.encode(claims(account, **nul), SECRET, "HS256")))


async def test_alg_none_is_rejected(client: Client, account: str) -> None:
    unsigned = jwt.encode(claims(account), None, algorithm="none")  # type: ignore[arg-type]
    await assert_401(client, bearer(unsigned))


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("POST", "/v3/accounting/integration", (RECORD_WRITE, RECORD_READ, RECORD_MANAGE)),
        ("GET", "/v3/accounting/integration", (RECORD_WRITE,)),
        ("GET", "/v3/accounting/records", (INTEGRATION_WRITE, RECORD_MANAGE)),
        ("GET", "/v3/accounting/records/accr_1", (INTEGRATION_WRITE,)),
        ("POST", "/v3/accounting/records/export-results", (RECORD_READ, INTEGRATION_WRITE)),
        ("PUT", "/internal/accounting/records/accr_1", (RECORD_WRITE, RECORD_READ)),
        ("POST", "/internal/accounting/records/accr_1/review-status", (RECORD_WRITE,)),
    ],
)
async def test_missing_scope_is_403(
    client: Client, account: str, method: str, path: str, scopes: tuple[str, ...]
) -> None:
    resp = await client.request(method, path, json={}, headers=bearer(make_token(account, scopes)))
    assert resp.status == 403
    assert (await resp.json())["error_code"] == "FORBIDDEN"


async def test_record_reads_accept_read_or_write_scope(
    client: Client, account: str, auth: dict[str, str]
) -> None:
    record = await put_record(client, auth)
    for scope in (RECORD_READ, RECORD_WRITE):
        resp = await client.get(
            f"/v3/accounting/records/{record['id']}", headers=bearer(make_token(account, (scope,)))
        )
        assert resp.status == 200


async def test_rs256_tokens_with_a_configured_public_key(
    aiohttp_client: object, shared_dsn: str, tmp_path: Path, account: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(pem)
    settings = settings_for(shared_dsn).model_copy(
        update={"jwt_secret": None, "jwt_public_key_file": tmp_path / "key.pem"}
    )
    app: web.Application = create_app(settings)
    client = await aiohttp_client(app)  # type: ignore[operator]
    good = jwt.encode(claims(account), key, algorithm="RS256")
    assert (await client.get("/v3/accounting/records", headers=bearer(good))).status == 200
    # An HS256 token signed with the public key text must not pass (algorithm confusion).
    confused = jwt.encode(claims(account), SECRET, algorithm="HS256")
    assert (await client.get("/v3/accounting/records", headers=bearer(confused))).status == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(account), other, algorithm="RS256")
    assert (await client.get("/v3/accounting/records", headers=bearer(forged))).status == 401


async def test_jwks_unknown_key_id_is_rejected(
    aiohttp_client: object, shared_dsn: str, tmp_path: Path, account: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [jwk | {"kid": "k1", "alg": "RS256", "use": "sig"}]})
    )
    settings = settings_for(shared_dsn).model_copy(
        update={"jwt_secret": None, "jwt_public_key_file": tmp_path / "jwks.json"}
    )
    client = await aiohttp_client(create_app(settings))  # type: ignore[operator]
    good = jwt.encode(claims(account), key, algorithm="RS256", headers={"kid": "k1"})
    assert (await client.get("/v3/accounting/records", headers=bearer(good))).status == 200
    unknown = jwt.encode(claims(account), key, algorithm="RS256", headers={"kid": "k9"})
    assert (await client.get("/v3/accounting/records", headers=bearer(unknown))).status == 401
