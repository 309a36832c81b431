"""When to try a failed upstream call again, and how long to wait first.

Exponential backoff with full jitter (a random wait in `[0, min(max_delay, base * 2**retry)]`), except that a
vendor's `retry-after`/`retry-after-ms` (already parsed into `VendorError.retry_after_s`) is honoured as given
when it is within the cap; a longer one means this target cannot help in time, so the caller moves on. Every
retry is bounded by the attempt count and by a total deadline. The clock and the random source are injected,
so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class Random(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3  # attempts per target, the first one included
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0  # the cap on any wait, a vendor's retry-after included
    deadline_s: float = 60.0  # no retry starts (or is waited for) past this many seconds after the call began

    def delay(self, retry: int, *, retry_after_s: float | None = None, rng: Random = random) -> float | None:
        """The wait before retry number `retry` (1 = the first retry), or None when no retry should be made."""
        if retry < 1 or retry >= self.max_attempts:
            return None
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= self.max_delay_s else None
        ceiling = min(self.max_delay_s, self.base_delay_s * (1 << (retry - 1)))
        return rng.random() * ceiling

    def fits(self, delay_s: float, *, elapsed_s: float) -> bool:
        """True if a retry after waiting `delay_s` would still start within the deadline."""
        return elapsed_s + delay_s < self.deadline_s
