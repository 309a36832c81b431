"""gateway/hs256.py against PyJWT: every token gets the same answer (the claims, or the same refusal) from the
standard-library HS256 check as from `jwt.decode` through `decode_with_pyjwt`, and the same unverified header."""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import hs256
from gateway.auth import decode_with_pyjwt, issue_token
from gateway.errors import AuthenticationError

SECRET = "hs256-test-secret-0123456789abcdef0123456789abcdef0123456789"
NOW = int(time.time())
RULES = [
    hs256.Rules(5.0, None, None, ("sub",)),
    hs256.Rules(0.0, "https://issuer.example", None, ("sub", "iss")),
    hs256.Rules(5.0, None, "gateway", ("sub", "aud")),
    hs256.Rules(5.0, "", "", ("sub",)),  # configured but empty: PyJWT still compares them
]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw(header: Any, claims: Any, *, secret: str = SECRET, sign: bool = True) -> str:
    """A token with any header and payload (even invalid JSON shapes), signed with HMAC-SHA256."""
    head = b64(json.dumps(header).encode() if not isinstance(header, bytes) else header)
    body = b64(json.dumps(claims).encode() if not isinstance(claims, bytes) else claims)
    signing_input = f"{head}.{body}"
    signature = jwt.api_jws.get_algorithm_by_name("HS256").sign(signing_input.encode(), secret.encode())
    return f"{signing_input}.{b64(signature) if sign else ''}"


def outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except AuthenticationError as exc:
        return ("refused", exc.message)


def same_answer(token: str) -> None:
    for rules in RULES:
        ours = outcome(lambda rules=rules: hs256.decode(token, SECRET, rules))
        theirs = outcome(lambda rules=rules: decode_with_pyjwt(token, SECRET, "HS256", rules))
        assert ours == theirs, (token, rules)
    try:
        expected: Any = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        expected = "invalid"
    assert outcome(lambda: hs256.header(token)) == (
        ("ok", expected) if expected != "invalid" else ("refused", hs256.INVALID)
    )


GOOD = {"sub": "alice", "exp": NOW + 3600}
HEADER = {"alg": "HS256", "typ": "JWT"}

CLAIMS = [
    GOOD,
    {"sub": "alice"},
    {"exp": NOW + 3600},
    {"sub": None, "exp": NOW + 3600},
    {"sub": 123, "exp": NOW + 3600},
    {"sub": "alice", "exp": NOW - 3600},
    {"sub": "alice", "exp": NOW - 2},  # inside the 5 s leeway of some rules, outside the 0 s of another
    {"sub": "alice", "exp": str(NOW + 3600)},
    {"sub": "alice", "exp": "soon"},
    {"sub": "alice", "exp": float(NOW + 3600)},
    {"sub": "alice", "exp": [1]},
    {"sub": "alice", "exp": True},
    {"sub": "alice", "nbf": NOW + 3600},
    {"sub": "alice", "nbf": NOW + 2},
    {"sub": "alice", "nbf": NOW - 60},
    {"sub": "alice", "nbf": "later"},
    {"sub": "alice", "iat": NOW + 3600},
    {"sub": "alice", "iat": NOW - 60},
    {"sub": "alice", "iat": "x"},
    {"sub": "alice", "iat": None},
    {"sub": "alice", "iss": "https://issuer.example"},
    {"sub": "alice", "iss": "https://other.example"},
    {"sub": "alice", "iss": ["https://issuer.example"]},
    {"sub": "alice", "iss": ""},
    {"sub": "alice", "aud": "gateway"},
    {"sub": "alice", "aud": ["other", "gateway"]},
    {"sub": "alice", "aud": ["other"]},
    {"sub": "alice", "aud": ["gateway", 1]},
    {"sub": "alice", "aud": {"gateway": 1}},
    {"sub": "alice", "aud": ""},
    {"sub": "alice", "aud": []},
    {"sub": "alice", "jti": "id-1"},
    {"sub": "alice", "jti": 7},
    {"sub": "alice", "role": "admin", "roles": ["admin"]},
]

HEADERS = [
    HEADER,
    {"alg": "HS256"},
    {"alg": "HS256", "kid": "k1"},
    {"alg": "HS256", "kid": 1},
    {"alg": "HS256", "crit": ["b64"], "b64": True},
    {"alg": "HS256", "crit": ["b64"]},
    {"alg": "HS256", "crit": []},
    {"alg": "HS256", "crit": "b64", "b64": True},
    {"alg": "HS256", "crit": ["exp"], "exp": 1},
    {"alg": "HS256", "crit": [1]},
    {"alg": "HS256", "b64": False},
    {"alg": "HS256", "b64": False, "crit": ["b64"]},
    {"alg": "HS512"},
    {"alg": "none"},
    {},
    ["HS256"],
    "HS256",
]


@pytest.mark.parametrize("claims", CLAIMS)
def test_claims_get_the_same_answer(claims: dict[str, Any]) -> None:
    same_answer(raw(HEADER, claims))


@pytest.mark.parametrize("header", HEADERS)
def test_headers_get_the_same_answer(header: Any) -> None:
    same_answer(raw(header, GOOD))


def test_detached_payload_form_gets_the_same_answer() -> None:
    token = raw({"alg": "HS256", "b64": False, "crit": ["b64"]}, GOOD)
    head, _, signature = token.split(".")
    same_answer(f"{head}..{signature}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        raw(HEADER, GOOD, secret="another-secret-0123456789abcdef0123456789"),
        raw(HEADER, GOOD, sign=False),
        raw(HEADER, b"not json"),
        raw(HEADER, b"[1, 2]"),
        raw(HEADER, b'{"sub": "alice", "sub": 5}'),
        raw(HEADER, b'{"sub": "alice", "exp": NaN}'),
        raw(HEADER, b'{"sub": "alice", "exp": 1e400}'),
        raw(HEADER, b"[" * 100_000 + b"]" * 100_000),
        raw(b"{not json", GOOD),
        raw(HEADER, GOOD) + "=",
        raw(HEADER, GOOD) + "==",
        raw(HEADER, GOOD) + "===",
        raw(HEADER, GOOD)[:-1],
        raw(HEADER, GOOD) + "A",
        raw(HEADER, GOOD).replace(".", "=.", 1),
        raw(HEADER, GOOD).replace(".", "==.", 1),
        raw(HEADER, GOOD).replace("-", "+").replace("_", "/"),
        raw(HEADER, GOOD) + "!",
        " " + raw(HEADER, GOOD),
        raw(HEADER, GOOD) + "\u00e9",
        jwt.encode(GOOD, SECRET, algorithm="HS256"),
        jwt.encode(GOOD, SECRET, algorithm="HS256", headers={"kid": "k"}),
        jwt.encode(GOOD, SECRET, algorithm="HS384"),
    ],
)
def test_malformed_tokens_get_the_same_answer(token: str) -> None:
    same_answer(token)


def test_a_non_canonical_last_character_is_refused_like_pyjwt() -> None:
    token = raw(HEADER, GOOD)
    head, body, signature = token.split(".")
    # the last base64url character of a 32-byte signature carries 2 unused bits: flipping them keeps the bytes
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(signature[-1])
    for low in range(4):
        tweaked = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[(last & ~3) | low]
        same_answer(f"{head}.{body}.{signature[:-1]}{tweaked}")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.sampled_from("ABCxyz019-_.=+/! "), st.booleans())
def test_mutated_tokens_get_the_same_answer(position: int, char: str, insert: bool) -> None:
    token = raw(HEADER, GOOD)
    i = position % (len(token) + 1)
    same_answer(token[:i] + char + token[i + (0 if insert else 1) :])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJabcdefghij0123456789-_.=", max_size=60))
def test_random_strings_get_the_same_answer(token: str) -> None:
    same_answer(token)


@pytest.mark.parametrize("claims", [GOOD, {"sub": "bob", "iat": NOW, "exp": NOW + 60, "role": "admin"}, {"x": "é"}])
def test_encode_writes_the_same_bytes_as_pyjwt(claims: dict[str, Any]) -> None:
    assert hs256.encode(claims, SECRET) == jwt.encode(claims, SECRET, algorithm="HS256")


def test_issued_tokens_verify() -> None:
    token = issue_token(SECRET, sub="carol", admin=True)
    assert hs256.decode(token, SECRET, RULES[0])["sub"] == "carol"
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["role"] == "admin"


def test_hs256_alone_never_imports_pyjwt() -> None:
    """The point of gateway/hs256.py: with JWT_SECRET alone, PyJWT (and the `cryptography` it loads) stays out."""
    import subprocess

    code = (
        "import sys; from gateway.app import build_app; from gateway.settings import Settings; "
        "from gateway.auth import TokenVerifier, issue_token; "
        f"build_app(Settings(jwt_secret={SECRET!r}, mock_provider=True, cost_db_path=':memory:')); "
        f"TokenVerifier({SECRET!r}).verify(issue_token({SECRET!r}, sub='a')); "
        "print(sorted(m for m in ('jwt',) if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
