"""Two gateway instances with separate memory sharing one Redis admit exactly N per window in total, under
concurrent load from many clients; and an app whose Redis is down keeps serving under local limits."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import anyio
import httpx
import pytest

from gateway.app import build_app
from gateway.settings import Settings
from tests.conftest import auth, make_settings

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

CHAT = {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}


@contextlib.asynccontextmanager
async def replicas(settings: Settings, n: int = 2) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`n` apps built from the same settings: separate memory, separate Redis connections, one Redis."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for i in range(n):
            app = build_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=(f"203.0.113.{i}", 1000))
            client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")
            clients.append(await stack.enter_async_context(client))
        yield clients


@pytest.fixture
def shared(redis_url: str) -> Settings:
    return make_settings(redis_url=redis_url, rate_limit_prefix=f"test:rl:{uuid.uuid4().hex}:")


async def storm(
    clients: list[httpx.AsyncClient], per_client: int, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]
) -> Counter[int]:
    """`per_client` requests from each of 10 callers per replica, all at once."""
    statuses: Counter[int] = Counter()

    async def caller(client: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            response = await send(client)
            statuses[response.status_code] += 1

    async with anyio.create_task_group() as group:
        for client in clients:
            for _ in range(10):
                group.start_soon(caller, client)
    return statuses


async def test_replicas_share_the_llm_limit_exactly(shared: Settings) -> None:
    settings = replace(shared, llm_rate_limit_max_requests=25, llm_rate_limit_window_ms=600_000)
    async with replicas(settings) as clients:
        headers = auth("team")
        statuses = await storm(clients, 6, lambda c: c.post("/v1/chat/completions", json=CHAT, headers=headers))
        assert statuses == Counter({200: 25, 429: 95})


async def test_replicas_share_the_general_limit_exactly(shared: Settings) -> None:
    settings = replace(shared, rate_limit_max_requests=30, rate_limit_window_ms=600_000)
    async with replicas(settings) as clients:
        headers = auth("someone")
        statuses = await storm(clients, 5, lambda c: c.get("/v1/models", headers=headers))
        assert statuses == Counter({200: 30, 429: 70})


async def test_replicas_fall_back_to_local_limits_when_redis_is_down() -> None:
    settings = make_settings(
        redis_url="redis://127.0.0.1:1/15", llm_rate_limit_max_requests=3, llm_rate_limit_window_ms=600_000
    )
    async with replicas(settings, n=1) as clients:
        client = clients[0]
        statuses = [
            (await client.post("/v1/chat/completions", json=CHAT, headers=auth("solo"))).status_code for _ in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]  # no 5xx: served, under this process's own bound
        health = (await client.get("/api/health/detailed")).json()
        assert health["components"]["rate_limits"]["status"] == "degraded"


async def test_replicas_fail_closed_refuse_with_503_when_redis_is_down() -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/15", rate_limit_fail="closed")
    async with replicas(settings, n=1) as clients:
        refused = await clients[0].get("/v1/models", headers=auth("solo"))
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "rate_limiter_unavailable"
        assert (await clients[0].get("/api/health")).status_code == 200  # health is never limited
