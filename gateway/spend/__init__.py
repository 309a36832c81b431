"""Budget accounting: money spent and money held for calls in flight, per budget and period.

A call first *reserves* its worst-case cost on every budget that applies to it (capped at what remains), and is
refused when any of them has nothing left after the reservations of calls in flight. When it ends, it *settles*:
the hold is released and the actual cost is added to the spend. So concurrent calls cannot together overshoot a
budget; spend passes it by at most the one call that crossed it (CONTRACT §6).

`MemorySpend` serves one process (no REDIS_URL; seeded from the ledger at start); `RedisSpend`
(gateway/spend/redis.py) is used whenever REDIS_URL is set and shares the figures between workers and replicas with
one atomic script per step. Amounts are integer nano-units.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

PeriodName = Literal["day", "month"]


@dataclass(frozen=True, slots=True)
class Cap:
    """One budget applied to one call: whose (`global` or `user:<sub>`), which period, how much."""

    owner: str  # "global" or "user:<sub>"
    period: PeriodName
    period_key: str  # "2026-11-03" or "2026-11"
    limit: int  # nano-units
    resets_at: float  # Unix seconds when the period ends

    @property
    def key(self) -> str:
        return f"{self.owner}:{self.period}:{self.period_key}"

    @property
    def user(self) -> str | None:
        return self.owner[5:] if self.owner.startswith("user:") else None


@dataclass(frozen=True, slots=True)
class Hold:
    """Money set aside for one call in flight."""

    id: str
    caps: tuple[Cap, ...]
    amount: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call was not admitted: the budget with nothing left, its spend and what calls in flight hold."""

    cap: Cap
    spent: int
    reserved: int


class SpendStore(Protocol):
    async def reserve(self, hold_id: str, caps: Sequence[Cap], amount: int) -> Hold | Refusal: ...

    async def settle(self, hold: Hold, actual: int) -> list[int]:
        """Release the hold, add `actual`; returns each cap's spend afterwards (for alerts)."""
        ...

    async def spent(self, cap: Cap) -> int: ...


class MemorySpend:
    """In-process figures. Check-and-reserve runs without an await in between, so it is atomic on the loop."""

    def __init__(self) -> None:
        self._spent: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self._holds: dict[str, Hold] = {}
        self._ends: dict[str, float] = {}  # cap key -> when its period ends
        self._next_prune = 0.0

    def seed(self, cap: Cap, spent: int) -> None:
        """Start a period from what the ledger already holds (a restart mid-day keeps the day's spend)."""
        self._spent[cap.key] = spent
        self._ends[cap.key] = cap.resets_at

    async def reserve(self, hold_id: str, caps: Sequence[Cap], amount: int) -> Hold | Refusal:
        self._forget_finished_periods()
        room = None
        for cap in caps:
            spent = self._spent.get(cap.key, 0)
            reserved = self._reserved.get(cap.key, 0)
            remaining = cap.limit - spent - reserved
            if remaining <= 0:
                return Refusal(cap, spent, reserved)
            room = remaining if room is None else min(room, remaining)
        held = min(amount, room) if room is not None else amount
        for cap in caps:
            self._reserved[cap.key] = self._reserved.get(cap.key, 0) + held
            self._ends[cap.key] = cap.resets_at
        hold = Hold(hold_id, tuple(caps), held)
        self._holds[hold_id] = hold
        return hold

    async def settle(self, hold: Hold, actual: int) -> list[int]:
        return self.settle_now(hold, actual)

    def settle_now(self, hold: Hold, actual: int) -> list[int]:
        """`settle` without a task: in-process figures need no I/O, so the layer settles inline."""
        known = self._holds.pop(hold.id, None) is not None
        after: list[int] = []
        for cap in hold.caps:
            if known:
                self._reserved[cap.key] = self._reserved.get(cap.key, 0) - hold.amount
            spent = self._spent.get(cap.key, 0) + actual
            self._spent[cap.key] = spent
            after.append(spent)
        return after

    async def spent(self, cap: Cap) -> int:
        return self._spent.get(cap.key, 0)

    def _forget_finished_periods(self) -> None:
        """Drop the figures of periods that have ended (nothing is held on them any more); once a minute."""
        now = time.time()
        if now < self._next_prune:
            return
        self._next_prune = now + 60
        for key in [k for k, end in self._ends.items() if end <= now and not self._reserved.get(k)]:
            self._spent.pop(key, None)
            self._reserved.pop(key, None)
            del self._ends[key]
