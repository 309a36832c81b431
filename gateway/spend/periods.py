"""Budget periods: where today and this month begin and end in `COST_TIMEZONE`.

The boundaries are computed once and reused until the clock passes the end of the day, so the request path
pays one float comparison, not a time-zone conversion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Periods:
    """The current day and month: keys (`2026-11-03`, `2026-11`) and [start, end) as Unix seconds."""

    day: str
    month: str
    day_start: float
    day_end: float
    month_start: float
    month_end: float


class PeriodClock:
    def __init__(self, timezone: str = "UTC", *, now: Callable[[], float] = time.time) -> None:
        self.tz = ZoneInfo(timezone)
        self._now = now
        self._current: Periods | None = None

    def now(self) -> float:
        return self._now()

    def current(self) -> Periods:
        now = self._now()
        periods = self._current
        if periods is None or not (periods.day_start <= now < periods.day_end):
            periods = self._current = self.at(now)
        return periods

    def at(self, when: float) -> Periods:
        local = datetime.fromtimestamp(when, self.tz)
        day = datetime(local.year, local.month, local.day, tzinfo=self.tz)
        next_day = _midnight(day + timedelta(days=1), self.tz)
        month = datetime(local.year, local.month, 1, tzinfo=self.tz)
        next_month = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=self.tz)
        return Periods(
            day=day.strftime("%Y-%m-%d"),
            month=month.strftime("%Y-%m"),
            day_start=day.timestamp(),
            day_end=next_day.timestamp(),
            month_start=month.timestamp(),
            month_end=next_month.timestamp(),
        )


def _midnight(moment: datetime, tz: ZoneInfo) -> datetime:
    """Local midnight of `moment`'s date (adding a day across a DST change keeps wall time, so rebuild it)."""
    return datetime(moment.year, moment.month, moment.day, tzinfo=tz)
