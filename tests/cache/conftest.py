"""Redis fixtures for the cache tests: a client on the test database and a unique key prefix, cleaned after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis


@pytest.fixture
def prefix() -> str:
    return f"test:cache:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def redis_client(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=1)
    yield client
    keys = [key async for key in client.scan_iter(match=prefix + "*")] + [prefix.rstrip(":") + "~generation"]
    await client.unlink(*keys)
    await client.aclose()
