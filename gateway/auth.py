"""Bearer JWT verification (CONTRACT §5): HS256 only, `exp`/`nbf` honoured, `sub` is the user.

Verified tokens are remembered until they expire (bounded), so a client reusing its token pays the HMAC once.
HS256 is checked by gateway/hs256.py; PyJWT (and the `cryptography` its import loads, ≈ 9 MiB per worker) is
imported only for RS256/ES256 tokens, i.e. with JWT_PUBLIC_KEY or JWT_JWKS_URL.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import hs256
from gateway.errors import AuthenticationError
from gateway.jwks import JWKSKeys
from gateway.types import Principal

HMAC_ALGORITHM = hs256.ALGORITHM  # pinned for JWT_SECRET: `none` and every other HMAC variant are refused
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")  # only with JWT_PUBLIC_KEY, never with the shared secret
CACHE_LIMIT = 10_000


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationError("The token has no `sub` (user id) claim.")
    roles = claims.get("roles")
    is_admin = claims.get("role") == "admin" or (isinstance(roles, list) and "admin" in roles)
    return Principal(user=sub, is_admin=is_admin)


class TokenVerifier:
    """Each algorithm has exactly one key: HS256 the secret, RS256/ES256 the public key. A token's header picks
    the algorithm, so an HS256 token "signed" with the public key (the RS/HS confusion) meets the secret and fails."""

    def __init__(
        self,
        secret: str | None,
        *,
        public_key: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 5.0,
        jwks: JWKSKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks  # RS256/ES256 keys by `kid`, when no static public key is configured
        self._keys: dict[str, Any] = {}
        if secret:
            self._keys[HMAC_ALGORITHM] = secret
        if public_key:
            for algorithm in PUBLIC_KEY_ALGORITHMS:
                self._keys[algorithm] = public_key
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def verify_async(self, token: str) -> Principal:
        """`verify`, plus keys fetched from JWT_JWKS_URL for RS256/ES256 tokens (the only awaiting path)."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        if self._jwks is not None:
            header = self._header(token)
            algorithm = header.get("alg")
            if algorithm in PUBLIC_KEY_ALGORITHMS and algorithm not in self._keys:
                kid = header.get("kid")
                key = await self._jwks.key_for(kid if isinstance(kid, str) else None)
                if key is None:
                    raise AuthenticationError("The bearer token is signed with an unknown key (kid).")
                return self.verify(token, key=key)
        return self.verify(token)

    def verify(self, token: str, *, key: Any = None) -> Principal:
        now = self._clock()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        claims = self._decode(token, key)
        principal = principal_from_claims(claims)
        exp = claims.get("exp")
        # a token without exp is cached briefly only, so a rotated secret takes effect soon
        until = min(float(exp) + self._leeway_s, now + 3600) if isinstance(exp, int | float) else now + 60
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = (principal, until)
        return principal

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        return hs256.header(token)  # the same parse and header checks as PyJWT's, for every algorithm

    def _decode(self, token: str, jwks_key: Any = None) -> dict[str, Any]:
        algorithm = self._header(token).get("alg")
        if jwks_key is not None and algorithm in PUBLIC_KEY_ALGORITHMS:
            key = jwks_key
        else:
            key = self._keys.get(algorithm) if isinstance(algorithm, str) else None
        if key is None:
            algorithms = [*self._keys, *(a for a in PUBLIC_KEY_ALGORITHMS if self._jwks and a not in self._keys)]
            allowed = " or ".join(algorithms) or HMAC_ALGORITHM
            raise AuthenticationError(f"The bearer token must be signed with {allowed}.")
        required = ["sub"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
        rules = hs256.Rules(self._leeway_s, self._issuer, self._audience, tuple(required))
        if algorithm == HMAC_ALGORITHM:
            return hs256.decode(token, key, rules)
        return decode_with_pyjwt(token, key, str(algorithm), rules)


def decode_with_pyjwt(token: str, key: Any, algorithm: str, rules: hs256.Rules) -> dict[str, Any]:
    """The claims of a token PyJWT verifies (RS256/ES256 here; any algorithm in tests/test_hs256.py), its errors
    turned into the same refusals as gateway/hs256.py's. PyJWT is imported here, on first use."""
    import jwt

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            leeway=rules.leeway_s,
            issuer=rules.issuer,
            audience=rules.audience,
            options={"require": list(rules.required), "verify_aud": rules.audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError(hs256.EXPIRED) from None
    except jwt.ImmatureSignatureError:
        raise AuthenticationError(hs256.NOT_YET_VALID) from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationError(hs256.missing_claim(exc.claim)) from None
    except jwt.InvalidIssuerError:
        raise AuthenticationError(hs256.BAD_ISSUER) from None
    except jwt.InvalidAudienceError:
        raise AuthenticationError(hs256.BAD_AUDIENCE) from None
    except jwt.InvalidTokenError:
        raise AuthenticationError(hs256.INVALID) from None
    return claims


def issue_token(secret: str, *, sub: str, admin: bool = False, ttl_s: int = 86400, now: float | None = None) -> str:
    """A signed HS256 token (the demo prints one; tests use it)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + ttl_s}
    if admin:
        claims["role"] = "admin"
    return hs256.encode(claims, secret)


def random_secret() -> str:
    return secrets.token_urlsafe(48)


def read_public_key(value: str | None) -> str | None:
    """JWT_PUBLIC_KEY holds a PEM, or the path of a file holding one."""
    if not value or "BEGIN" in value:
        return value
    return Path(value).read_text(encoding="utf-8")
