"""The Redis tier: entries shared by every worker and replica, kept until Redis expires them.

Values are compact: a small binary header (format version, flags, created, expires) and the JSON body,
zlib-compressed above `compress_over` bytes. Every call is bounded by `timeout_s`. A failure never reaches the
caller: reads miss and writes are dropped, the first failure of an outage logs one warning, and further calls
are skipped (not awaited) until `retry_s` has passed, when one call probes Redis again; the first success logs
the recovery. Pattern deletion walks the keys with `SCAN` and drops them with `UNLINK`, never `KEYS`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.cache.entry import Entry
from gateway.errors import ServiceUnavailableError
from gateway.types import JSON

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "llmgw:cache:"
TIMEOUT_S = 0.25
RETRY_S = 1.0
COMPRESS_OVER = 1024
SCAN_COUNT = 500
COUNT_BUDGET_S = 1.0  # how long the stats route may spend counting Redis entries
FORMAT_VERSION = 1
FLAG_ZLIB = 1
_HEADER = struct.Struct(">BBdd")
_SAFE_PREFIX = re.compile(r"^[A-Za-z0-9:._-]*$")

T = TypeVar("T")


def encode(entry: Entry, *, compress_over: int = COMPRESS_OVER) -> bytes:
    body, flags = entry.body, 0
    if len(body) > compress_over:
        packed = zlib.compress(body, 1)
        if len(packed) < len(body):
            body, flags = packed, FLAG_ZLIB
    return _HEADER.pack(FORMAT_VERSION, flags, entry.created, entry.expires) + body


def decode(raw: bytes) -> Entry:
    """The entry in `raw`; ValueError when it is not one this version wrote."""
    if len(raw) < _HEADER.size:
        raise ValueError("cache value too short")
    version, flags, created, expires = _HEADER.unpack_from(raw)
    if version != FORMAT_VERSION or flags & ~FLAG_ZLIB:
        raise ValueError("unknown cache value format")
    body = raw[_HEADER.size :]
    if flags & FLAG_ZLIB:
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise ValueError("corrupt compressed cache value") from exc
    return Entry(body, created, expires)


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


class _UnavailableError(Exception):
    """Redis failed or is in a known outage; already counted and logged."""


class RedisStore:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_s: float = TIMEOUT_S,
        retry_s: float = RETRY_S,
        compress_over: int = COMPRESS_OVER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _SAFE_PREFIX.match(prefix):
            raise ValueError(f"cache key prefix {prefix!r} may hold only letters, digits and : . _ -")
        from redis.exceptions import RedisError  # here, not at the top: the module loads without Redis configured

        self._redis = redis
        self._errors = (RedisError, OSError, TimeoutError)
        self.prefix = prefix
        self._generation_key = prefix.rstrip(":") + "~generation"  # outside `prefix*`: no pattern reaches it
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._compress_over = compress_over
        self._clock = clock
        self.available = True
        self._retry_at = 0.0
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self.errors = 0
        self.last_error: str | None = None

    async def _run(self, op: Callable[[], Awaitable[T]], *, probe: bool = False) -> T:
        if not self.available and not probe:
            now = self._clock()
            if now < self._retry_at:
                raise _UnavailableError
            self._retry_at = now + self._retry_s  # this call probes; the others keep skipping meanwhile
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await op()
        except self._errors as exc:
            self._failed(exc)
            raise _UnavailableError from exc
        if not self.available:
            self.available = True
            logger.info("redis cache tier recovered")
        return result

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = type(exc).__name__
        self._retry_at = self._clock() + self._retry_s
        if self.available:
            self.available = False
            logger.warning(
                "redis cache tier unavailable; requests go on without it until it answers again",
                extra={"error": self.last_error},
            )

    async def get(self, key: str) -> Entry | None:
        try:
            raw = await self._run(partial(self._redis.get, self.prefix + key))
        except _UnavailableError:
            return None
        if not isinstance(raw, bytes):  # None: not there (the client never decodes responses)
            self.misses += 1
            return None
        try:
            entry = decode(raw)
        except ValueError as exc:
            logger.warning("unreadable cache entry ignored", extra={"error": str(exc)})
            self.misses += 1
            return None
        self.hits += 1
        return entry

    async def put(self, key: str, entry: Entry) -> None:
        ttl_ms = int(entry.ttl_left(time.time()) * 1000)
        if ttl_ms <= 0:
            return
        value = encode(entry, compress_over=self._compress_over)
        try:
            await self._run(partial(self._redis.set, self.prefix + key, value, px=ttl_ms))
        except _UnavailableError:
            return
        self.writes += 1

    async def probe(self) -> bool:
        """PING now, even during an outage; True when Redis answered (which also ends the outage)."""
        try:
            await self._run(self._redis.ping, probe=True)
        except _UnavailableError:
            return False
        return True

    async def generation(self) -> int | None:
        """The deletion counter every worker watches (None while Redis does not answer)."""
        try:
            value = await self._run(partial(self._redis.get, self._generation_key))
        except _UnavailableError:
            return None
        return int(value) if isinstance(value, bytes) and value.isdigit() else 0

    async def bump_generation(self) -> int | None:
        """Tell every worker that entries were deleted (their memory tiers drop what they hold)."""
        try:
            value = await self._run(partial(self._redis.incr, self._generation_key), probe=True)
        except _UnavailableError:
            return None
        return int(value)

    async def delete(self, pattern: str | None = None) -> set[str]:
        """Drop every entry (None) or those whose readable key matches the glob; the dropped readable keys.
        Raises ServiceUnavailableError when Redis does not answer: the caller must know entries remain."""
        match = self.prefix + (pattern or "*")
        cut = len(self.prefix)
        dropped: set[str] = set()
        try:
            cursor: int = 0
            while True:
                cursor, keys = await self._run(
                    partial(self._redis.scan, cursor, match=match, count=SCAN_COUNT), probe=True
                )
                if keys:
                    await self._run(partial(self._redis.unlink, *keys), probe=True)
                    dropped.update(_text(key)[cut:] for key in keys)
                if cursor == 0:
                    return dropped
        except _UnavailableError:
            raise ServiceUnavailableError(
                "The Redis cache tier did not answer; its entries were not deleted. Try again.",
                code="cache_unavailable",
            ) from None

    async def count(self) -> tuple[int, int, bool]:
        """(entries, stored bytes, complete) over this prefix, walked with SCAN for at most COUNT_BUDGET_S."""
        entries = size = 0
        deadline = time.monotonic() + COUNT_BUDGET_S
        cursor: int = 0
        while True:
            cursor, keys = await self._run(
                partial(self._redis.scan, cursor, match=self.prefix + "*", count=SCAN_COUNT), probe=True
            )
            if keys:
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.strlen(key)
                lengths: list[Any] = await self._run(pipe.execute, probe=True)
                entries += len(keys)
                size += sum(int(n) for n in lengths) + sum(len(key) for key in keys)
            if cursor == 0:
                return entries, size, True
            if time.monotonic() > deadline:
                return entries, size, False

    async def stats(self) -> JSON:
        entries: int | None = None
        size: int | None = None
        try:
            entries, size, complete = await self.count()
            counted = "complete" if complete else "partial"
        except _UnavailableError:
            counted = "unavailable"
        return {
            "enabled": True,
            "available": self.available,
            "entries": entries,
            "bytes": size,
            "counted": counted,
            "hits": self.hits,
            "misses": self.misses,
            "writes": self.writes,
            "errors": self.errors,
            "last_error": self.last_error,
        }
