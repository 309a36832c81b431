"""The Limiter against a real Redis behind a relay that the test cuts: fallback, fail closed, recovery."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from gateway.errors import ServiceUnavailableError
from gateway.ratelimit.gcra import Check, Rate
from gateway.ratelimit.limiter import Limiter, build_limiter
from gateway.ratelimit.redis_store import RedisStore
from gateway.store import make_redis
from tests.conftest import make_settings
from tests.ratelimit.outage import Relay

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def relay(redis_url: str) -> AsyncIterator[Relay]:
    url = urlsplit(redis_url)
    relay = Relay(url.hostname or "127.0.0.1", url.port or 6379)
    await relay.start()
    yield relay
    await relay.cut()


@pytest.fixture
async def via_relay(relay: Relay, redis_url: str) -> AsyncIterator[Redis]:
    url = urlsplit(redis_url)
    client = make_redis(f"redis://127.0.0.1:{relay.port}{url.path}")
    assert client is not None
    yield client
    await client.aclose()


def limit_check(n: int = 3) -> Check:
    return Check(f"{{t:{uuid.uuid4().hex}}}:x", Rate(n, 60_000))


async def test_limiter_falls_back_to_memory_and_logs_once(
    relay: Relay, via_relay: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    limiter = Limiter(RedisStore(via_relay, prefix="test:"), clock=clock)
    check = limit_check(3)
    assert (await limiter.check([check])).allowed  # through Redis
    await relay.cut()
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit.limiter"):
        results = [(await limiter.check([check])).allowed for _ in range(5)]
        clock.now += 5  # past the probe interval: one more failed probe, still no second log line
        results.append((await limiter.check([check])).allowed)
    assert results == [True, True, True, False, False, False]  # the local bound holds: 3 per window
    assert limiter.degraded
    outage_lines = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_lines) == 1
    assert "127.0.0.1" not in caplog.text and "redis://" not in caplog.text


async def test_limiter_recovers_when_redis_answers_again(relay: Relay, via_relay: Redis, redis_url: str) -> None:
    clock = Clock()
    prefix = f"test:{uuid.uuid4().hex}:"
    limiter = Limiter(RedisStore(via_relay, prefix=prefix), clock=clock)
    check = limit_check(5)
    await relay.cut()
    assert (await limiter.check([check])).allowed
    assert limiter.degraded
    await relay.start()  # same port
    assert (await limiter.check([check])).allowed  # still inside the probe interval: memory
    clock.now += 2
    assert (await limiter.check([check])).allowed  # the probe reaches Redis
    assert not limiter.degraded
    direct = Redis.from_url(redis_url)
    try:
        assert await direct.exists(prefix + check.key) == 1
    finally:
        await direct.aclose()


async def test_limiter_fail_closed_answers_503_while_down(relay: Relay, via_relay: Redis) -> None:
    limiter = Limiter(RedisStore(via_relay, prefix="test:"), fail_closed=True, clock=Clock())
    await relay.cut()
    with pytest.raises(ServiceUnavailableError) as caught:
        await limiter.check([limit_check()])
    assert caught.value.status == 503 and caught.value.headers["retry-after"] == "1"
    with pytest.raises(ServiceUnavailableError):  # and without another attempt until the probe interval
        await limiter.check([limit_check()])


async def test_limiter_unreachable_redis_costs_one_attempt_per_interval(via_relay: Redis, relay: Relay) -> None:
    clock = Clock()
    calls = 0
    store = RedisStore(via_relay, prefix="test:")

    class Counting:
        name = "redis"

        async def check(self, checks: list[Check]) -> object:
            nonlocal calls
            calls += 1
            return await store.check(checks)

        async def settle(self, check: Check, delta: int) -> None:
            await store.settle(check, delta)

    limiter = Limiter(Counting(), clock=clock)  # type: ignore[arg-type]  # a counting wrapper, same shape
    await relay.cut()
    for _ in range(20):
        await limiter.check([limit_check()])
    assert calls == 1


def test_build_limiter_picks_the_store() -> None:
    redis = make_redis("redis://127.0.0.1:6379/15")
    assert build_limiter(make_settings(), None).shared is None
    assert isinstance(build_limiter(make_settings(redis_url="redis://x"), redis).shared, RedisStore)
    assert build_limiter(make_settings(redis_url="redis://x", rate_limit_store="memory"), redis).shared is None
    assert build_limiter(make_settings(rate_limit_fail="closed"), None).fail_closed
