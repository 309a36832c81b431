"""Limiter: the one object the middleware and layers ask. It uses Redis while Redis answers and falls back to
per-process memory buckets while it does not (RATE_LIMIT_FAIL=open: each replica then enforces the full limits
on its own, so the fleet may admit up to replicas x limit), or refuses with 503 (RATE_LIMIT_FAIL=closed).

An outage is logged once when it starts and once when it ends. While Redis is down it is retried at most once
per `probe_interval_s` (by the first request after the interval; the others keep using memory), so a dead or
black-holed Redis costs one short timeout per interval instead of one per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from gateway.errors import ServiceUnavailableError
from gateway.ratelimit.gcra import Check, Verdict
from gateway.ratelimit.memory import MemoryStore
from gateway.ratelimit.redis_store import RedisStore
from gateway.settings import Settings
from gateway.types import JSON

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 1.0


class Store(Protocol):
    name: str

    async def check(self, checks: Sequence[Check]) -> Verdict: ...

    async def settle(self, check: Check, delta: int) -> None: ...


def store_errors() -> tuple[type[Exception], ...]:
    """What a failing shared store raises (redis-py is imported here, once a shared store exists)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class Limiter:
    def __init__(
        self,
        shared: Store | None,
        *,
        local: MemoryStore | None = None,
        fail_closed: bool = False,
        probe_interval_s: float = PROBE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shared = shared  # None: memory only (one process)
        self._store_errors = store_errors() if shared is not None else ()
        self.local = local if local is not None else MemoryStore()
        self.fail_closed = fail_closed
        self._probe_interval_s = probe_interval_s
        self._clock = clock
        self._down_until = 0.0  # while now < this, skip the shared store
        self._outage = False

    @property
    def degraded(self) -> bool:
        return self._outage

    def _use_shared(self) -> bool:
        if self.shared is None:
            return False
        if not self._outage:
            return True
        now = self._clock()
        if now < self._down_until:
            return False
        self._down_until = now + self._probe_interval_s  # this caller probes; the others stay local meanwhile
        return True

    def _failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + self._probe_interval_s
        if not self._outage:
            self._outage = True
            mode = "refusing requests (RATE_LIMIT_FAIL=closed)" if self.fail_closed else "per-process limits"
            logger.warning(
                "rate limits: Redis unavailable, using %s until it answers", mode, extra={"error": type(exc).__name__}
            )

    def _answered(self) -> None:
        if self._outage:
            self._outage = False
            logger.warning("rate limits: Redis answers again; limits are shared across replicas again")

    def _unavailable(self) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            "Rate limiting is unavailable (its store does not answer) and RATE_LIMIT_FAIL=closed.",
            code="rate_limiter_unavailable",
            headers={"retry-after": str(max(1, round(self._probe_interval_s)))},
        )

    async def check(self, checks: Sequence[Check]) -> Verdict:
        """Take every check's cost, or none. Raises ServiceUnavailableError only when failing closed."""
        if self._use_shared():
            assert self.shared is not None
            try:
                verdict = await self.shared.check(checks)
            except self._store_errors as exc:
                self._failed(exc)
            else:
                self._answered()
                return verdict
        if self.shared is not None and self.fail_closed:
            raise self._unavailable()
        return self.local.check_now(checks)

    async def settle(self, check: Check, delta: int) -> None:
        """Correct an estimate by `delta` units. Never raises: a lost correction only blurs one token count."""
        if delta == 0:
            return
        if self._use_shared():
            assert self.shared is not None
            try:
                await self.shared.settle(check, delta)
            except self._store_errors as exc:
                self._failed(exc)
            else:
                self._answered()
                return
        await self.local.settle(check, delta)

    async def health(self) -> JSON:
        """The `rate_limits` health component (no I/O: the Redis check is its own component)."""
        store = "memory" if self.shared is None else self.shared.name
        if self._outage:
            return {"status": "degraded", "store": store, "using": "closed" if self.fail_closed else "memory"}
        return {"status": "ok", "store": store}


def build_limiter(settings: Settings, redis: Redis | None) -> Limiter:
    """Redis when RATE_LIMIT_STORE=redis, or when it is unset and REDIS_URL is; memory otherwise."""
    use_redis = settings.rate_limit_store == "redis" or (settings.rate_limit_store is None and redis is not None)
    shared = RedisStore(redis, prefix=settings.rate_limit_prefix) if use_redis and redis is not None else None
    return Limiter(shared, fail_closed=settings.rate_limit_fail == "closed")
