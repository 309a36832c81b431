"""The general limit: per user on authenticated routes, per client IP otherwise, never on health or metrics;
X-Forwarded-For believed only from TRUSTED_PROXIES."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import build_app
from gateway.middleware.ratelimit import client_ip, parse_networks
from tests.conftest import auth, make_settings

pytestmark = pytest.mark.anyio


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 5000), "headers": [(b"x-forwarded-for", v.encode()) for v in forwarded]}


PROXIES = parse_networks(["10.0.0.0/8", "::1"])


def test_client_ip_ignores_forwarded_for_from_untrusted_peer() -> None:
    assert client_ip(scope("203.0.113.9", "1.2.3.4"), PROXIES) == "203.0.113.9"
    assert client_ip(scope("203.0.113.9", "1.2.3.4"), ()) == "203.0.113.9"


def test_client_ip_reads_forwarded_for_from_a_trusted_proxy() -> None:
    assert client_ip(scope("10.0.0.5", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_client_ip_skips_trusted_hops_and_ignores_spoofed_left_entries() -> None:
    # the client claimed 1.1.1.1; the outer proxy 10.1.1.1 saw 198.51.100.7; the inner proxy saw 10.1.1.1
    assert client_ip(scope("10.0.0.5", "1.1.1.1, 198.51.100.7, 10.1.1.1"), PROXIES) == "198.51.100.7"
    assert client_ip(scope("10.0.0.5", "1.1.1.1, 198.51.100.7", "10.1.1.1"), PROXIES) == "198.51.100.7"


def test_client_ip_garbage_from_a_trusted_proxy_falls_back_to_the_proxy() -> None:
    assert client_ip(scope("10.0.0.5", "not-an-ip"), PROXIES) == "10.0.0.5"


def test_client_ip_ipv6_is_normalised() -> None:
    assert client_ip(scope("::1", "2001:db8:0:0::1"), PROXIES) == "2001:db8::1"


@pytest.fixture
async def limited(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    overrides = {"rate_limit_max_requests": 3, "rate_limit_window_ms": 60_000, **getattr(request, "param", {})}
    settings = make_settings(**overrides)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


async def test_ratelimit_middleware_limits_each_user_separately(limited: httpx.AsyncClient) -> None:
    statuses = [(await limited.get("/v1/models", headers=auth("alice"))).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert (await limited.get("/v1/models", headers=auth("bob"))).status_code == 200


async def test_ratelimit_middleware_headers_on_success(limited: httpx.AsyncClient) -> None:
    first = await limited.get("/v1/models", headers=auth("carol"))
    second = await limited.get("/v1/models", headers=auth("carol"))
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert [first.headers["x-ratelimit-remaining-requests"], second.headers["x-ratelimit-remaining-requests"]] == [
        "2",
        "1",
    ]
    assert first.headers["x-ratelimit-reset-requests"] == "20s"  # one interval of a 60 s / 3 bucket


async def test_ratelimit_middleware_429_is_openai_shaped(limited: httpx.AsyncClient) -> None:
    for _ in range(3):
        await limited.get("/v1/models", headers=auth("dave"))
    refused = await limited.get("/v1/models", headers=auth("dave"))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert refused.headers["retry-after"] == "20"
    assert 19_000 < int(refused.headers["retry-after-ms"]) <= 20_000
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-request-id"]


async def test_ratelimit_middleware_never_limits_health_or_metrics(limited: httpx.AsyncClient) -> None:
    for path in ("/api/health", "/metrics", "/api/metrics/prometheus"):
        answers = [await limited.get(path) for _ in range(6)]
        assert all(a.status_code != 429 for a in answers), path
        assert "x-ratelimit-limit-requests" not in answers[-1].headers


async def test_ratelimit_middleware_limits_unauthenticated_traffic_per_ip(limited: httpx.AsyncClient) -> None:
    answers = [await limited.get("/openapi.json") for _ in range(4)]
    assert [a.status_code == 429 for a in answers] == [False, False, False, True]
    # a user from the same address has a bucket of their own
    assert (await limited.get("/v1/models", headers=auth("erin"))).status_code == 200


async def test_ratelimit_middleware_spoofed_forwarded_for_does_not_escape(limited: httpx.AsyncClient) -> None:
    answers = [await limited.get("/openapi.json", headers={"x-forwarded-for": f"198.51.100.{i}"}) for i in range(4)]
    assert answers[-1].status_code == 429  # the peer is not a trusted proxy: one bucket, whatever it claims


@pytest.mark.parametrize("limited", [{"trusted_proxies": ("203.0.113.0/24",)}], indirect=True)
async def test_ratelimit_middleware_trusted_proxy_keys_on_the_forwarded_client(limited: httpx.AsyncClient) -> None:
    answers = [await limited.get("/openapi.json", headers={"x-forwarded-for": f"198.51.100.{i}"}) for i in range(4)]
    assert all(a.status_code != 429 for a in answers)  # four clients behind the proxy, one request each
    same = [await limited.get("/openapi.json", headers={"x-forwarded-for": "198.51.100.200"}) for _ in range(4)]
    assert same[-1].status_code == 429


@pytest.mark.parametrize("limited", [{"rate_limit_max_requests": 0}], indirect=True)
async def test_ratelimit_middleware_zero_turns_the_limit_off(limited: httpx.AsyncClient) -> None:
    answers = [await limited.get("/v1/models", headers=auth("frank")) for _ in range(5)]
    assert all(a.status_code == 200 for a in answers)
    assert "x-ratelimit-limit-requests" not in answers[0].headers
