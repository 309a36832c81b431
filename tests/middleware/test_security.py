"""HTTP hardening: security headers, header limits, CORS, slow bodies, and the JWT options (issue 9)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.app import build_app
from gateway.settings import Settings
from tests.conftest import SECRET, auth, make_settings

pytestmark = pytest.mark.anyio
CHAT = {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            yield c


async def test_security_headers_on_success_and_error(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/api/health"), await client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers


async def test_hsts_only_when_configured() -> None:
    async for c in client_for(make_settings(hsts=True)):
        assert "max-age=" in (await c.get("/api/health")).headers["strict-transport-security"]


async def test_too_many_headers_is_431(client: httpx.AsyncClient) -> None:
    headers = {f"x-h{i}": "v" for i in range(150)}
    response = await client.get("/api/health", headers=headers)
    assert response.status_code == 431 and response.json()["error"]["code"] == "request_header_fields_too_large"
    big = await client.get("/api/health", headers={"x-big": "v" * 20000})
    assert big.status_code == 431


async def test_cors_preflight_only_for_configured_origins() -> None:
    async for c in client_for(make_settings(cors_origins=("https://app.example",))):
        preflight = {
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        }
        allowed = await c.options("/v1/chat/completions", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in allowed.headers
        refused = await c.options("/v1/chat/completions", headers={**preflight, "origin": "https://evil.example"})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        # CORS is outermost: a browser can read the gateway's own refusals (401 here) too
        denied = await c.post("/v1/chat/completions", json=CHAT, headers={"origin": "https://app.example"})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == "https://app.example"
        assert denied.headers["x-request-id"].startswith("req_")
    async for c in client_for(make_settings()):  # no CORS_ORIGINS: no CORS headers at all
        response = await c.get("/api/health", headers={"origin": "https://app.example"})
        assert "access-control-allow-origin" not in response.headers


async def test_slow_body_gets_408() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"model": "mock/echo", '
        await asyncio.sleep(0.5)
        yield b'"messages": []}'

    async for c in client_for(make_settings(body_read_timeout_s=0.1)):
        response = await c.post("/v1/chat/completions", content=trickle(), headers=auth())
        assert response.status_code == 408 and response.json()["error"]["code"] == "request_timeout"


def rsa_pair() -> tuple[Any, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public_pem


async def test_rs256_with_public_key_and_no_rs_hs_confusion() -> None:
    private, public_pem = rsa_pair()
    now = int(time.time())
    async for c in client_for(make_settings(jwt_public_key=public_pem)):
        good = jwt.encode({"sub": "rsa-user", "exp": now + 60}, private, algorithm="RS256")
        assert (
            await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {good}"})
        ).status_code == 200
        # the classic confusion: an HS256 token whose HMAC key is the public key PEM
        body = jwt.utils.base64url_encode(b'{"sub":"admin","role":"admin"}').decode()
        header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
        import hashlib
        import hmac

        signature = jwt.utils.base64url_encode(
            hmac.new(public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
        ).decode()
        response = await c.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {header}.{body}.{signature}"}
        )
        assert response.status_code == 401


async def test_issuer_and_audience_enforced_when_configured() -> None:
    now = int(time.time())
    async for c in client_for(make_settings(jwt_issuer="https://idp.example", jwt_audience="llm-gateway")):

        def bearer(**claims: Any) -> dict[str, str]:
            return {
                "authorization": "Bearer "
                + jwt.encode({"sub": "u", "exp": now + 60, **claims}, SECRET, algorithm="HS256")
            }

        ok = await c.post(
            "/v1/chat/completions", json=CHAT, headers=bearer(iss="https://idp.example", aud="llm-gateway")
        )
        assert ok.status_code == 200
        for claims, fragment in (
            ({"aud": "llm-gateway"}, "iss"),
            ({"iss": "https://idp.example"}, "aud"),
            ({"iss": "https://evil", "aud": "llm-gateway"}, "issuer"),
            ({"iss": "https://idp.example", "aud": "other"}, "audience"),
        ):
            response = await c.post("/v1/chat/completions", json=CHAT, headers=bearer(**claims))
            assert response.status_code == 401 and fragment in response.json()["error"]["message"]


async def test_leeway_accepts_small_clock_skew() -> None:
    now = int(time.time())
    async for c in client_for(make_settings(jwt_leeway_s=30)):
        skewed = jwt.encode({"sub": "u", "exp": now - 10}, SECRET, algorithm="HS256")
        assert (
            await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {skewed}"})
        ).status_code == 200


async def test_openapi_document_lists_routes_and_request_schemas(client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://gateway.test") as anonymous:
        response = await anonymous.get("/openapi.json")  # public
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatRequest"}
    assert "messages" in doc["components"]["schemas"]["ChatRequest"]["required"]
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert doc["paths"]["/api/llm/models/{provider}"]["get"]["parameters"][0]["name"] == "provider"


async def test_jwks_keys_verify_rs256_and_unknown_kid_is_refused() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.servers import serve_in_thread

    private, _ = rsa_pair()
    jwk = orjson.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    fetches: list[int] = []

    async def jwks(request: Request) -> JSONResponse:
        fetches.append(1)
        return JSONResponse({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    now = int(time.time())
    with serve_in_thread(Starlette(routes=[Route("/jwks.json", jwks)])) as idp:
        settings = make_settings(jwt_jwks_url=f"{idp}/jwks.json", fetch_allowed_networks=("127.0.0.1/32",))
        async for c in client_for(settings):
            good = jwt.encode({"sub": "sso-user", "exp": now + 60}, private, algorithm="RS256", headers={"kid": "k1"})
            response = await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {good}"})
            assert response.status_code == 200
            stranger, _ = rsa_pair()
            forged = jwt.encode({"sub": "x", "exp": now + 60}, stranger, algorithm="RS256", headers={"kid": "k2"})
            refused = await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {forged}"})
            assert refused.status_code == 401 and "unknown key" in refused.json()["error"]["message"]
            again = jwt.encode({"sub": "x", "exp": now + 60}, stranger, algorithm="RS256", headers={"kid": "k3"})
            await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {again}"})
            assert len(fetches) == 1  # unknown kids refresh the set at most every 30 s: no fetch flood
            wrong_key = jwt.encode({"sub": "x", "exp": now + 60}, stranger, algorithm="RS256", headers={"kid": "k1"})
            bad = await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {wrong_key}"})
            assert bad.status_code == 401


async def test_jwks_on_a_private_address_is_refused_by_default() -> None:
    from tests.servers import free_port

    settings = make_settings(jwt_jwks_url=f"http://127.0.0.1:{free_port()}/jwks.json")
    private, _ = rsa_pair()
    token_ = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, private, algorithm="RS256", headers={"kid": "k1"})
    async for c in client_for(settings):
        response = await c.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {token_}"})
        assert response.status_code == 401
