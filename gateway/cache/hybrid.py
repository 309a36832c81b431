"""The store behind the cache layer, for all three strategies (CACHE_STRATEGY):

    memory   MemoryLRU only (per process)
    redis    RedisStore only (shared); Redis down means pass-through
    hybrid   memory in front of Redis: read memory, then Redis (promoting a Redis hit into memory),
             write both; Redis down means memory only

In hybrid mode a delete on one worker reaches the others' memory tiers within GENERATION_CHECK_S: a delete
bumps a counter in Redis, and a worker that sees it change (read at most once per GENERATION_CHECK_S, on a
lookup) empties its memory tier, which refills from Redis.

Writes that happen where nothing may be awaited (a stream's end) go through `put_soon`: memory at once,
Redis in a tracked background task that `aclose` waits for (bounded) at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Literal

from gateway.cache.entry import Entry
from gateway.cache.memory import MemoryLRU
from gateway.cache.redis_store import RedisStore
from gateway.types import JSON

logger = logging.getLogger(__name__)

Strategy = Literal["memory", "redis", "hybrid"]
SHUTDOWN_WAIT_S = 2.0
GENERATION_CHECK_S = 1.0
DISABLED_TIER: JSON = {"enabled": False}


class TieredCache:
    def __init__(
        self,
        *,
        memory: MemoryLRU | None,
        redis: RedisStore | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if memory is None and redis is None:
            raise ValueError("a cache needs at least one tier")
        self.memory = memory
        self.redis = redis
        self.strategy: Strategy = "memory" if redis is None else ("redis" if memory is None else "hybrid")
        self._pending: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._generation: int | None = None
        self._next_generation_check = 0.0

    async def _follow_deletes(self, memory: MemoryLRU, redis: RedisStore) -> None:
        now = self._clock()
        if now < self._next_generation_check:
            return
        self._next_generation_check = now + GENERATION_CHECK_S
        generation = await redis.generation()
        if generation is None or generation == self._generation:
            return
        if self._generation is not None:
            memory.delete()  # another worker deleted entries; which ones is not known here
        self._generation = generation

    async def get(self, key: str) -> Entry | None:
        memory = self.memory
        if memory is not None and self.redis is not None:
            await self._follow_deletes(memory, self.redis)
        if memory is not None:
            entry = memory.get(key)
            if entry is not None:
                return entry
        if self.redis is None:
            return None
        entry = await self.redis.get(key)
        if entry is not None and memory is not None:
            memory.put(key, entry)
        return entry

    async def put(self, key: str, entry: Entry) -> None:
        if self.memory is not None:
            self.memory.put(key, entry)
        if self.redis is not None:
            await self.redis.put(key, entry)

    def put_soon(self, key: str, entry: Entry) -> None:
        """Store without awaiting: memory now, Redis in a tracked task."""
        if self.memory is not None:
            self.memory.put(key, entry)
        if self.redis is not None:
            task = asyncio.get_running_loop().create_task(self.redis.put(key, entry))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the background Redis writes started so far."""
        if self._pending:
            await asyncio.gather(*self._pending)

    async def delete(self, pattern: str | None = None) -> int:
        """Drop every entry or those matching the glob, in every tier; how many distinct keys went."""
        await self.flush()  # a write still in flight must not resurrect a deleted key
        dropped: set[str] = set()
        if self.memory is not None:
            dropped |= self.memory.delete(pattern)
        if self.redis is not None:
            dropped |= await self.redis.delete(pattern)
            generation = await self.redis.bump_generation()
            if generation is not None and self._generation is not None:
                self._generation = generation  # our own memory is already clean
        return len(dropped)

    @property
    def degraded(self) -> bool:
        return self.redis is not None and not self.redis.available

    async def tier_stats(self) -> dict[str, JSON]:
        return {
            "memory": self.memory.stats() if self.memory is not None else DISABLED_TIER,
            "redis": await self.redis.stats() if self.redis is not None else DISABLED_TIER,
        }

    async def aclose(self) -> None:
        if not self._pending:
            return
        try:
            async with asyncio.timeout(SHUTDOWN_WAIT_S):
                await self.flush()
        except TimeoutError:
            logger.warning("cache writes to redis still pending at shutdown were dropped")
