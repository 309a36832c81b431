"""The memory tier: LRU order, entry and byte bounds, TTL expiry on an injected clock, glob deletion."""

from __future__ import annotations

from gateway.cache.entry import Entry
from gateway.cache.memory import MemoryLRU


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(body: bytes = b"{}", *, ttl: float = 60.0, at: float = 1000.0) -> Entry:
    return Entry(body, at, at + ttl)


def test_memory_evicts_the_least_recently_used_past_max_entries() -> None:
    lru = MemoryLRU(max_entries=2, max_bytes=10_000, clock=Clock())
    lru.put("a", entry())
    lru.put("b", entry())
    assert lru.get("a") is not None  # a is now the most recent
    lru.put("c", entry())
    assert lru.get("b") is None
    assert lru.get("a") is not None and lru.get("c") is not None
    assert len(lru) == 2 and lru.evictions == 1


def test_memory_evicts_to_stay_within_the_byte_budget() -> None:
    lru = MemoryLRU(max_entries=100, max_bytes=250, clock=Clock())
    for key in ("k1", "k2", "k3"):
        lru.put(key, entry(b"x" * 98))  # 100 bytes each with the key
    assert lru.get("k1") is None
    assert lru.bytes == 200 and len(lru) == 2


def test_memory_refuses_an_entry_larger_than_the_budget() -> None:
    lru = MemoryLRU(max_entries=10, max_bytes=100, clock=Clock())
    lru.put("small", entry(b"x"))
    assert lru.put("huge", entry(b"x" * 200)) is False
    assert lru.get("small") is not None and lru.get("huge") is None


def test_memory_replacing_a_key_keeps_the_byte_count_right() -> None:
    lru = MemoryLRU(max_entries=10, max_bytes=1000, clock=Clock())
    lru.put("k", entry(b"x" * 100))
    lru.put("k", entry(b"x" * 10))
    assert lru.bytes == 11 and len(lru) == 1


def test_memory_entries_expire_at_their_ttl() -> None:
    clock = Clock()
    lru = MemoryLRU(max_entries=10, max_bytes=1000, clock=clock)
    lru.put("short", entry(ttl=5))
    lru.put("long", entry(ttl=50))
    clock.now += 4.9
    assert lru.get("short") is not None
    clock.now += 0.2
    assert lru.get("short") is None
    assert lru.get("long") is not None
    assert lru.expirations == 1 and len(lru) == 1


def test_memory_does_not_keep_an_already_expired_entry() -> None:
    clock = Clock()
    lru = MemoryLRU(max_entries=10, max_bytes=1000, clock=clock)
    clock.now += 100
    assert lru.put("old", entry(ttl=5)) is False and len(lru) == 0


def test_memory_delete_by_glob_and_all() -> None:
    lru = MemoryLRU(max_entries=10, max_bytes=10_000, clock=Clock())
    for key in ("openai:gpt-4o:aa", "openai:gpt-4o-mini:bb", "anthropic:claude-sonnet-4-5:cc"):
        lru.put(key, entry())
    assert lru.delete("*:gpt-4o:*") == {"openai:gpt-4o:aa"}
    assert lru.delete("anthropic:*") == {"anthropic:claude-sonnet-4-5:cc"}
    assert lru.delete() == {"openai:gpt-4o-mini:bb"}
    assert len(lru) == 0 and lru.bytes == 0
