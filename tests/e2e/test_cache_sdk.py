"""The cache seen through the official openai SDK (over ASGI; the OpenAI upstream faked by pytest-httpx)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx2  # the HTTP client package of openai>=3 (its own httpx fork)
import openai
import pytest
from pytest_httpx import HTTPXMock, IteratorStream
from starlette.applications import Starlette

from tests.cache.test_app import ANSWER, CHAT_URL, sse_frames
from tests.conftest import token

pytestmark = pytest.mark.anyio

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]

SDKFactory = Callable[[str], openai.AsyncOpenAI]


@pytest.fixture
async def sdk_for(app: Starlette) -> AsyncIterator[SDKFactory]:
    clients: list[httpx2.AsyncClient] = []

    def make(user: str) -> openai.AsyncOpenAI:
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
        clients.append(http)
        return openai.AsyncOpenAI(
            base_url="http://gateway.test/v1", api_key=token(user), http_client=http, max_retries=0
        )

    yield make
    for http in clients:
        await http.aclose()


async def test_cache_sdk_same_request_twice_is_one_upstream_call(httpx_mock: HTTPXMock, sdk_for: SDKFactory) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER)
    sdk = sdk_for("alice")
    first = await sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    second = await sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    assert [first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]] == ["miss", "hit"]
    assert second.parse().choices[0].message.content == "Hello there"
    assert len(httpx_mock.get_requests()) == 1


async def test_cache_sdk_stream_then_json(httpx_mock: HTTPXMock, sdk_for: SDKFactory) -> None:
    httpx_mock.add_response(
        url=CHAT_URL, stream=IteratorStream(sse_frames()), headers={"content-type": "text/event-stream"}
    )
    sdk = sdk_for("alice")
    stream = await sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "Hello there"
    answer = await sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    assert answer.choices[0].message.content == "Hello there" and answer.usage is not None
    assert len(httpx_mock.get_requests()) == 1


async def test_cache_sdk_json_then_stream(httpx_mock: HTTPXMock, sdk_for: SDKFactory) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER)
    sdk = sdk_for("alice")
    await sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    stream = await sdk.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, temperature=0, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 11
    assert len(httpx_mock.get_requests()) == 1


async def test_cache_sdk_users_do_not_share_entries(httpx_mock: HTTPXMock, sdk_for: SDKFactory) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER, is_reusable=True)
    for user in ("alice", "bob"):
        raw = await sdk_for(user).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, temperature=0
        )
        assert raw.headers["x-gateway-cache"] == "miss"
    assert len(httpx_mock.get_requests()) == 2
