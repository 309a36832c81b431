"""Shared fixtures: settings built directly (never from the real environment), the app with its lifespan
running, an ASGI client with a valid token, and the real Redis for the tests that need it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import build_app
from gateway.auth import issue_token
from gateway.settings import Settings

SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789-ABCDEFGH"
OPENAI_BASE = "https://api.openai.test/v1"
ANTHROPIC_BASE = "https://api.anthropic.test"
GOOGLE_BASE = "https://generativelanguage.googleapis.test"
CONTRACT_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GOOGLE_API_KEY",
    "REDIS_URL",
    "JWT_SECRET",
    "GATEWAY_CONFIG",
    "AUTH_DISABLED",
    "CACHE_ENABLED",
    "CACHE_STRATEGY",
    "MOCK_PROVIDER",
    "HOST",
    "PORT",
    "WORKERS",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own keys or settings (as httpx's conftest does)."""
    for var in CONTRACT_VARS:
        monkeypatch.delenv(var, raising=False)


def make_settings(**overrides: Any) -> Settings:
    base = Settings(
        jwt_secret=SECRET,
        mock_provider=True,
        mock_stream_delay_ms=0,
        upstream_transport="httpx",  # pytest-httpx patches httpx's own transport
        openai_api_key="sk-test-openai-key",
        openai_base_url=OPENAI_BASE,
        anthropic_base_url=ANTHROPIC_BASE,
        google_base_url=GOOGLE_BASE,
        cost_db_path=":memory:",  # the cost ledger never writes into the working tree
        # limits stay on (their headers and code path run everywhere) but high enough that only the rate-limit
        # tests, which set their own, ever meet them
        rate_limit_max_requests=1_000_000,
        llm_rate_limit_max_requests=1_000_000,
        # one upstream call per request, as most tests script it; the failover tests (tests/layers/test_failover*,
        # tests/test_batch.py) turn it on with their own retry timings
        failover_enabled=False,
    )
    return replace(base, **overrides)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


def token(user: str = "alice", *, admin: bool = False) -> str:
    return issue_token(SECRET, sub=user, admin=admin)


def auth(user: str = "alice", *, admin: bool = False) -> dict[str, str]:
    return {"authorization": f"Bearer {token(user, admin=admin)}"}


async def started(app: Starlette) -> Any:
    """The app's lifespan as an async context manager (ASGITransport does not run it)."""
    return app.router.lifespan_context(app)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = build_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as c:
        yield c


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis (db 15). Under CI=true an unreachable Redis fails the test; locally it skips."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {url} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    yield url
