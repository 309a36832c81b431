"""The LLM metrics layer alone, with stub `next` handlers: costs, capped users, and how streams end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from gateway.context import CURRENT, RequestRecord
from gateway.errors import RateLimitError, UpstreamError
from gateway.layers.metrics import LLMMetrics
from gateway.metrics import Metrics
from gateway.types import ChatCall, Chunk, Principal, Reply, Target

pytestmark = pytest.mark.anyio

TARGET = Target("openai", "gpt-4o")


def call(user: str = "alice", *, stream: bool = False) -> ChatCall:
    return ChatCall(kind="chat", body={}, target=TARGET, principal=Principal(user), request_id="req_1", stream=stream)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


class Chunks:
    def __init__(self, chunks: list[Chunk], *, fail: Exception | None = None) -> None:
        self._chunks = chunks
        self._fail = fail
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Chunk]:
        for chunk in self._chunks:
            yield chunk
        if self._fail is not None:
            raise self._fail

    async def aclose(self) -> None:
        self.closed = True


ROLE = Chunk({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
TEXT = Chunk({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
USAGE = Chunk({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})


async def test_metrics_layer_counts_cost_from_header_with_capped_users() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry, max_users=2))

    async def answer(c: ChatCall) -> Reply:
        return Reply(
            TARGET,
            body={"usage": {"prompt_tokens": 3, "completion_tokens": 1}},
            headers={"x-gateway-cost": "0.0015", "x-gateway-cache": "miss"},
        )

    for user in ("alice", "bob", "carol", "dave", "alice"):
        await layer(call(user), answer)
    assert value(registry, "llm_cost_total", provider="openai", model="gpt-4o", user="alice") == pytest.approx(0.003)
    assert value(registry, "llm_cost_total", provider="openai", model="gpt-4o", user="bob") == pytest.approx(0.0015)
    assert value(registry, "llm_cost_total", provider="openai", model="gpt-4o", user="other") == pytest.approx(0.003)
    assert value(registry, "llm_cost_total", provider="openai", model="gpt-4o", user="carol") is None
    assert value(registry, "llm_requests_total", provider="openai", model="gpt-4o", status="200", cache="miss") == 5
    assert value(registry, "gateway_cache_lookups_total", result="miss") == 5


async def test_metrics_layer_fills_the_request_record() -> None:
    layer = LLMMetrics(Metrics(CollectorRegistry()))
    record = RequestRecord(request_id="req_1")
    token = CURRENT.set(record)

    async def answer(c: ChatCall) -> Reply:
        return Reply(
            TARGET,
            body={"usage": {"prompt_tokens": 3, "completion_tokens": 1}},
            headers={"x-gateway-cost": "0.25", "x-gateway-cache": "hit"},
        )

    try:
        await layer(call("alice"), answer)
    finally:
        CURRENT.reset(token)
    assert (record.user, record.provider, record.model, record.cache) == ("alice", "openai", "gpt-4o", "hit")
    assert (record.prompt_tokens, record.completion_tokens, record.cost) == (3, 1, Decimal("0.25"))


async def test_metrics_layer_counts_rejections_by_reason() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry))

    async def limited(c: ChatCall) -> Reply:
        raise RateLimitError("slow down", retry_after_s=1)

    with pytest.raises(RateLimitError):
        await layer(call(), limited)
    assert value(registry, "gateway_rate_limit_rejections_total", reason="rate_limit") == 1
    assert value(registry, "error_rate_total", type="rate_limit_error", provider="openai", status="429") == 1
    assert value(registry, "gateway_llm_in_flight", provider="openai") == 0


async def test_metrics_layer_stream_records_ttft_tokens_and_cost_at_the_end() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry), cost_of=lambda target, usage: Decimal(usage.total_tokens) / 1000)
    inner = Chunks([ROLE, TEXT, USAGE])

    async def streamed(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=inner)

    reply = await layer(call(stream=True), streamed)
    assert value(registry, "gateway_llm_in_flight", provider="openai") == 1  # until the last chunk
    assert reply.stream is not None
    seen = [chunk async for chunk in reply.stream]
    assert seen == [ROLE, TEXT, USAGE]  # passed through unchanged
    assert value(registry, "gateway_llm_in_flight", provider="openai") == 0
    labels = {"provider": "openai", "model": "gpt-4o"}
    assert value(registry, "gateway_llm_time_to_first_token_seconds_count", **labels) == 1
    assert value(registry, "gateway_llm_stream_duration_seconds_count", **labels) == 1
    assert value(registry, "llm_tokens_total", type="prompt", **labels) == 7
    assert value(registry, "llm_tokens_total", type="completion", **labels) == 2
    assert value(registry, "llm_cost_total", user="alice", **labels) == pytest.approx(0.009)
    assert value(registry, "llm_requests_total", status="200", cache="bypass", **labels) == 1


async def test_metrics_layer_stream_closed_early_counts_499() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry))
    inner = Chunks([ROLE, TEXT, USAGE])

    async def streamed(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=inner)

    reply = await layer(call(stream=True), streamed)
    assert reply.stream is not None
    await reply.stream.aclose()  # the caller left before reading
    assert inner.closed
    labels = {"provider": "openai", "model": "gpt-4o"}
    assert value(registry, "llm_requests_total", status="499", cache="bypass", **labels) == 1
    assert value(registry, "gateway_llm_time_to_first_token_seconds_count", **labels) is None  # no content came
    assert value(registry, "gateway_llm_in_flight", provider="openai") == 0


async def test_metrics_layer_stream_failure_counts_its_error_status() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry))
    failure = UpstreamError("gone", provider="openai", retryable=True, status=502)
    inner = Chunks([ROLE, TEXT], fail=failure)

    async def streamed(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=inner)

    reply = await layer(call(stream=True), streamed)
    assert reply.stream is not None
    with pytest.raises(UpstreamError):
        async for _ in reply.stream:
            pass
    labels = {"provider": "openai", "model": "gpt-4o"}
    assert value(registry, "llm_requests_total", status="502", cache="bypass", **labels) == 1
    assert value(registry, "error_rate_total", type="api_error", provider="openai", status="502") == 1
    assert value(registry, "gateway_llm_time_to_first_token_seconds_count", **labels) == 1


async def test_metrics_layer_caps_models() -> None:
    registry = CollectorRegistry()
    layer = LLMMetrics(Metrics(registry, max_models=1))

    async def answer(c: ChatCall) -> Reply:
        return Reply(c.target, body={})

    for model in ("a", "b", "c"):
        await layer(
            ChatCall(kind="chat", body={}, target=Target("mock", model), principal=Principal("u"), request_id="r"),
            answer,
        )
    assert value(registry, "llm_requests_total", provider="mock", model="a", status="200", cache="bypass") == 1
    assert value(registry, "llm_requests_total", provider="mock", model="other", status="200", cache="bypass") == 2
