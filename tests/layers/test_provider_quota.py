"""ProviderQuota with a stub `next`: per-provider and per-model rpm/tpm, a retryable 429 UpstreamError that
failover can route around, tokens settled with the real usage."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import build_app
from gateway.errors import UpstreamError
from gateway.layers.provider_quota import ProviderQuota
from gateway.ratelimit.gcra import Check, Rate
from gateway.ratelimit.limiter import Limiter
from gateway.ratelimit.memory import MemoryStore
from gateway.settings import GatewayConfig, Settings
from gateway.types import JSON, ChatCall, Principal, Reply, Target
from tests.conftest import auth, make_settings

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000.0
CHAT: JSON = {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}


def call(provider: str = "openai", model: str = "gpt-4o", text: str = "x" * 400) -> ChatCall:
    body: JSON = {"model": model, "messages": [{"role": "user", "content": text}]}
    return ChatCall("chat", body, Target(provider, model), Principal("alice"), "req_1")


async def ok(c: ChatCall) -> Reply:
    return Reply(c.target, body={"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 10}})


def quota(providers: dict[str, JSON]) -> tuple[ProviderQuota, MemoryStore]:
    store = MemoryStore(clock=lambda: T0)
    return ProviderQuota(Limiter(None, local=store), providers), store


async def test_provider_quota_rpm_raises_retryable_429() -> None:
    layer, _ = quota({"openai": {"rpm": 2}})
    await layer(call(), ok)
    await layer(call(), ok)
    with pytest.raises(UpstreamError) as caught:
        await layer(call(), ok)
    error = caught.value
    assert (error.status, error.retryable, error.provider) == (429, True, "openai")
    assert (error.code, error.type) == ("rate_limit_exceeded", "rate_limit_error")
    assert error.headers["retry-after"] == "30"
    assert error.headers["x-ratelimit-limit-requests"] == "2"
    assert error.vendor is not None and error.vendor.retry_after_s == 30.0  # what failover reads to wait


async def test_provider_quota_leaves_other_providers_alone() -> None:
    layer, store = quota({"openai": {"rpm": 1}})
    await layer(call(), ok)
    for _ in range(5):
        await layer(call("anthropic", "claude-sonnet-4-5"), ok)
    assert len(store) == 1


async def test_provider_quota_per_model_cap() -> None:
    layer, _ = quota({"openai": {"rpm": 100, "models": {"gpt-4o": {"rpm": 1}}}})
    await layer(call(model="gpt-4o"), ok)
    with pytest.raises(UpstreamError) as caught:
        await layer(call(model="gpt-4o"), ok)
    assert "openai/gpt-4o" in caught.value.message
    await layer(call(model="gpt-4o-mini"), ok)  # the provider's own cap still has room


async def test_provider_quota_tpm_settles_with_usage() -> None:
    layer, store = quota({"openai": {"tpm": 1000}})
    await layer(call(text="x" * 400), ok)  # estimate 104, used 50
    probe = Check("{p:openai}:tpm", Rate(1000, 60_000), 0)
    assert store.check_now([probe]).statuses[0].remaining == 950


async def test_provider_quota_tpm_refuses_past_the_cap() -> None:
    layer, _ = quota({"openai": {"tpm": 150}})
    await layer(call(text="x" * 400), ok)  # 50 used, 100 left
    with pytest.raises(UpstreamError) as caught:
        await layer(call(text="x" * 800), ok)  # ~204 estimated
    assert caught.value.headers["x-ratelimit-limit-tokens"] == "150"
    assert "tokens per minute" in caught.value.message


async def test_provider_quota_without_caps_is_a_pass_through() -> None:
    layer, store = quota({})
    reply = await layer(call(), ok)
    assert reply.body is not None and len(store) == 0


async def test_provider_quota_in_the_app_429_reaches_the_caller_without_a_route() -> None:
    settings = make_settings(config=GatewayConfig(providers={"mock": {"rpm": 1}}))
    async with served(settings) as client:
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        refused = await client.post("/v1/chat/completions", json={**CHAT, "fallbacks": []})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["retry-after"] == "60"


async def test_provider_quota_in_the_app_failover_routes_around_a_model_at_its_cap() -> None:
    caps = GatewayConfig(providers={"mock": {"models": {"echo": {"rpm": 1}}}})
    async with served(make_settings(config=caps, failover_enabled=True)) as client:
        assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200
        rerouted = await client.post("/v1/chat/completions", json={**CHAT, "fallbacks": ["mock/other"]})
    assert rerouted.status_code == 200
    assert rerouted.json()["model"] == "other"
    assert rerouted.headers["x-gateway-fallback"] == "mock"


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", headers=auth()) as client:
            yield client
