"""The cache through the whole app: OpenAI upstream faked by pytest-httpx, the ASGI client with a token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock, IteratorStream
from starlette.applications import Starlette

from gateway.app import build_app
from gateway.settings import Settings
from tests.conftest import OPENAI_BASE, auth, make_settings
from tests.servers import free_port

pytestmark = pytest.mark.anyio

CHAT_URL = f"{OPENAI_BASE}/chat/completions"
REQUEST: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}
USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
ANSWER = {
    "id": "chatcmpl-up",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
    "usage": USAGE,
}


def sse_frames() -> list[bytes]:
    head = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": USAGE},
    ]
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def events(response: httpx.Response) -> list[Any]:
    """The SSE `data:` payloads, `[DONE]` as the string."""
    out: list[Any] = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return out


def text_of(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if isinstance(c, dict) and c["choices"]
    )


def upstream_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CHAT_URL, json=ANSWER, is_optional=True, is_reusable=True)


def upstream_stream(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=CHAT_URL, stream=IteratorStream(sse_frames()), headers={"content-type": "text/event-stream"}
    )


@pytest.fixture
def admin() -> dict[str, str]:
    return auth("root", admin=True)


async def started_client(settings: Settings) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as c:
            yield app, c


async def test_cache_app_same_request_twice_calls_upstream_once(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    upstream_json(httpx_mock)
    first = await client.post("/v1/chat/completions", json=REQUEST)
    second = await client.post("/api/llm/chat", json={**REQUEST, "user": "ignored", "stream": False})
    assert len(httpx_mock.get_requests()) == 1
    assert first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "hit"
    assert second.json() == first.json() == ANSWER
    assert second.headers["x-gateway-provider"] == "openai"
    assert float(first.headers["x-gateway-cost"]) > 0 and float(second.headers["x-gateway-cost"]) == 0


async def test_cache_app_stream_then_json(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    upstream_stream(httpx_mock)
    streamed = await client.post("/v1/chat/completions", json={**REQUEST, "stream": True})
    assert streamed.headers["x-gateway-cache"] == "miss" and text_of(events(streamed)) == "Hello there"
    hit = await client.post("/v1/chat/completions", json=REQUEST)
    assert hit.headers["x-gateway-cache"] == "hit" and len(httpx_mock.get_requests()) == 1
    body = hit.json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-2024-08-06"
    assert body["choices"][0]["message"]["content"] == "Hello there" and body["usage"] == USAGE


async def test_cache_app_json_then_stream_replays_the_chunk_shape(
    httpx_mock: HTTPXMock, client: httpx.AsyncClient
) -> None:
    upstream_json(httpx_mock)
    await client.post("/v1/chat/completions", json=REQUEST)
    replay = await client.post("/v1/chat/completions", json={**REQUEST, "stream": True})
    assert replay.headers["x-gateway-cache"] == "hit" and replay.headers["content-type"].startswith("text/event-stream")
    chunks = events(replay)
    assert chunks[-1] == "[DONE]" and text_of(chunks) == "Hello there"
    data = chunks[:-1]
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in data)  # not asked for
    assert data[0]["choices"][0]["delta"]["role"] == "assistant"
    assert data[-1]["choices"][0]["finish_reason"] == "stop"
    with_usage = await client.post(
        "/v1/chat/completions", json={**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert events(with_usage)[-2] == {**data[0], "choices": [], "usage": USAGE}
    assert len(httpx_mock.get_requests()) == 1


async def test_cache_app_two_users_do_not_share_entries(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    upstream_json(httpx_mock)
    await client.post("/v1/chat/completions", json=REQUEST)
    bob = await client.post("/v1/chat/completions", json=REQUEST, headers=auth("bob"))
    assert bob.headers["x-gateway-cache"] == "miss" and len(httpx_mock.get_requests()) == 2


async def test_cache_app_global_scope_shares_entries(httpx_mock: HTTPXMock) -> None:
    upstream_json(httpx_mock)
    async for _, c in started_client(make_settings(cache_scope="global")):
        await c.post("/v1/chat/completions", json=REQUEST)
        bob = await c.post("/v1/chat/completions", json=REQUEST, headers=auth("bob"))
        assert bob.headers["x-gateway-cache"] == "hit" and len(httpx_mock.get_requests()) == 1


async def test_cache_app_honours_no_cache_and_no_store(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    upstream_json(httpx_mock)
    unstored = await client.post("/v1/chat/completions", json=REQUEST, headers={"cache-control": "no-store"})
    assert unstored.headers["x-gateway-cache"] == "miss"
    stored = await client.post("/v1/chat/completions", json=REQUEST)
    assert stored.headers["x-gateway-cache"] == "miss"  # the no-store answer was not kept
    fresh = await client.post("/v1/chat/completions", json=REQUEST, headers={"cache-control": "no-cache"})
    assert fresh.headers["x-gateway-cache"] == "bypass"
    assert len(httpx_mock.get_requests()) == 3
    assert (await client.post("/v1/chat/completions", json=REQUEST)).headers["x-gateway-cache"] == "hit"


async def test_cache_app_non_deterministic_requests_bypass(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    upstream_json(httpx_mock)
    for _ in range(2):
        reply = await client.post("/v1/chat/completions", json={**REQUEST, "temperature": 0.8})
        assert reply.headers["x-gateway-cache"] == "bypass"
    assert len(httpx_mock.get_requests()) == 2


async def test_cache_app_disabled_is_out_of_the_pipeline_and_says_bypass(httpx_mock: HTTPXMock) -> None:
    upstream_json(httpx_mock)
    async for app, c in started_client(make_settings(cache_enabled=False)):
        assert app.state.cache is None
        replies = [await c.post("/v1/chat/completions", json=REQUEST) for _ in range(2)]
        assert [r.headers["x-gateway-cache"] for r in replies] == ["bypass", "bypass"]
        assert len(httpx_mock.get_requests()) == 2
        stats = (await c.get("/api/llm/cache/stats")).json()
        assert stats["enabled"] is False and stats["hits"] == 0
        assert (await c.delete("/api/llm/cache", headers=auth("root", admin=True))).json() == {"deleted": 0}


async def test_cache_app_embeddings_are_cached(client: httpx.AsyncClient) -> None:
    request = {"model": "mock/mock-embedding", "input": ["a", "b"]}
    first = await client.post("/v1/embeddings", json=request)
    second = await client.post("/v1/embeddings", json=request)
    assert first.status_code == 200 and second.headers["x-gateway-cache"] == "hit"
    assert second.json() == first.json()


async def test_cache_app_stats_shape(httpx_mock: HTTPXMock, client: httpx.AsyncClient) -> None:
    upstream_json(httpx_mock)
    for _ in range(3):
        await client.post("/v1/chat/completions", json=REQUEST)
    stats = (await client.get("/api/llm/cache/stats")).json()
    assert {"enabled", "strategy", "hits", "misses", "hit_ratio", "entries", "bytes", "tiers"} <= set(stats)
    assert (stats["enabled"], stats["strategy"], stats["hits"], stats["misses"]) == (True, "memory", 2, 1)
    assert stats["hit_ratio"] == 0.6667 and stats["entries"] == 1 and stats["bytes"] > 0
    assert stats["tiers"]["memory"]["entries"] == 1 and stats["tiers"]["redis"] == {"enabled": False}


async def test_cache_app_delete_routes_need_admin(client: httpx.AsyncClient) -> None:
    assert (await client.delete("/api/llm/cache")).status_code == 403
    assert (await client.delete("/api/llm/cache/openai:*")).status_code == 403


async def test_cache_app_delete_by_pattern(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for content in ("one", "two"):
        body = {"model": "mock/echo", "messages": [{"role": "user", "content": content}], "seed": 1}
        await client.post("/v1/chat/completions", json=body)
    await client.post("/v1/embeddings", json={"model": "mock/mock-embedding", "input": "x"})
    assert (await client.delete("/api/llm/cache/mock:ech%3F:*", headers=admin)).json() == {"deleted": 2}
    assert (await client.delete("/api/llm/cache/openai:*", headers=admin)).json() == {"deleted": 0}
    assert (await client.delete("/api/llm/cache", headers=admin)).json() == {"deleted": 1}


@pytest.mark.parametrize("pattern", ["openai:[a-z]*", "a%20b", "x\\y", "*{a,b}"])
async def test_cache_app_delete_refuses_unsafe_patterns(
    client: httpx.AsyncClient, admin: dict[str, str], pattern: str
) -> None:
    response = await client.delete(f"/api/llm/cache/{pattern}", headers=admin)
    assert response.status_code == 400 and response.json()["error"]["param"] == "pattern"


async def test_cache_app_health_component(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health/cache")
    assert response.status_code == 200
    assert response.json()["components"]["cache"]["status"] == "ok"


@pytest.mark.redis
async def test_cache_app_hybrid_shares_entries_across_instances(httpx_mock: HTTPXMock, redis_url: str) -> None:
    upstream_json(httpx_mock)
    settings = make_settings(redis_url=redis_url, cache_strategy="hybrid", cache_prefix=f"test:app:{uuid.uuid4().hex}:")
    async for _, first in started_client(settings):
        await first.post("/v1/chat/completions", json=REQUEST)
        async for app, second in started_client(settings):  # another worker: empty memory, same Redis
            reply = await second.post("/v1/chat/completions", json=REQUEST)
            assert reply.headers["x-gateway-cache"] == "hit" and len(httpx_mock.get_requests()) == 1
            stats = (await second.get("/api/llm/cache/stats")).json()
            assert stats["strategy"] == "hybrid" and stats["tiers"]["redis"]["entries"] == 1
            assert (await second.delete("/api/llm/cache", headers=auth("root", admin=True))).json() == {"deleted": 1}
            assert app.state.cache.store.redis.available
            await app.state.redis.delete(settings.cache_prefix.rstrip(":") + "~generation")


async def test_cache_app_with_redis_unreachable_still_answers(httpx_mock: HTTPXMock) -> None:
    upstream_json(httpx_mock)
    settings = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/15", cache_strategy="hybrid")
    async for _, c in started_client(settings):
        first = await c.post("/v1/chat/completions", json=REQUEST)
        second = await c.post("/v1/chat/completions", json=REQUEST)
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.headers["x-gateway-cache"] == "hit"  # memory still serves
        health = await c.get("/api/health/cache")
        assert health.status_code == 200 and health.json()["components"]["cache"]["status"] == "degraded"
        stats = (await c.get("/api/llm/cache/stats")).json()
        assert stats["tiers"]["redis"]["available"] is False and stats["tiers"]["redis"]["errors"] >= 1
