"""The shared ledger in Redis (`COST_STORE=redis`), for several gateway replicas writing to one place.

Layout under the prefix: `ledger:records` is a hash id -> record (compact JSON array); sorted sets
`ledger:by:all`, `ledger:by:user:<sub>`, `ledger:by:provider:<name>` and `ledger:by:model:<id>` index the ids by
timestamp (microseconds). A query walks the most selective index in time order, in batches, so memory stays
bounded; summaries therefore scan the records of their range (narrow it with `since`/`until` on a big ledger).
Records are kept until removed by the operator: Redis memory grows with the ledger (~300 bytes a record).
Writes are idempotent (a batch retried after a failure does not duplicate records).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from gateway.ledger import Filters, Record, Summary, encode_cursor, totals_of
from gateway.ledger.batch import BatchWriter
from gateway.types import JSON

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

SCAN_BATCH = 500


def _encode(r: Record) -> bytes:
    return orjson.dumps(r.as_row())


def _decode(raw: bytes) -> Record:
    return Record.from_row(orjson.loads(raw))


class RedisLedger:
    def __init__(self, redis: Redis, *, prefix: str = "llmgw:costs:") -> None:
        self._redis = redis
        self._records = f"{prefix}ledger:records"
        self._index = f"{prefix}ledger:by:"
        self._batches = BatchWriter(self._write_batch)

    async def start(self) -> None:
        self._batches.start()

    async def close(self) -> None:
        await self._batches.close()

    def add(self, record: Record) -> None:
        self._batches.add(record)

    async def flush(self) -> None:
        await self._batches.flush()

    async def _write_batch(self, batch: list[Record]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._records, mapping={r.id: _encode(r) for r in batch})
        indexes: dict[str, dict[str, float]] = {}
        for r in batch:
            for name in ("all", f"user:{r.user}", f"provider:{r.provider}", f"model:{r.model}"):
                indexes.setdefault(self._index + name, {})[r.id] = r.timestamp_us
        for key, members in indexes.items():
            pipe.zadd(key, members)
        await pipe.execute()

    def _index_for(self, filters: Filters) -> str:
        if filters.user is not None:
            return self._index + f"user:{filters.user}"
        if filters.model is not None:
            return self._index + f"model:{filters.model}"
        if filters.provider is not None:
            return self._index + f"provider:{filters.provider}"
        return self._index + "all"

    async def _scan(
        self, filters: Filters, *, newest_first: bool, start: tuple[int, str] | None = None
    ) -> AsyncIterator[Record]:
        """The matching records in time order (ties by id), from just past `start` when given."""
        key = self._index_for(filters)
        low: Any = filters.since_us if filters.since_us is not None else "-inf"
        high: Any = f"({filters.until_us}" if filters.until_us is not None else "+inf"
        position = start
        while True:
            batch: list[tuple[bytes, float]]
            if newest_first:
                bound = position[0] if position is not None else high
                batch = await self._redis.zrevrangebyscore(key, bound, low, start=0, num=SCAN_BATCH, withscores=True)  # type: ignore[assignment]
            else:
                bound = position[0] if position is not None else low
                batch = await self._redis.zrangebyscore(key, bound, high, start=0, num=SCAN_BATCH, withscores=True)  # type: ignore[assignment]
            fresh: list[tuple[int, str]] = []
            for member, score in batch:
                item = (int(score), member.decode())
                if position is None or _past(position, item, newest_first):
                    fresh.append(item)
            if not fresh:
                return
            raws: list[Any] = await self._redis.hmget(self._records, [record_id for _, record_id in fresh])
            for raw in raws:
                if raw is not None:
                    record = _decode(raw)
                    if filters.matches(record):
                        yield record
            position = fresh[-1]
            if len(batch) < SCAN_BATCH:
                return

    async def history(
        self, filters: Filters, *, limit: int, cursor: tuple[int, str] | None
    ) -> tuple[list[Record], str | None]:
        page: list[Record] = []
        async for record in self._scan(filters, newest_first=True, start=cursor):
            if len(page) == limit:
                return page, encode_cursor(page[-1])
            page.append(record)
        return page, None

    async def summary(self, filters: Filters) -> Summary:
        summary = Summary()
        async for record in self._scan(filters, newest_first=False):
            summary.add(record.provider, record.model, record.user, totals_of(record))
        return summary

    async def spent(self, *, since_us: int, user: str | None = None) -> int:
        total = 0
        async for record in self._scan(Filters(user=user, since_us=since_us), newest_first=False):
            total += record.cost or 0
        return total

    async def check(self) -> JSON:
        await self._redis.ping()
        report: JSON = {
            "status": "ok" if self._batches.last_error is None else "degraded",
            "store": "redis",
            "pending": self._batches.pending,
            "written": self._batches.written,
        }
        if self._batches.last_error is not None:
            report["error"] = self._batches.last_error
        return report


def _past(position: tuple[int, str], item: tuple[int, str], newest_first: bool) -> bool:
    """True if `item` comes after `position` in the scan's order."""
    return item < position if newest_first else item > position
