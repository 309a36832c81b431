"""The rate limiter's own cost per request, for the memory and Redis backends, side by side in one run.

    .venv/bin/python bench/limiter.py            # needs the Redis at REDIS_URL (default redis://127.0.0.1:6379/15)

Each request of the gateway makes two checks (the general limit in the middleware, the LLM limit in the layer);
this times both, sequentially (latency per request) and with 64 concurrent callers (throughput), against a run
that makes no check at all. Keys are spread over 1,000 users so that no bucket refuses.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

from redis.asyncio import Redis

from gateway.ratelimit.gcra import Check, Rate
from gateway.ratelimit.limiter import Limiter
from gateway.ratelimit.redis_store import RedisStore

GENERAL = Rate(1_000_000, 900_000)
LLM = Rate(1_000_000, 60_000)
USERS = 1000


async def per_request(limiter: Limiter | None, n: int) -> float:
    """µs per request for two checks, sequential."""
    started = time.perf_counter()
    for i in range(n):
        if limiter is not None:
            user = f"u{i % USERS}"
            await limiter.check([Check(f"general:{user}", GENERAL)])
            await limiter.check([Check(f"llm:{user}", LLM)])
    return (time.perf_counter() - started) / n * 1e6


async def concurrent_rps(limiter: Limiter | None, n: int, callers: int = 64) -> float:
    async def caller(offset: int) -> None:
        for i in range(offset, n, callers):
            if limiter is not None:
                user = f"u{i % USERS}"
                await limiter.check([Check(f"general:{user}", GENERAL)])
                await limiter.check([Check(f"llm:{user}", LLM)])
            else:
                await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(callers)))
    return n / (time.perf_counter() - started)


async def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    redis = Redis.from_url(url)
    backends: dict[str, Limiter | None] = {
        "none": None,
        "memory": Limiter(None, fail_closed=False),
        "redis": Limiter(RedisStore(redis, prefix=f"bench:rl:{os.getpid()}:"), fail_closed=False),
    }
    sys.stdout.write(f"{'backend':8} {'µs/request (2 checks)':>22} {'requests/s at c=64':>20}\n")
    for name, limiter in backends.items():
        n = 2000 if name == "redis" else 20000
        latency = statistics.median([await per_request(limiter, n) for _ in range(3)])
        rps = statistics.median([await concurrent_rps(limiter, n) for _ in range(3)])
        sys.stdout.write(f"{name:8} {latency:22.1f} {rps:20,.0f}\n")
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
