"""The Lua script against the real Redis: the same answers as the Python algorithm, TTL'd keys, a prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.ratelimit.gcra import Check, Rate
from gateway.ratelimit.memory import MemoryStore
from gateway.ratelimit.redis_store import RedisStore

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

T0 = 1_700_000_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test:rl:{uuid.uuid4().hex}:"


def scenario() -> list[tuple[float, list[Check]]]:
    """(clock advance, checks) steps covering bursts, refusals, refill, groups and token costs."""
    r = Rate(5, 1000)
    t = Rate(1000, 60_000)
    steps: list[tuple[float, list[Check]]] = [(0, [Check("{a}:r", r)]) for _ in range(7)]
    steps += [(150, [Check("{a}:r", r)]), (50, [Check("{a}:r", r)]), (1000, [Check("{a}:r", r)])]
    steps += [(0, [Check("{a}:r", r), Check("{a}:t", t, 700)]), (10, [Check("{a}:r", r), Check("{a}:t", t, 400)])]
    steps += [(0, [Check("{a}:t", Rate(7, 60_000))]) for _ in range(9)]
    steps += [(0, [Check("{a}:big", t, 1001)])]
    return steps


async def test_redis_store_matches_the_python_algorithm(redis: Redis, prefix: str) -> None:
    clock = Clock()
    shared = RedisStore(redis, prefix=prefix, clock=clock)
    local = MemoryStore(clock=clock)
    for advance, checks in scenario():
        clock.now += advance
        assert await shared.check(checks) == local.check_now(checks), (clock.now - T0, checks)


async def test_redis_store_settle_matches_the_python_algorithm(redis: Redis, prefix: str) -> None:
    clock = Clock()
    shared = RedisStore(redis, prefix=prefix, clock=clock)
    local = MemoryStore(clock=clock)
    check = Check("{a}:t", Rate(1000, 60_000), 500)
    for store in (shared, local):
        await store.check([check])
        await store.settle(check, -300)
    probe = Check("{a}:t", Rate(1000, 60_000), 0)
    assert (await shared.check([probe])).statuses[0].remaining == 800
    assert (await local.check([probe])).statuses[0].remaining == 800
    for store in (shared, local):
        await store.settle(check, 2000)
    assert await shared.check([probe]) == await local.check([probe])


async def test_redis_store_keys_carry_prefix_and_expire_when_full(redis: Redis, prefix: str) -> None:
    store = RedisStore(redis, prefix=prefix)  # the server's clock
    await store.check([Check("{u:alice}:llm", Rate(10, 2000))])
    keys = await redis.keys(prefix + "*")
    assert keys == [(prefix + "{u:alice}:llm").encode()]
    ttl = await redis.pttl(keys[0])
    assert 150 <= ttl <= 200  # one interval: the bucket is full again then, and the key goes


async def test_redis_store_refund_to_full_deletes_the_key(redis: Redis, prefix: str) -> None:
    store = RedisStore(redis, prefix=prefix)
    check = Check("{u:bob}:tpm", Rate(1000, 60_000), 10)
    await store.check([check])
    await store.settle(check, -10)
    assert await redis.exists(prefix + "{u:bob}:tpm") == 0
