"""The Redis tier against the real Redis (db 15, a key prefix per test): TTL in Redis, compact values,
SCAN+UNLINK deletion, and failures that degrade instead of failing."""

from __future__ import annotations

import logging
import time

import orjson
import pytest
from redis.asyncio import Redis

from gateway.cache.entry import Entry
from gateway.cache.redis_store import FLAG_ZLIB, RedisStore, decode, encode
from gateway.errors import ServiceUnavailableError
from tests.servers import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


def entry(body: bytes = b'{"answer":1}', ttl: float = 30.0) -> Entry:
    now = time.time()
    return Entry(body, now, now + ttl)


def test_redis_value_encoding_round_trips_and_compresses_large_bodies() -> None:
    small, large = entry(), entry(orjson.dumps({"text": "word " * 2000}))
    assert decode(encode(small)) == small
    packed = encode(large)
    assert packed[1] == FLAG_ZLIB and len(packed) < len(large.body) / 10
    assert decode(packed) == large


def test_redis_value_decoding_refuses_foreign_values() -> None:
    with pytest.raises(ValueError, match="format"):
        decode(b"\x09" + encode(entry())[1:])
    with pytest.raises(ValueError, match="short"):
        decode(b"{}")


async def test_redis_store_round_trip_with_ttl_kept_by_redis(redis_client: Redis, prefix: str) -> None:
    store = RedisStore(redis_client, prefix=prefix)
    stored = entry(ttl=30)
    await store.put("openai:gpt-4o:abc", stored)
    assert await store.get("openai:gpt-4o:abc") == stored
    assert 28_000 < await redis_client.pttl(prefix + "openai:gpt-4o:abc") <= 30_000
    assert await store.get("openai:gpt-4o:missing") is None
    assert (store.hits, store.misses, store.writes) == (1, 1, 1)


async def test_redis_store_unreadable_value_is_a_miss(redis_client: Redis, prefix: str) -> None:
    await redis_client.set(prefix + "k", b"not a cache value")
    assert await RedisStore(redis_client, prefix=prefix).get("k") is None


async def test_redis_store_delete_by_glob_leaves_other_keys(redis_client: Redis, prefix: str) -> None:
    store = RedisStore(redis_client, prefix=prefix)
    for key in ("openai:gpt-4o:a1", "openai:gpt-4o-mini:b2", "anthropic:claude-sonnet-4-5:c3"):
        await store.put(key, entry())
    await redis_client.set("other:openai:gpt-4o:zz", b"x", px=10_000)  # outside the prefix: never touched
    assert await store.delete("*:gpt-4o:*") == {"openai:gpt-4o:a1"}
    assert await store.delete("openai:*") == {"openai:gpt-4o-mini:b2"}
    assert await store.count() == (1, len(prefix + "anthropic:claude-sonnet-4-5:c3") + len(encode(entry())), True)
    assert await store.delete() == {"anthropic:claude-sonnet-4-5:c3"}
    assert await redis_client.get("other:openai:gpt-4o:zz") == b"x"
    await redis_client.delete("other:openai:gpt-4o:zz")


async def test_redis_store_unreachable_degrades_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/15", socket_connect_timeout=0.2)
    store = RedisStore(client, prefix="test:cache:closed:", retry_s=0)
    caplog.set_level(logging.WARNING, logger="gateway.cache.redis_store")
    for _ in range(3):
        assert await store.get("k") is None
        await store.put("k", entry())
    assert not store.available and store.errors == 6 and store.last_error is not None
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    with pytest.raises(ServiceUnavailableError):
        await store.delete()
    stats = await store.stats()
    assert stats["available"] is False and stats["entries"] is None and stats["counted"] == "unavailable"
    await client.aclose()


async def test_redis_store_skips_calls_during_an_outage_until_retry_time() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/15", socket_connect_timeout=0.2)
    now = [0.0]
    store = RedisStore(client, prefix="test:cache:closed:", retry_s=5, clock=lambda: now[0])
    await store.get("k")
    assert store.errors == 1
    await store.get("k")
    await store.put("k", entry())
    assert store.errors == 1  # not even tried while the outage is known
    now[0] = 6.0
    await store.get("k")
    assert store.errors == 2  # one probe after retry_s
    await client.aclose()
