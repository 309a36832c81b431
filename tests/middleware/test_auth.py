from __future__ import annotations

import base64
import time

import httpx
import jwt
import orjson
import pytest

from tests.conftest import SECRET, token

pytestmark = pytest.mark.anyio

CHAT = {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}


def unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


NOW = int(time.time())


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (None, "Missing bearer token"),
        ("Basic abc", "must be `Bearer <token>`"),
        ("Bearer ", "must be `Bearer <token>`"),
        ("Bearer not-a-jwt", "invalid"),
        (
            "Bearer "
            + jwt.encode({"sub": "a", "exp": NOW + 60}, "wrong-secret-wrong-secret-wrong!!", algorithm="HS256"),
            "invalid",
        ),
        (f"Bearer {jwt.encode({'sub': 'a', 'exp': NOW - 3600}, SECRET, algorithm='HS256')}", "expired"),
        (f"Bearer {jwt.encode({'sub': 'a', 'nbf': NOW + 3600}, SECRET, algorithm='HS256')}", "not valid yet"),
        (f"Bearer {jwt.encode({'sub': 'a'}, SECRET, algorithm='HS512')}", "HS256"),
        (f"Bearer {unsigned({'sub': 'admin', 'role': 'admin'})}", "HS256"),
        (f"Bearer {jwt.encode({'role': 'admin'}, SECRET, algorithm='HS256')}", "sub"),
    ],
)
async def test_auth_refuses_bad_tokens_with_401(
    client: httpx.AsyncClient, authorization: str | None, fragment: str
) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://gateway.test", headers=headers
    ) as anonymous:
        response = await anonymous.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
    assert fragment in error["message"]


async def test_auth_public_routes_need_no_token(client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://gateway.test") as anonymous:
        assert (await anonymous.get("/api/health")).status_code == 200
        assert (await anonymous.get("/api/health/detailed")).status_code == 200


async def test_auth_valid_token_reaches_route(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {token('bob')}"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"
