"""Public keys for RS256/ES256 tokens from a JWKS URL (`JWT_JWKS_URL`), fetched through the SSRF guard.

The key set is cached for `JWT_JWKS_CACHE_S`; a token naming an unknown `kid` triggers a refresh (key rotation),
at most once per `MIN_REFRESH_S`, so a flood of forged `kid`s cannot turn into a flood of fetches. A failed
fetch keeps the keys already known and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.fetch import FetchError, GuardedFetcher

logger = logging.getLogger(__name__)

MIN_REFRESH_S = 30.0
JWKS_TYPES = ("application/json", "application/jwk-set+json")


class JWKSKeys:
    def __init__(
        self,
        url: str,
        fetcher: GuardedFetcher,
        *,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetcher = fetcher
        self._ttl_s = ttl_s
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> Any | None:
        """The verification key for `kid` (or the only key, when the token names none)."""
        if self._should_refresh(kid):
            async with self._lock:  # one fetch at a time; the others then find the keys fresh
                if self._should_refresh(kid):
                    await self._refresh()
        return self._lookup(kid)

    def _should_refresh(self, kid: str | None) -> bool:
        now = self._clock()
        stale = now - self._fetched_at >= self._ttl_s
        unknown = self._lookup(kid) is None
        return (stale or unknown) and now - self._attempted_at >= MIN_REFRESH_S

    def _lookup(self, kid: str | None) -> Any | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        import jwt  # here: PyJWT loads `cryptography`, needed only once a JWKS is configured (gateway/auth.py)

        self._attempted_at = self._clock()
        try:
            fetched = await self._fetcher.get(self._url, accept=JWKS_TYPES)
            key_set = jwt.PyJWKSet.from_dict(orjson.loads(fetched.body))
        except (FetchError, orjson.JSONDecodeError, jwt.PyJWKSetError, jwt.InvalidKeyError) as exc:
            logger.warning("JWKS fetch failed; keeping the keys already known", extra={"error": str(exc)})
            return
        self._keys = {key.key_id or f"_{index}": key.key for index, key in enumerate(key_set.keys)}
        self._fetched_at = self._attempted_at
