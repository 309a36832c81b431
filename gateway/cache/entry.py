"""One cached answer: the OpenAI JSON body (bytes, as the caller receives it) and when it was made and expires.

Times are wall-clock seconds (`time.time()`), so that entries written by one process are judged the same way
by another that reads them from Redis.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):  # made for every store and read back for every hit: cheaper than a frozen dataclass
    body: bytes  # a whole chat.completion, text_completion or embeddings list, JSON-encoded
    created: float
    expires: float

    def ttl_left(self, now: float) -> float:
        return self.expires - now
