"""Bearer JWT access tokens: signature, expiry, audience, scopes, tenant (CONTRACT §2)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cachetools import TLRUCache

from service.api.errors import Unauthorized
from service.api.jsonio import unstorable

INTEGRATION_WRITE = "accounting.integration.write"
RECORD_READ = "accounting.record.read"
RECORD_WRITE = "accounting.record.write"
RECORD_MANAGE = "accounting.record.manage"
AUDIT_READ = "accounting.audit.read"
METRICS_READ = "accounting.metrics.read"  # GET /metrics: operators and their scrapers
ALL_SCOPES = (
    INTEGRATION_WRITE,
    RECORD_READ,
    RECORD_WRITE,
    RECORD_MANAGE,
    AUDIT_READ,
    METRICS_READ,
)


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
        # Verified tokens until their exp (wall-clock seconds), the most used kept.
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=10_000, ttu=lambda _token, found, _now: found[1], timer=time.time
        )
        self._audience = audience
        self._issuer = issuer
        self._secret = secret or None
        self._pem: str | None = None
        self._jwks: dict[str, Any] = {}
        if public_key_file is not None:
            self._load_public_keys(public_key_file.read_text())
        if not (self._secret or self._pem or self._jwks):
            raise ValueError("JWT_SECRET or JWT_PUBLIC_KEY_FILE must be configured")

    def _load_public_keys(self, text: str) -> None:
        if text.lstrip().startswith("{"):
            for key in jwt.PyJWKSet.from_dict(json.loads(text)).keys:
                if key.key_id is not None:
                    self._jwks[key.key_id] = key.key
        else:
            self._pem = text

    def _key_for(self, token: str) -> tuple[Any, str]:
        header = jwt.get_unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg == "HS256" and self._secret:
            return self._secret, "HS256"
        if alg == "RS256":
            # A single PEM key has no id of its own: it is the key whatever `kid` says.
            key = (
                self._pem
                if self._pem is not None
                else self._jwks.get(kid)
                if isinstance(kid, str)
                else None
            )
            if key is not None:
                return key, "RS256"
        raise jwt.InvalidTokenError(f"no key for alg={alg!r} kid={kid!r}")

    def verify(self, token: str) -> Principal:
        """The token's principal. A token verified once is remembered until it expires:
        the same bytes always verify the same way, and checking a signature costs more
        than the rest of a small request."""
        try:
            return self._verified[token][0]
        except KeyError:
            pass
        if not (token.isascii() and token.isprintable()):
            raise jwt.InvalidTokenError("a token is printable ASCII")
        key, alg = self._key_for(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=self._audience,
            issuer=self._issuer,
            options={"require": ["exp", "aud", "sub"]},
        )
        principal = _principal(claims)
        self._verified[token] = (principal, float(claims["exp"]))
        return principal


def _principal(claims: dict[str, Any]) -> Principal:
    # RFC 7519 NumericDate: a JSON number (PyJWT would also take "123" as a string).
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise jwt.InvalidTokenError(f"{name} must be a number")
        if not math.isfinite(value):
            raise jwt.InvalidTokenError(f"{name} must be finite")
    account_id, client_id, scope = claims.get("account_id"), claims["sub"], claims.get("scope")
    texts = (account_id, client_id, scope)
    if not all(isinstance(text, str) for text in texts) or not account_id:
        raise jwt.InvalidTokenError("account_id, sub and scope must be strings")
    if any(unstorable(str(text)) for text in texts):
        raise jwt.InvalidTokenError("claims must be text PostgreSQL can store")
    return Principal(str(client_id), str(account_id), frozenset(str(scope).split()))


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
    # Whatever a token holds (bytes that are not UTF-8, JSON nested thousands deep, an exp of
    # 1e999) makes it invalid, never a server error.
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
        raise Unauthorized("The access token is invalid.") from None
