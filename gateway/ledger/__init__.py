"""The cost ledger: one `Record` per LLM call, written in batches off the request path, and the queries behind
`/api/llm/costs/*`.

Backends: `SQLiteLedger` (gateway/ledger/sqlite.py, the embedded default) and `RedisLedger`
(gateway/ledger/redis.py, shared by several replicas). Both buffer records in memory and write them every
`FLUSH_INTERVAL_S` (or sooner when a batch fills up), and flush what is left when the app stops, so a SIGTERM loses
nothing and a crash loses at most the last interval.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from gateway.types import JSON

FLUSH_INTERVAL_S = 0.25  # the most a crash can lose; documented in the README
# A full batch is written at once, before the interval ends. Small batches keep each write short: the writer
# thread shares the gateway's core, and a 500-row batch (~5 ms of SQLite) showed up in the c=1 p99 latency.
MAX_BATCH = 100


class Record(NamedTuple):
    """One LLM call. `cost` is in nano-units of `currency`; None means the model has no price (`unpriced`).
    A named tuple: one is made for every call, and it is the row both backends store, as it is."""

    id: str
    request_id: str
    timestamp_us: int  # when the call started, Unix microseconds
    user: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: int | None
    currency: str
    latency_ms: float
    cache_hit: bool
    fallback_from: str | None
    status: str  # ok | client_closed | error

    def as_row(self) -> tuple[Any, ...]:
        """The fields in declaration order: what both backends store (SQLite columns, Redis JSON arrays). A plain
        tuple: orjson does not serialise tuple subclasses."""
        return tuple(self)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Record:
        """The inverse of `as_row` (SQLite returns `cache_hit` as 0/1)."""
        if len(row) != len(RECORD_FIELDS):
            raise ValueError(f"a ledger row has {len(RECORD_FIELDS)} fields, not {len(row)}")
        record = cls._make(row)
        return record._replace(cache_hit=bool(record.cache_hit))

    def as_json(self) -> JSON:
        """The CONTRACT §10 history shape (`cost` in currency units, `unpriced` added)."""
        return {
            "id": self.id,
            "request_id": self.request_id,
            "timestamp": iso(self.timestamp_us),
            "user": self.user,
            "provider": self.provider,
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cost": money(self.cost) if self.cost is not None else None,
            "currency": self.currency,
            "latency_ms": self.latency_ms,
            "cache_hit": self.cache_hit,
            "fallback_from": self.fallback_from,
            "status": self.status,
            "unpriced": self.cost is None,
        }


RECORD_FIELDS: tuple[str, ...] = Record._fields


def iso(timestamp_us: int) -> str:
    return datetime.fromtimestamp(timestamp_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def money(nanos: int) -> float:
    """Nano-units -> a JSON number. The float's shortest repr is the exact decimal for any realistic amount."""
    return nanos / 1e9


@dataclass(frozen=True, slots=True)
class Filters:
    """Which records a query covers. Times are Unix microseconds, `since` inclusive, `until` exclusive."""

    user: str | None = None
    provider: str | None = None
    model: str | None = None
    request_id: str | None = None
    since_us: int | None = None
    until_us: int | None = None

    def matches(self, record: Record) -> bool:
        return (
            (self.user is None or record.user == self.user)
            and (self.provider is None or record.provider == self.provider)
            and (self.model is None or record.model == self.model)
            and (self.request_id is None or record.request_id == self.request_id)
            and (self.since_us is None or record.timestamp_us >= self.since_us)
            and (self.until_us is None or record.timestamp_us < self.until_us)
        )


@dataclass(slots=True)
class Totals:
    cost: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    unpriced_requests: int = 0

    def add(self, other: Totals) -> None:
        self.cost += other.cost
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        self.unpriced_requests += other.unpriced_requests

    def as_json(self) -> JSON:
        return {
            "cost": money(self.cost),
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "unpriced_requests": self.unpriced_requests,
        }


@dataclass(slots=True)
class Summary:
    """Totals overall and by provider, model and user."""

    total: Totals = field(default_factory=Totals)
    by_provider: dict[str, Totals] = field(default_factory=dict)
    by_model: dict[str, Totals] = field(default_factory=dict)
    by_user: dict[str, Totals] = field(default_factory=dict)

    def add(self, provider: str, model: str, user: str, totals: Totals) -> None:
        """Fold in one (provider, model, user) group."""
        self.total.add(totals)
        for table, key in ((self.by_provider, provider), (self.by_model, model), (self.by_user, user)):
            group = table.get(key)
            if group is None:
                group = table[key] = Totals()
            group.add(totals)

    def add_records(self, records: Iterable[Record]) -> None:
        for r in records:
            self.add(r.provider, r.model, r.user, totals_of(r))


def totals_of(record: Record) -> Totals:
    return Totals(
        cost=record.cost or 0,
        requests=1,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cached_tokens=record.cached_tokens,
        unpriced_requests=1 if record.cost is None else 0,
    )


def encode_cursor(record: Record) -> str:
    """An opaque cursor: the position (timestamp, id) of the last record of a page."""
    return base64.urlsafe_b64encode(f"{record.timestamp_us}:{record.id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Raises ValueError when the cursor was not made by `encode_cursor`."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        timestamp, _, record_id = text.partition(":")
        if not record_id:
            raise ValueError("no id")
        return int(timestamp), record_id
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not a cursor from this ledger") from None


def before(record: Record, position: tuple[int, str]) -> bool:
    """True if `record` comes after `position` in newest-first order."""
    return (record.timestamp_us, record.id) < position


class Ledger(Protocol):
    """What the budget layer, the routes and the health check use."""

    def add(self, record: Record) -> None:
        """Buffer one record (never blocks; written within `FLUSH_INTERVAL_S`)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Write everything buffered, then release the store."""
        ...

    async def flush(self) -> None: ...

    async def history(
        self, filters: Filters, *, limit: int, cursor: tuple[int, str] | None
    ) -> tuple[list[Record], str | None]: ...

    async def summary(self, filters: Filters) -> Summary: ...

    async def spent(self, *, since_us: int, user: str | None = None) -> int:
        """Sum of priced costs since a time (seeds the in-process budget figures at start-up)."""
        ...

    async def check(self) -> JSON:
        """Health: the store is writable; how much is buffered."""
        ...
