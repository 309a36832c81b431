"""The hybrid and redis strategies against the real Redis, and a Redis that stops answering mid-run:
requests go on (memory only, or pass-through), and the cache comes back when Redis does."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
from redis.asyncio import Redis

from gateway.cache.entry import Entry
from gateway.cache.hybrid import TieredCache
from gateway.cache.memory import MemoryLRU
from gateway.cache.redis_store import RedisStore
from gateway.cache.routes import cache_health
from gateway.layers.cache import Cache
from tests.cache.redis_proxy import PausableProxy
from tests.layers.test_cache import Upstream, call

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


def entry(ttl: float = 30.0) -> Entry:
    now = time.time()
    return Entry(b'{"answer":1}', now, now + ttl)


def hybrid(client: Redis, prefix: str, *, timeout_s: float = 0.25, retry_s: float = 1.0) -> TieredCache:
    remote = RedisStore(client, prefix=prefix, timeout_s=timeout_s, retry_s=retry_s)
    return TieredCache(memory=MemoryLRU(max_entries=100, max_bytes=1 << 20), redis=remote)


async def test_hybrid_writes_both_tiers(redis_client: Redis, prefix: str) -> None:
    store = hybrid(redis_client, prefix)
    await store.put("openai:gpt-4o:k", entry())
    assert store.memory is not None and len(store.memory) == 1
    assert await redis_client.exists(prefix + "openai:gpt-4o:k") == 1


async def test_hybrid_promotes_a_redis_hit_into_memory(redis_client: Redis, prefix: str) -> None:
    other_worker, this_worker = hybrid(redis_client, prefix), hybrid(redis_client, prefix)
    stored = entry()
    await other_worker.put("openai:gpt-4o:k", stored)
    assert await this_worker.get("openai:gpt-4o:k") == stored
    assert this_worker.memory is not None and this_worker.memory.get("openai:gpt-4o:k") == stored
    assert this_worker.redis is not None and this_worker.redis.hits == 1


async def test_hybrid_put_soon_reaches_redis_and_delete_counts_distinct_keys(redis_client: Redis, prefix: str) -> None:
    store = hybrid(redis_client, prefix)
    store.put_soon("openai:gpt-4o:a", entry())
    store.put_soon("mock:echo:b", entry())
    assert await store.delete("openai:*") == 1  # waits for the pending writes first; one key in two tiers
    assert await redis_client.exists(prefix + "openai:gpt-4o:a") == 0
    assert await store.delete() == 1


async def test_redis_strategy_shares_entries_between_layers(redis_client: Redis, prefix: str) -> None:
    upstream = Upstream()
    first = Cache(TieredCache(memory=None, redis=RedisStore(redis_client, prefix=prefix)), ttl_s=60)
    second = Cache(TieredCache(memory=None, redis=RedisStore(redis_client, prefix=prefix)), ttl_s=60)
    await first(call(), upstream)
    reply = await second(call(), upstream)
    assert reply.headers["x-gateway-cache"] == "hit" and upstream.calls == 1


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[PausableProxy]:
    parsed = urlparse(redis_url)
    server = PausableProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379)
    await server.start()
    yield server
    server.resume()
    await server.aclose()


@pytest.fixture
async def proxied(proxy: PausableProxy, redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    db = urlparse(redis_url).path or "/15"
    client = Redis.from_url(f"redis://127.0.0.1:{proxy.port}{db}", socket_timeout=0.2, socket_connect_timeout=0.2)
    yield client
    await client.aclose()


async def test_hybrid_survives_redis_hanging_mid_run_and_recovers(
    proxy: PausableProxy, proxied: Redis, redis_client: Redis, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.cache.redis_store")
    store = hybrid(proxied, prefix, timeout_s=0.1, retry_s=0.05)
    cache, upstream = Cache(store, ttl_s=60), Upstream()
    assert store.redis is not None
    await cache(call(user="before"), upstream)
    assert store.redis.writes == 1

    proxy.pause()
    started = time.monotonic()
    replies = [await cache(call(user=f"during-{i}"), upstream) for i in range(5)]
    assert all(r.headers["x-gateway-cache"] == "miss" and r.body for r in replies)
    assert (await cache(call(user="during-0"), upstream)).headers["x-gateway-cache"] == "hit"  # memory still serves
    assert time.monotonic() - started < 1.5  # each Redis call bounded; skipped once the outage is known
    assert not store.redis.available
    assert (await cache_health(cache)())["status"] == "degraded"

    proxy.resume()
    await asyncio.sleep(0.06)  # past retry_s
    await cache(call(user="after"), upstream)
    assert store.redis.available
    assert store.redis.writes == 2  # before and after the outage; nothing was written during it
    assert len([k async for k in redis_client.scan_iter(match=prefix + "*")]) == 2
    assert (await cache_health(cache)())["status"] == "ok"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in m for m in messages) == 1 and sum("recovered" in m for m in messages) == 1


async def test_redis_strategy_passes_through_while_redis_hangs(
    proxy: PausableProxy, proxied: Redis, prefix: str
) -> None:
    store = TieredCache(memory=None, redis=RedisStore(proxied, prefix=prefix, timeout_s=0.1, retry_s=0.05))
    cache, upstream = Cache(store, ttl_s=60), Upstream()
    proxy.pause()
    replies = [await cache(call(), upstream) for _ in range(3)]
    assert upstream.calls == 3 and all(r.body for r in replies)  # no cache, but every request answered
    assert (await cache_health(cache)())["serving"] == "pass-through"
    proxy.resume()
    await asyncio.sleep(0.06)
    await cache(call(), upstream)  # stored again now that Redis answers
    assert (await cache(call(), upstream)).headers["x-gateway-cache"] == "hit"


async def test_hybrid_delete_on_one_worker_reaches_the_others_memory(redis_client: Redis, prefix: str) -> None:
    now = [0.0]
    worker_a = hybrid(redis_client, prefix)
    worker_b = TieredCache(
        memory=MemoryLRU(max_entries=100, max_bytes=1 << 20),
        redis=RedisStore(redis_client, prefix=prefix),
        clock=lambda: now[0],
    )
    await worker_a.put("openai:gpt-4o:k", entry())
    assert await worker_b.get("openai:gpt-4o:k") is not None  # now in b's memory too
    assert await worker_a.delete("openai:*") == 1
    assert await worker_b.get("openai:gpt-4o:k") is not None  # b looks at the counter at most once a second
    now[0] += 1.1
    assert await worker_b.get("openai:gpt-4o:k") is None
    assert worker_b.memory is not None and len(worker_b.memory) == 0
