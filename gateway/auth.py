"""Bearer JWT verification (CONTRACT §5): HS256 only, `exp`/`nbf` honoured, `sub` is the user.

Verified tokens are remembered until they expire (bounded), so a client reusing its token pays the HMAC once.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

from gateway.errors import AuthenticationError
from gateway.types import Principal

ALGORITHMS = ["HS256"]  # pinned: `none`, RS/HS confusion and every other algorithm are refused
CACHE_LIMIT = 10_000
LEEWAY_S = 5


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthenticationError("The token has no `sub` (user id) claim.")
    roles = claims.get("roles")
    is_admin = claims.get("role") == "admin" or (isinstance(roles, list) and "admin" in roles)
    return Principal(user=sub, is_admin=is_admin)


class TokenVerifier:
    def __init__(self, secret: str, *, clock: Any = time.time) -> None:
        self._secret = secret
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        now = self._clock()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=ALGORITHMS,
                leeway=LEEWAY_S,
                options={"require": ["sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The bearer token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("The bearer token is not valid yet (nbf).") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError("The bearer token must be signed with HS256.") from None
        except jwt.MissingRequiredClaimError:
            raise AuthenticationError("The token has no `sub` (user id) claim.") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("The bearer token is invalid.") from None
        principal = principal_from_claims(claims)
        exp = claims.get("exp")
        # a token without exp is cached briefly only, so a rotated secret takes effect soon
        until = min(float(exp) + LEEWAY_S, now + 3600) if isinstance(exp, int | float) else now + 60
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = (principal, until)
        return principal


def issue_token(secret: str, *, sub: str, admin: bool = False, ttl_s: int = 86400, now: float | None = None) -> str:
    """A signed HS256 token (the demo prints one; tests use it)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": issued, "exp": issued + ttl_s}
    if admin:
        claims["role"] = "admin"
    return jwt.encode(claims, secret, algorithm="HS256")


def random_secret() -> str:
    return secrets.token_urlsafe(48)
