"""Health with a broken Redis (a closed port, and one that accepts but never answers): `degraded` or 503 as
CONTRACT §3 says, within the bounded timeout, and never a secret in the answer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gateway.app import build_app
from gateway.health import HealthRegistry
from gateway.types import JSON
from tests.conftest import make_settings
from tests.servers import free_port

pytestmark = pytest.mark.anyio

REDIS_PASSWORD = "redis-pass-9f8e7d6c5b4a"
BOUND_S = 2.5  # the registry's 2 s timeout plus scheduling slack


@pytest.fixture
def silent_redis() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


async def client_for(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(redis_url=redis_url, openai_api_key="sk-health-secret-key-123456")
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
async def closed_port_client() -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"):
        yield client


async def timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path)
    return response, time.perf_counter() - started


async def test_health_redis_closed_port_is_degraded_not_down(closed_port_client: httpx.AsyncClient) -> None:
    for path in ("/api/health/detailed", "/api/health/dependencies"):
        response, elapsed = await timed_get(closed_port_client, path)
        assert elapsed < BOUND_S
        assert response.status_code == 200, path  # Redis is optional: the gateway still serves
        body = response.json()
        assert body["status"] == "degraded"
        assert body["components"]["redis"]["status"] == "down"
        assert REDIS_PASSWORD not in response.text and "sk-health-secret" not in response.text


async def test_health_redis_component_asked_by_name_is_503(closed_port_client: httpx.AsyncClient) -> None:
    response, elapsed = await timed_get(closed_port_client, "/api/health/redis")
    assert elapsed < BOUND_S
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert REDIS_PASSWORD not in response.text


async def test_health_liveness_does_no_io(closed_port_client: httpx.AsyncClient) -> None:
    response, elapsed = await timed_get(closed_port_client, "/api/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert elapsed < 0.1


async def test_health_hung_redis_answers_within_the_bound(silent_redis: int) -> None:
    async for client in client_for(f"redis://127.0.0.1:{silent_redis}/0"):
        response, elapsed = await timed_get(client, "/api/health/dependencies")
        assert elapsed < BOUND_S
        assert response.status_code == 200
        assert response.json()["components"]["redis"]["status"] == "down"
        response, elapsed = await timed_get(client, "/api/health/redis")
        assert response.status_code == 503 and elapsed < BOUND_S


async def test_health_registry_times_out_a_hanging_check() -> None:
    registry = HealthRegistry(timeout_s=0.1)

    async def hangs() -> JSON:
        await asyncio.sleep(60)
        return {"status": "ok"}

    registry.add("ledger", hangs)
    started = time.perf_counter()
    status, body = await registry.report(registry.names())
    assert time.perf_counter() - started < 1
    assert status == 503 and body["status"] == "down"
    assert body["components"]["ledger"]["error"] == "no answer within 0.1 s"


async def test_health_registry_cached_check_spares_the_vendor() -> None:
    registry = HealthRegistry()
    calls = 0

    async def vendor() -> JSON:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"status": "ok", "latency_ms": 50}

    registry.add("vendor", vendor, cache_s=30)
    results = await asyncio.gather(*(registry.report(["vendor"]) for _ in range(5)))  # concurrent polls
    results.append(await registry.report(["vendor"]))  # a later poll
    assert calls == 1
    assert all(status == 200 for status, _ in results)
    assert results[-1][1]["components"]["vendor"]["cached"] is True
