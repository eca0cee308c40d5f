"""Bearer JWT access tokens: signature, expiry, audience, scopes, tenant (CONTRACT §2)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web

from service.api.errors import Unauthorized

INTEGRATION_WRITE = "accounting.integration.write"
RECORD_READ = "accounting.record.read"
RECORD_WRITE = "accounting.record.write"
RECORD_MANAGE = "accounting.record.manage"
AUDIT_READ = "accounting.audit.read"
ALL_SCOPES = (INTEGRATION_WRITE, RECORD_READ, RECORD_WRITE, RECORD_MANAGE, AUDIT_READ)


@dataclass(frozen=True)
class Principal:
    client_id: str
    account_id: str
    scopes: frozenset[str]


class TokenVerifier:
    """Checks HS256 tokens against a shared secret, RS256 against a PEM key or JWKS file."""

    def __init__(
        self,
        *,
        audience: str,
        secret: str | None = None,
        public_key_file: Path | None = None,
        issuer: str | None = None,
    ) -> None:
        self._audience = audience
        self._issuer = issuer
        self._keys: dict[str | None, tuple[Any, str]] = {}
        if secret:
            self._keys[None] = (secret, "HS256")
        if public_key_file is not None:
            self._load_public_keys(public_key_file.read_text())
        if not self._keys:
            raise ValueError("JWT_SECRET or JWT_PUBLIC_KEY_FILE must be configured")

    def _load_public_keys(self, text: str) -> None:
        if text.lstrip().startswith("{"):
            for key in jwt.PyJWKSet.from_dict(json.loads(text)).keys:
                self._keys[key.key_id] = (key.key, "RS256")
        else:
            self._keys["__pem__"] = (text, "RS256")

    def _key_for(self, token: str) -> tuple[Any, str]:
        header = jwt.get_unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg == "HS256" and None in self._keys:
            return self._keys[None]
        if alg == "RS256":
            found = self._keys.get(kid) if kid is not None else self._keys.get("__pem__")
            if found is not None:
                return found
        raise jwt.InvalidTokenError(f"no key for alg={alg!r} kid={kid!r}")

    def verify(self, token: str) -> Principal:
        key, alg = self._key_for(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self._audience,
            issuer=self._issuer,
            options={"require": ["exp", "aud", "sub"]},
        )
        account_id, scope = claims.get("account_id"), claims.get("scope", "")
        if not isinstance(account_id, str) or not account_id or not isinstance(scope, str):
            raise jwt.InvalidTokenError("account_id and scope claims are required")
        client_id = str(claims["sub"])
        if "\x00" in account_id or "\x00" in client_id:
            raise jwt.InvalidTokenError("claims may not contain the NUL character")
        return Principal(client_id, account_id, frozenset(scope.split()))


def issue_token(
    secret: str,
    *,
    audience: str,
    account_id: str,
    scopes: Iterable[str],
    client_id: str = "local-client",
    ttl_seconds: int = 3600,
    issuer: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": client_id,
        "account_id": account_id,
        "scope": " ".join(scopes),
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


VERIFIER = web.AppKey("token_verifier", TokenVerifier)


def authenticate(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A Bearer access token is required.")
    try:
        return request.app[VERIFIER].verify(token.strip())
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is invalid.") from None
