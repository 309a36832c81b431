"""The shared Redis client (cache, rate limits and the ledger use the same one), built from `REDIS_URL`.

Creating it does no I/O: redis-py connects on first use. Every call has a short socket timeout so that a slow
or absent Redis degrades a feature instead of hanging a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set: ≈ 6 MiB per worker otherwise
    from redis.asyncio import Redis

SOCKET_TIMEOUT_S = 0.25
CONNECT_TIMEOUT_S = 0.25


def make_redis(url: str | None) -> Redis | None:
    if not url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=30,
        retry_on_timeout=False,
    )
