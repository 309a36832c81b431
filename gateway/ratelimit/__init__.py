"""Rate limiting that holds across replicas (CONTRACT §2, §6, §7).

    gcra.py          the algorithm: a pure function of (stored state, now, rate, cost); values shared by backends
    memory.py        MemoryStore: one process, a dict of floats, swept as it grows
    redis_store.py   RedisStore: the same algorithm as one Lua script per check (one round trip, TTL'd keys)
    limiter.py       Limiter: Redis when it answers, per-process memory while it does not (or 503 if closed)
    headers.py       x-ratelimit-* headers and OpenAI's duration style (`20ms`, `1s`, `6m0s`)
    estimate.py      a cheap prompt-token estimate for token limits, settled with the real usage afterwards

The users are `middleware/ratelimit.py` (every route), `layers/ratelimit.py` (per-user LLM requests and tokens)
and `layers/provider_quota.py` (per-provider requests and tokens, inside failover).
"""
