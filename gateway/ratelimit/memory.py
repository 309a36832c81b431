"""MemoryStore: GCRA buckets in one process's memory (RATE_LIMIT_STORE=memory, and the fallback while Redis
is down). A bucket is one float in a dict; checks never await, so a group of checks is atomic on the event loop.

A bucket whose TAT has passed is full, which is the same as absent, so the dict is swept of those whenever it
has doubled since the last sweep (amortised O(1)); `max_keys` bounds it even under a flood of distinct keys by
dropping the oldest buckets, which only ever lets more through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from gateway.ratelimit.gcra import Check, Verdict, decide, decide_one, settled

logger = logging.getLogger(__name__)

MIN_SWEEP_SIZE = 1024
MAX_KEYS = 500_000


def monotonic_ms() -> float:
    return time.monotonic() * 1000.0


class MemoryStore:
    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = monotonic_ms, max_keys: int = MAX_KEYS) -> None:
        self._clock = clock  # milliseconds; tests inject their own
        self._tats: dict[str, float] = {}
        self._max_keys = max_keys
        self._sweep_at = MIN_SWEEP_SIZE

    def __len__(self) -> int:
        return len(self._tats)

    async def check(self, checks: Sequence[Check]) -> Verdict:
        return self.check_now(checks)

    def check_now(self, checks: Sequence[Check]) -> Verdict:
        now = self._clock()
        tats = self._tats
        new_tats: Sequence[float]
        if len(checks) == 1:
            verdict, new_tat = decide_one(tats.get(checks[0].key), now, checks[0])
            new_tats = (new_tat,)
        else:
            verdict, new_tats = decide([tats.get(c.key) for c in checks], now, checks)
        if verdict.allowed:
            for check, tat in zip(checks, new_tats, strict=True):
                tats[check.key] = tat
            if len(tats) >= self._sweep_at:
                self._sweep(now)
        return verdict

    async def settle(self, check: Check, delta: int) -> None:
        now = self._clock()
        tat = settled(self._tats.get(check.key), now, check.rate, delta)
        if tat > now:
            self._tats[check.key] = tat
        else:
            self._tats.pop(check.key, None)

    def _sweep(self, now: float) -> None:
        tats = self._tats
        for key in [k for k, tat in tats.items() if tat <= now]:
            del tats[key]
        if len(tats) >= self._max_keys:  # still full of live buckets: drop the oldest quarter, then sweep later
            excess = len(tats) - self._max_keys * 3 // 4
            logger.warning("rate-limit memory store full; dropping the oldest buckets", extra={"dropped": excess})
            for key in list(tats)[:excess]:
                del tats[key]
        self._sweep_at = min(max(MIN_SWEEP_SIZE, 2 * len(tats)), self._max_keys)
