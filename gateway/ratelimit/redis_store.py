"""RedisStore: the GCRA of `gcra.py` run inside Redis, so every replica shares one bucket per key.

One check is one `EVALSHA` (one round trip) of a script that reads every bucket of the group, decides
all-or-nothing and writes the new TATs with a TTL that ends exactly when the bucket is full again, so idle keys
vanish on their own. The clock is the Redis server's (`TIME`), the one clock every replica agrees on; tests may
inject theirs. Keys are `<prefix><key>`; a check's keys share a `{hash tag}` so the script also runs on a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gateway.ratelimit.gcra import Check, Status, Verdict

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

_NOW = """
local eps = 0.01  -- gcra.EPSILON_MS
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
"""

# KEYS: one bucket per check. ARGV: now in ms ("" = Redis TIME), then limit, window_ms, cost for each check.
# Returns {allowed, retry_after_ms, first denied index (1-based, 0 = none), too_large, then remaining, reset_ms
# per check}. Mirrors gcra.decide line by line.
CHECK_LUA = (
    _NOW
    + """
local n = #KEYS
local tats, news, limits, windows, intervals = {}, {}, {}, {}, {}
local allowed, denied, too_large, retry = 1, 0, 0, 0
for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  local new = tat + cost * interval
  tats[i], news[i], limits[i], windows[i], intervals[i] = tat, new, limit, window, interval
  if new - now > window + eps then
    allowed = 0
    if denied == 0 then denied = i end
    if cost > limit then too_large = 1 end
    local wait = math.max(1, math.ceil(new - window - now - eps))
    if wait > retry then retry = wait end
  end
end
local out = {allowed, retry, denied, too_large}
for i = 1, n do
  local shown = tats[i]
  if allowed == 1 then
    shown = news[i]
    local ttl = math.ceil(news[i] - now)
    if ttl > 0 then redis.call('SET', KEYS[i], string.format('%.3f', news[i]), 'PX', ttl) end
  end
  local ahead = math.max(0, shown - now)
  local remaining = math.floor((windows[i] - ahead) / intervals[i] + eps)
  out[#out + 1] = math.min(limits[i], math.max(0, remaining))
  out[#out + 1] = math.max(0, math.ceil(ahead - eps))
end
return out
"""
)

# KEYS[1]: the bucket. ARGV: now ("" = TIME), limit, window_ms, delta. Mirrors gcra.settled.
SETTLE_LUA = (
    _NOW
    + """
local interval = tonumber(ARGV[3]) / tonumber(ARGV[2])
local delta = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
if delta >= 0 then tat = tat + delta * interval else tat = math.max(now, tat + delta * interval) end
local ttl = math.ceil(tat - now)
if ttl > 0 then
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', ttl)
else
  redis.call('DEL', KEYS[1])
end
return ttl
"""
)


class RedisStore:
    name = "redis"

    def __init__(self, redis: Redis, *, prefix: str, clock: Callable[[], float] | None = None) -> None:
        self._prefix = prefix
        self._clock = clock  # None: the Redis server's clock
        self._check = redis.register_script(CHECK_LUA)
        self._settle = redis.register_script(SETTLE_LUA)

    def _now(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    async def check(self, checks: Sequence[Check]) -> Verdict:
        prefix = self._prefix
        args: list[str | int] = [self._now()]
        for check in checks:
            args += (check.rate.limit, check.rate.window_ms, check.cost)
        out = await self._check(keys=[prefix + c.key for c in checks], args=args)
        statuses = tuple(
            Status(check.rate.limit, int(out[4 + 2 * i]), int(out[5 + 2 * i])) for i, check in enumerate(checks)
        )
        allowed = bool(out[0])
        denied = int(out[2])
        return Verdict(
            allowed,
            statuses,
            retry_after_ms=0 if allowed else int(out[1]),
            denied=denied - 1 if denied else None,
            too_large=bool(out[3]),
        )

    async def settle(self, check: Check, delta: int) -> None:
        await self._settle(
            keys=[self._prefix + check.key], args=[self._now(), check.rate.limit, check.rate.window_ms, delta]
        )
