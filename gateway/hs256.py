"""HS256 tokens (JWT_SECRET) checked with the standard library, exactly as `jwt.decode(token, secret,
algorithms=["HS256"], ...)` checks them, so that a gateway with a shared secret never imports PyJWT: PyJWT's
import loads `cryptography`, ≈ 9 MiB of RSS in every worker (bench/README.md, "Memory and scaling"). RS256/ES256
(JWT_PUBLIC_KEY, JWT_JWKS_URL) still go through PyJWT, imported on that path only (gateway/auth.py).

The checks follow PyJWT 2.x step by step: strict base64url segments (at most two `=`, canonical encoding), a JSON
object header whose `kid` is a string and whose `crit` names only a present `b64`, no detached payload, the
signature (constant time), a JSON object payload, then the claims in PyJWT's order: required, `iat`, `nbf`,
`exp` (leeway on each), `iss`, `aud`, `sub` and `jti` types. tests/test_hs256.py holds every answer to PyJWT's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.errors import AuthenticationError

ALGORITHM = "HS256"
INVALID = "The bearer token is invalid."
EXPIRED = "The bearer token has expired."
NOT_YET_VALID = "The bearer token is not valid yet (nbf)."
BAD_ISSUER = "The token's issuer (iss) is not accepted."
BAD_AUDIENCE = "The token's audience (aud) is not accepted."

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_HEADER = b'{"alg":"HS256","typ":"JWT"}'  # what PyJWT writes (sorted keys, no spaces)


def missing_claim(claim: str) -> str:
    return f"The token has no `{claim}` claim."


@dataclass(frozen=True, slots=True)
class Rules:
    """What a valid token's claims must satisfy (the same for every algorithm)."""

    leeway_s: float = 0.0
    issuer: str | None = None
    audience: str | None = None
    required: Sequence[str] = ()


class _InvalidError(Exception):
    """Anything PyJWT reports as a plain invalid token."""


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _segment(segment: bytes) -> bytes:
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1 or not _ALPHABET.issuperset(stripped):
        raise _InvalidError
    try:
        decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
    except binascii.Error:
        raise _InvalidError from None
    if _b64encode(decoded) != stripped:  # a non-canonical encoding (stray low bits) is refused
        raise _InvalidError
    return decoded


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise _InvalidError from None
    if not isinstance(value, dict):
        raise _InvalidError
    return value


def _load(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """(header, payload, signing input, signature) of a compact token, its header checked."""
    data = token.encode("utf-8")
    signing_input, dot, crypto = data.rpartition(b".")
    header_part, dot2, payload_part = signing_input.partition(b".")
    if not dot or not dot2:
        raise _InvalidError
    header = _json_object(_segment(header_part))
    if header.get("b64", True) is False:  # an unencoded (detached) payload: never valid for a bearer token
        if payload_part:
            raise _InvalidError
        payload = b""
    else:
        payload = _segment(payload_part)
    signature = _segment(crypto)
    if "kid" in header and not isinstance(header["kid"], str):
        raise _InvalidError
    if "crit" in header:
        crit = header["crit"]
        if not isinstance(crit, list) or not crit or any(ext != "b64" or ext not in header for ext in crit):
            raise _InvalidError
    return header, payload, signing_input, signature


def header(token: str) -> dict[str, Any]:
    """The unverified header (picks the algorithm and key); raises AuthenticationError like PyJWT would."""
    try:
        return _load(token)[0]
    except _InvalidError:
        raise AuthenticationError(INVALID) from None


def decode(token: str, secret: str, rules: Rules) -> dict[str, Any]:
    """The claims of an HS256 token signed with `secret`; AuthenticationError with the reason otherwise."""
    try:
        head, payload, signing_input, signature = _load(token)
        if head.get("b64", True) is False or head.get("alg") != ALGORITHM:
            raise _InvalidError
        if not hmac.compare_digest(signature, _sign(secret, signing_input)):
            raise _InvalidError
        claims = _json_object(payload)
        _check_claims(claims, rules)
    except _InvalidError:
        raise AuthenticationError(INVALID) from None
    return claims


def _sign(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise _InvalidError from None


def _check_claims(claims: dict[str, Any], rules: Rules) -> None:
    for claim in rules.required:
        if claims.get(claim) is None:
            raise AuthenticationError(missing_claim(claim))
    now = time.time()
    if "iat" in claims and _as_int(claims["iat"]) > now + rules.leeway_s:
        raise AuthenticationError(NOT_YET_VALID)  # PyJWT: "not yet valid (iat)", the same refusal
    if "nbf" in claims and _as_int(claims["nbf"]) > now + rules.leeway_s:
        raise AuthenticationError(NOT_YET_VALID)
    if "exp" in claims and _as_int(claims["exp"]) <= now - rules.leeway_s:
        raise AuthenticationError(EXPIRED)
    if rules.issuer is not None:
        if "iss" not in claims:
            raise AuthenticationError(missing_claim("iss"))
        if claims["iss"] != rules.issuer:  # a non-string iss never equals the configured string
            raise AuthenticationError(BAD_ISSUER)
    if rules.audience is not None:
        _check_audience(claims.get("aud"), rules.audience)
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise _InvalidError
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise _InvalidError


def _check_audience(aud: Any, audience: str) -> None:
    if not aud:
        raise AuthenticationError(missing_claim("aud"))
    claimed = [aud] if isinstance(aud, str) else aud
    if not isinstance(claimed, list) or any(not isinstance(c, str) for c in claimed) or audience not in claimed:
        raise AuthenticationError(BAD_AUDIENCE)


def encode(claims: dict[str, Any], secret: str) -> str:
    """A signed HS256 token, byte for byte what `jwt.encode(claims, secret, algorithm="HS256")` returns."""
    signing_input = _b64encode(_HEADER) + b"." + _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    return (signing_input + b"." + _b64encode(_sign(secret, signing_input))).decode()
