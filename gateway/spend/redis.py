"""Budget figures in Redis, shared by every gateway replica (`COST_STORE=redis`).

Reserving is one Lua script over all the budgets of a call: it drops expired holds, checks that each budget has
money left after the holds of calls in flight, and takes the hold on all of them, atomically. Settling is another
script. A hold carries an expiry (a replica that dies mid-call does not freeze its budget for the rest of the
period); keys expire a while after their period ends. All keys share the `{b}` hash tag, so one script may touch
them together on a Redis Cluster too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.spend import Cap, Hold, Refusal

if TYPE_CHECKING:  # redis-py is imported only when REDIS_URL is set (gateway/store.py)
    from redis.asyncio import Redis

KEEP_AFTER_PERIOD_S = 2 * 86400  # figures stay readable for two days after their period ends

# KEYS: three per cap (figures hash, holds hash, hold-expiry zset)
# ARGV: now, amount, hold_id, hold_expires_at, then per cap: limit, key ttl (s)
RESERVE = """
local n = #KEYS / 3
local now = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local room = nil
for i = 1, n do
  local figures, holds, expiries = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local stale = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  for _, id in ipairs(stale) do
    local held = tonumber(redis.call('HGET', holds, id) or '0')
    redis.call('HDEL', holds, id)
    redis.call('HINCRBY', figures, 'reserved', -held)
  end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
  local spent = tonumber(redis.call('HGET', figures, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', figures, 'reserved') or '0')
  local remaining = tonumber(ARGV[3 + 2*i]) - spent - reserved
  if remaining <= 0 then return {0, i, spent, reserved} end
  if room == nil or remaining < room then room = remaining end
end
if room ~= nil and amount > room then amount = room end
for i = 1, n do
  local figures, holds, expiries = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local ttl = tonumber(ARGV[4 + 2*i])
  redis.call('HINCRBY', figures, 'reserved', amount)
  redis.call('HSET', holds, ARGV[3], amount)
  redis.call('ZADD', expiries, ARGV[4], ARGV[3])
  redis.call('EXPIRE', figures, ttl)
  redis.call('EXPIRE', holds, ttl)
  redis.call('EXPIRE', expiries, ttl)
end
return {1, amount}
"""

# KEYS: three per cap; ARGV: hold_id, actual, then per cap: key ttl (s)
SETTLE = """
local n = #KEYS / 3
local out = {}
for i = 1, n do
  local figures, holds, expiries = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local held = redis.call('HGET', holds, ARGV[1])
  if held then
    redis.call('HDEL', holds, ARGV[1])
    redis.call('ZREM', expiries, ARGV[1])
    redis.call('HINCRBY', figures, 'reserved', -tonumber(held))
  end
  out[i] = redis.call('HINCRBY', figures, 'spent', ARGV[2])
  redis.call('EXPIRE', figures, tonumber(ARGV[2 + i]))
end
return out
"""


class RedisSpend:
    def __init__(self, redis: Redis, *, prefix: str = "llmgw:costs:", hold_ttl_s: float = 900.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._hold_ttl_s = hold_ttl_s
        self._reserve: Any = redis.register_script(RESERVE)
        self._settle: Any = redis.register_script(SETTLE)

    def _keys(self, caps: Sequence[Cap]) -> list[str]:
        keys: list[str] = []
        for cap in caps:
            base = f"{self._prefix}budget:{{b}}:{cap.key}"
            keys += [base, base + ":holds", base + ":expiries"]
        return keys

    @staticmethod
    def _ttl(cap: Cap, now: float) -> int:
        return max(60, int(cap.resets_at - now) + KEEP_AFTER_PERIOD_S)

    async def reserve(self, hold_id: str, caps: Sequence[Cap], amount: int) -> Hold | Refusal:
        now = time.time()
        args: list[Any] = [f"{now:.6f}", amount, hold_id, f"{now + self._hold_ttl_s:.6f}"]
        for cap in caps:
            args += [cap.limit, self._ttl(cap, now)]
        result = await self._reserve(keys=self._keys(caps), args=args)
        if int(result[0]) == 0:
            return Refusal(caps[int(result[1]) - 1], int(result[2]), int(result[3]))
        return Hold(hold_id, tuple(caps), int(result[1]))

    async def settle(self, hold: Hold, actual: int) -> list[int]:
        now = time.time()
        args: list[Any] = [hold.id, actual, *(self._ttl(cap, now) for cap in hold.caps)]
        result = await self._settle(keys=self._keys(hold.caps), args=args)
        return [int(v) for v in result]

    async def spent(self, cap: Cap) -> int:
        value = await self._redis.hget(self._keys([cap])[0], "spent")
        return int(value or 0)
