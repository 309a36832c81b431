"""The in-process tier: an LRU bounded by entry count and by bytes, with a per-entry expiry.

A read refreshes recency; an expired entry is dropped when it is met. Writing past either bound evicts the
least recently used entries; an entry larger than the whole byte budget is not kept. `bytes` counts each
entry's key and body, the part that grows with traffic. Not thread-safe: one event loop owns it.
"""

from __future__ import annotations

import fnmatch
import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.cache.entry import Entry
from gateway.types import JSON


class MemoryLRU:
    def __init__(self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires <= self._clock():
            self._drop(key, entry)
            self.expirations += 1
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: str, entry: Entry) -> bool:
        """Keep `entry`; False when it is too large for the byte budget or already expired."""
        size = len(key) + len(entry.body)
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(key) + len(old.body)
        if size > self.max_bytes or entry.expires <= self._clock():
            return False
        self._entries[key] = entry
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest, victim = next(iter(self._entries.items()))
            self._drop(oldest, victim)
            self.evictions += 1
        return True

    def delete(self, pattern: str | None = None) -> set[str]:
        """Drop every key (pattern None) or those matching a glob; the dropped keys."""
        if pattern is None:
            dropped = set(self._entries)
            self._entries.clear()
            self.bytes = 0
            return dropped
        dropped = {key for key in self._entries if fnmatch.fnmatchcase(key, pattern)}
        for key in dropped:
            self._drop(key, self._entries[key])
        return dropped

    def _drop(self, key: str, entry: Entry) -> None:
        del self._entries[key]
        self.bytes -= len(key) + len(entry.body)

    def stats(self) -> JSON:
        return {
            "enabled": True,
            "entries": len(self._entries),
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "expirations": self.expirations,
        }
