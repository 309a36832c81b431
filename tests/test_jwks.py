from __future__ import annotations

import orjson
import pytest

from gateway.fetch import Fetched, FetchError
from gateway.jwks import JWKSKeys

pytestmark = pytest.mark.anyio

KEY = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "alg": "HS256"}


class FakeFetcher:
    def __init__(self) -> None:
        self.kids = ["a"]
        self.calls = 0
        self.fail = False

    async def get(self, url: str, *, accept: tuple[str, ...]) -> Fetched:
        self.calls += 1
        if self.fail:
            raise FetchError("down")
        body = orjson.dumps({"keys": [{**KEY, "kid": kid} for kid in self.kids]})
        return Fetched(url=url, content_type="application/json", body=body)


async def test_jwks_rotation_refreshes_after_the_minimum_interval() -> None:
    now = [0.0]
    fetcher = FakeFetcher()
    keys = JWKSKeys("https://idp/jwks", fetcher, ttl_s=600, clock=lambda: now[0])  # type: ignore[arg-type]
    assert await keys.key_for("a") is not None and fetcher.calls == 1
    fetcher.kids = ["a", "b"]  # the IdP rotates in a new key
    assert await keys.key_for("b") is None and fetcher.calls == 1  # too soon after the last fetch
    now[0] = 31.0
    assert await keys.key_for("b") is not None and fetcher.calls == 2


async def test_jwks_failed_refresh_keeps_known_keys() -> None:
    now = [0.0]
    fetcher = FakeFetcher()
    keys = JWKSKeys("https://idp/jwks", fetcher, ttl_s=60, clock=lambda: now[0])  # type: ignore[arg-type]
    await keys.key_for("a")
    fetcher.fail = True
    now[0] = 120.0  # stale: a refresh is tried and fails
    assert await keys.key_for("a") is not None and fetcher.calls == 2
