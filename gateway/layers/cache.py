"""The response cache layer: answers repeated calls from memory and/or Redis (CACHE_STRATEGY).

    not cacheable by policy      -> next(call), `x-gateway-cache: bypass`
    Cache-Control: no-cache      -> next(call), stored (refreshing the entry), `bypass`
    entry found (and fresh)      -> served as JSON or replayed as SSE chunks, `hit`
    same call already in flight  -> wait (bounded) for its answer, then `hit`; if it failed, call upstream
    otherwise                    -> next(call), stored when it is a normal answer, `miss`

A stream is watched, never buffered (`TappedStream`); its chunks are folded into the answer and stored when it
ends normally. A failure or an interrupted stream is never stored nor shared with waiting callers. An answer
served by a fallback model is not stored under the requested model's key. A hit keeps the original answer
(id and usage included); the cost layer, which reads `x-gateway-cache`, records it at cost 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from gateway.cache.entry import Entry
from gateway.cache.hybrid import TieredCache
from gateway.cache.keys import cache_key
from gateway.cache.memory import MemoryLRU
from gateway.cache.policy import deterministic, parse_cache_control, storable
from gateway.cache.redis_store import RedisStore
from gateway.cache.replay import Assembler, ReplayStream, replay_chunks
from gateway.settings import Settings
from gateway.streams import Outcome, TappedStream, tap
from gateway.types import JSON, ChatCall, Chunk, Handler, Reply

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (idle RSS, bench/README.md)
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

HEADER = "x-gateway-cache"
COALESCE_WAIT_S = 30.0  # how long an identical call waits for the one in flight before calling upstream itself


@dataclass(slots=True)
class CacheStats:
    """Counters of this process since start; `hits`/`misses` feed the `cache_hit_ratio` gauge."""

    hits: int = 0  # served from the cache (including calls that waited for an identical one in flight)
    misses: int = 0  # looked up, not found, sent upstream
    bypasses: int = 0  # not looked up (policy, no-cache, max-age=0)
    stores: int = 0
    coalesced: int = 0  # hits that waited for an identical call in flight
    errors: int = 0  # unexpected failures while watching a stream (the stream itself went on)

    @property
    def hit_ratio(self) -> float:
        looked_up = self.hits + self.misses
        return round(self.hits / looked_up, 4) if looked_up else 0.0


class Cache:
    """Layer: the response cache. `store` is the tiered store; `per_user` scopes keys to the caller."""

    def __init__(
        self,
        store: TieredCache,
        *,
        ttl_s: float,
        per_user: bool = True,
        cache_all: bool = False,
        wait_s: float = COALESCE_WAIT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.stats = CacheStats()
        self._ttl_s = ttl_s
        self._per_user = per_user
        self._cache_all = cache_all
        self._wait_s = wait_s
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Entry | None]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None) -> Cache:
        mode = settings.cache_mode
        memory = None
        if mode in ("memory", "hybrid"):
            memory = MemoryLRU(max_entries=settings.cache_max_size, max_bytes=settings.cache_max_bytes)
        remote = None
        if mode in ("redis", "hybrid"):
            if redis is None:
                raise ValueError(f"CACHE_STRATEGY={mode} needs REDIS_URL")
            remote = RedisStore(redis, prefix=settings.cache_prefix)
        return cls(
            TieredCache(memory=memory, redis=remote),
            ttl_s=settings.cache_ttl,
            per_user=settings.cache_scope == "user",
            cache_all=settings.cache_policy == "all",
        )

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        if not (self._cache_all or deterministic(call)):
            self.stats.bypasses += 1
            reply = await next(call)
            reply.headers[HEADER] = "bypass"
            return reply
        rules = parse_cache_control(call.cache_control)
        ttl = self._ttl_s if rules.max_age is None else min(self._ttl_s, rules.max_age)
        if rules.no_store:
            ttl = 0
        key = cache_key(call, per_user=self._per_user)
        if rules.no_cache or rules.max_age == 0:
            self.stats.bypasses += 1
            return await self._fetch(call, next, key, ttl, None, "bypass")
        entry = await self.store.get(key)
        if entry is not None:
            served = self._serve(call, entry, rules.max_age)
            if served is not None:
                return served
        leader: asyncio.Future[Entry | None] | None = None
        pending = self._inflight.get(key)
        if pending is not None:
            entry = await self._wait(key, pending)
            if entry is not None:
                served = self._serve(call, entry, None)
                if served is not None:
                    self.stats.coalesced += 1
                    return served
        elif ttl > 0:
            leader = asyncio.get_running_loop().create_future()
            self._inflight[key] = leader
        self.stats.misses += 1
        return await self._fetch(call, next, key, ttl, leader, "miss")

    def _serve(self, call: ChatCall, entry: Entry, max_age: int | None) -> Reply | None:
        """The reply for a hit, in the form the call asks for; None if the entry cannot serve it."""
        if max_age is not None and self._clock() - entry.created > max_age:
            return None
        try:
            answer = orjson.loads(entry.body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(answer, dict):
            return None
        if call.stream:
            chunks = replay_chunks(call.kind, answer)
            if chunks is None:
                return None
            reply = Reply(call.target, stream=ReplayStream(chunks), headers={HEADER: "hit"})
        else:
            reply = Reply(call.target, body=answer, raw=entry.body, headers={HEADER: "hit"})
        self.stats.hits += 1
        return reply

    async def _wait(self, key: str, pending: asyncio.Future[Entry | None]) -> Entry | None:
        try:
            async with asyncio.timeout(self._wait_s):
                return await asyncio.shield(pending)
        except TimeoutError:
            if self._inflight.get(key) is pending:  # a leader that never finished must not hold up later calls
                del self._inflight[key]
            return None

    def _settle(self, key: str, leader: asyncio.Future[Entry | None], entry: Entry | None) -> None:
        if self._inflight.get(key) is leader:
            del self._inflight[key]
        if not leader.done():
            leader.set_result(entry)

    def _entry(self, call: ChatCall, reply: Reply, answer: JSON, raw: bytes | None, ttl: float) -> Entry | None:
        if reply.target != call.target or not storable(call.kind, answer):
            return None
        now = self._clock()
        self.stats.stores += 1
        return Entry(raw if raw is not None else orjson.dumps(answer), now, now + ttl)

    async def _fetch(
        self,
        call: ChatCall,
        next: Handler,
        key: str,
        ttl: float,
        leader: asyncio.Future[Entry | None] | None,
        label: str,
    ) -> Reply:
        try:
            reply = await next(call)
        except BaseException:
            if leader is not None:
                self._settle(key, leader, None)
            raise
        reply.headers[HEADER] = label
        if reply.stream is not None:
            if ttl > 0:
                reply.stream = self._watch(call, reply, key, ttl, leader)
            return reply
        entry = None
        if ttl > 0 and reply.body is not None:
            entry = self._entry(call, reply, reply.body, reply.raw, ttl)
        if leader is not None:
            self._settle(key, leader, entry)
        if entry is not None:
            await self.store.put(key, entry)
        return reply

    def _watch(
        self, call: ChatCall, reply: Reply, key: str, ttl: float, leader: asyncio.Future[Entry | None] | None
    ) -> TappedStream:
        assert reply.stream is not None
        assembler = Assembler(call.kind)

        def on_chunk(chunk: Chunk) -> None:
            try:
                assembler.feed(chunk.data)
            except Exception:  # the stream goes on; only its storing is given up
                assembler.broken = True
                self.stats.errors += 1
                logger.exception("cache could not follow a stream; it will not be stored")

        def on_end(outcome: Outcome, exc: BaseException | None) -> None:
            entry = None
            if outcome == "ok":
                answer = assembler.result()
                if answer is not None:
                    entry = self._entry(call, reply, answer, None, ttl)
            if entry is not None:
                self.store.put_soon(key, entry)
            if leader is not None:
                self._settle(key, leader, entry)

        return tap(reply.stream, on_chunk=on_chunk, on_end=on_end)

    async def report(self) -> JSON:
        """The `GET /api/llm/cache/stats` body (CONTRACT §10)."""
        tiers = await self.store.tier_stats()
        front = tiers["memory"] if self.store.memory is not None else tiers["redis"]
        stats = self.stats
        return {
            "enabled": True,
            "strategy": self.store.strategy,
            "scope": "user" if self._per_user else "global",
            "policy": "all" if self._cache_all else "deterministic",
            "ttl_s": self._ttl_s,
            "hits": stats.hits,
            "misses": stats.misses,
            "bypasses": stats.bypasses,
            "stores": stats.stores,
            "coalesced": stats.coalesced,
            "hit_ratio": stats.hit_ratio,
            "entries": front.get("entries"),
            "bytes": front.get("bytes"),
            "tiers": tiers,
        }

    async def aclose(self) -> None:
        await self.store.aclose()
