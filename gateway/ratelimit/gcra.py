"""GCRA, the generic cell rate algorithm: `limit` units per `window_ms` as a bucket that holds at most `limit`
and refills evenly (one unit every `window_ms / limit`). The whole state of a limit is one number, the
theoretical arrival time (TAT): the moment the bucket will be full again.

There are no fixed windows, so there is no boundary to double a burst across: after a burst of `limit` the next
unit is admitted one interval later, whenever that is. A check takes `cost` units (1 for requests, an estimate
for tokens) from every limit it names, or from none. `settle` corrects a token estimate once the real usage is
known; a debt may push the TAT past a full window, which later callers wait out.

This module is pure (no clock, no I/O): `MemoryStore` calls it and `redis_store.LUA` is a line-by-line copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

EPSILON_MS = 0.01  # 10 µs of float slack (sums near 1.7e12 ms round), so `limit` checks fit a window exactly


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` units per `window_ms` milliseconds."""

    limit: int
    window_ms: int
    interval_ms: float = field(init=False, repr=False, compare=False)  # one unit refills in this long

    def __post_init__(self) -> None:
        object.__setattr__(self, "interval_ms", self.window_ms / self.limit)


# The per-request values are NamedTuples: as immutable as frozen dataclasses, several times cheaper to make.


class Check(NamedTuple):
    """Take `cost` units from the bucket stored under `key`."""

    key: str
    rate: Rate
    cost: int = 1


class Status(NamedTuple):
    """One limit after a check: what the x-ratelimit-* headers report."""

    limit: int
    remaining: int
    reset_ms: int  # until the bucket is full again


class Verdict(NamedTuple):
    """The answer to a group of checks. `retry_after_ms` is how long until every denied check would pass;
    `denied` is the index of the first check that refused (None when allowed); `too_large` means a cost can
    never fit (it is bigger than the limit), so waiting does not help."""

    allowed: bool
    statuses: tuple[Status, ...]
    retry_after_ms: int = 0
    denied: int | None = None
    too_large: bool = False


def take(tat: float | None, now: float, rate: Rate, cost: int) -> tuple[bool, float]:
    """(admitted, the TAT after taking `cost` units) for a bucket whose stored TAT is `tat` (None: full)."""
    base = tat if tat is not None and tat > now else now
    new_tat = base + cost * rate.interval_ms
    return new_tat - now <= rate.window_ms + EPSILON_MS, new_tat


def status(tat: float | None, now: float, rate: Rate) -> Status:
    """The headers' view of a bucket whose TAT is `tat`."""
    ahead = tat - now if tat is not None and tat > now else 0.0
    remaining = math.floor((rate.window_ms - ahead) / rate.interval_ms + EPSILON_MS)
    return Status(rate.limit, min(rate.limit, max(0, remaining)), math.ceil(ahead - EPSILON_MS))


def retry_after_ms(new_tat: float, now: float, rate: Rate) -> int:
    """How long until a refused `take` that would have led to `new_tat` fits the window."""
    return max(1, math.ceil(new_tat - rate.window_ms - now - EPSILON_MS))


def settled(tat: float | None, now: float, rate: Rate, delta: int) -> float:
    """The TAT after correcting an earlier take by `delta` units (positive: used more than estimated)."""
    base = tat if tat is not None and tat > now else now
    if delta >= 0:
        return base + delta * rate.interval_ms
    return max(now, base + delta * rate.interval_ms)


def decide(tats: Sequence[float | None], now: float, checks: Sequence[Check]) -> tuple[Verdict, list[float]]:
    """Apply a group of checks all-or-nothing. Returns the verdict and the TATs to store (when allowed)."""
    new_tats: list[float] = []
    allowed = True
    denied: int | None = None
    too_large = False
    retry = 0
    for i, check in enumerate(checks):
        ok, new_tat = take(tats[i], now, check.rate, check.cost)
        new_tats.append(new_tat)
        if not ok:
            allowed = False
            if denied is None:
                denied = i
            if check.cost > check.rate.limit:
                too_large = True
            retry = max(retry, retry_after_ms(new_tat, now, check.rate))
    shown = new_tats if allowed else tats
    statuses = tuple([status(shown[i], now, c.rate) for i, c in enumerate(checks)])
    return Verdict(allowed, statuses, retry, denied, too_large), new_tats


def decide_one(tat: float | None, now: float, check: Check) -> tuple[Verdict, float]:
    """`decide` for a group of one check (the general limit, and the LLM limit without a TPM), without the
    group's lists (a quarter cheaper), and the same answer."""
    rate = check.rate
    ok, new_tat = take(tat, now, rate, check.cost)
    if ok:
        return Verdict(True, (status(new_tat, now, rate),)), new_tat
    retry = retry_after_ms(new_tat, now, rate)
    return Verdict(False, (status(tat, now, rate),), retry, 0, check.cost > rate.limit), new_tat


def optional_rate(limit: int, window_ms: int) -> Rate | None:
    """A Rate, or None when `limit` is 0 (the setting that turns a limit off)."""
    return Rate(limit, window_ms) if limit > 0 else None
