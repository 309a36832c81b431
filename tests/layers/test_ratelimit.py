"""RateLimit, the per-user LLM layer, with a stub `next`: request counts, token estimates settled with the
real usage (whole replies and streams), and the x-ratelimit-* headers on replies and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.errors import RateLimitError, UpstreamError
from gateway.layers.ratelimit import RateLimit
from gateway.ratelimit.gcra import Check, Rate
from gateway.ratelimit.limiter import Limiter
from gateway.ratelimit.memory import MemoryStore
from gateway.types import JSON, ChatCall, Chunk, Principal, Reply, Target

pytestmark = pytest.mark.anyio

TARGET = Target("mock", "echo")
T0 = 1_700_000_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def call(user: str = "alice", text: str = "x" * 400, *, stream: bool = False) -> ChatCall:
    body: JSON = {"model": "mock/echo", "messages": [{"role": "user", "content": text}]}
    return ChatCall("chat", body, TARGET, Principal(user), "req_1", stream=stream)


def answer(total_tokens: int) -> Reply:
    usage = {"prompt_tokens": total_tokens - 1, "completion_tokens": 1, "total_tokens": total_tokens}
    return Reply(TARGET, body={"choices": [], "usage": usage})


async def ok(c: ChatCall) -> Reply:
    return answer(50)


def layer(requests: int | None = 3, tpm: int | None = None) -> tuple[RateLimit, MemoryStore, Clock]:
    clock = Clock()
    store = MemoryStore(clock=clock)
    users = {"alice": {"tpm": tpm}} if tpm else {}
    rate = Rate(requests, 60_000) if requests else None
    return RateLimit(Limiter(None, local=store), requests=rate, users=users), store, clock


def tokens_left(store: MemoryStore, tpm: int) -> int:
    return store.check_now([Check("{u:alice}:tpm", Rate(tpm, 60_000), 0)]).statuses[0].remaining


async def test_ratelimit_layer_counts_calls_per_user() -> None:
    limit, _, _ = layer(requests=3)
    for _ in range(3):
        await limit(call(), ok)
    with pytest.raises(RateLimitError) as caught:
        await limit(call(), ok)
    assert caught.value.code == "rate_limit_exceeded" and caught.value.headers["retry-after"] == "20"
    assert caught.value.headers["x-ratelimit-remaining-requests"] == "0"
    await limit(call("bob"), ok)  # another user is untouched


async def test_ratelimit_layer_headers_on_success() -> None:
    limit, _, _ = layer(requests=3)
    reply = await limit(call(), ok)
    assert reply.headers["x-ratelimit-limit-requests"] == "3"
    assert reply.headers["x-ratelimit-remaining-requests"] == "2"
    assert reply.headers["x-ratelimit-reset-requests"] == "20s"
    assert "x-ratelimit-limit-tokens" not in reply.headers  # alice has no tpm here


async def test_ratelimit_layer_headers_on_upstream_errors() -> None:
    limit, _, _ = layer(requests=3)

    async def failing(c: ChatCall) -> Reply:
        raise UpstreamError("boom", provider="mock", retryable=True)

    with pytest.raises(UpstreamError) as caught:
        await limit(call(), failing)
    assert caught.value.headers["x-ratelimit-remaining-requests"] == "2"


async def test_ratelimit_layer_token_estimate_is_settled_with_usage() -> None:
    limit, store, _ = layer(requests=None, tpm=1000)
    reply = await limit(call(text="x" * 400), ok)  # estimate 100 + 4 tokens, usage 50
    assert reply.headers["x-ratelimit-limit-tokens"] == "1000"
    assert reply.headers["x-ratelimit-remaining-tokens"] == "896"
    assert tokens_left(store, 1000) == 950


async def test_ratelimit_layer_refuses_when_tokens_run_out() -> None:
    limit, _, _ = layer(requests=10, tpm=300)

    async def big(c: ChatCall) -> Reply:
        return answer(290)

    await limit(call(text="x" * 40), big)
    with pytest.raises(RateLimitError) as caught:
        await limit(call(text="x" * 400), big)  # ~104 estimated, 10 left
    assert "tokens per minute" in caught.value.message
    assert caught.value.headers["x-ratelimit-remaining-tokens"] == "10"
    assert caught.value.headers["x-ratelimit-remaining-requests"] == "9"  # the refused call took no request


async def test_ratelimit_layer_request_bigger_than_tpm_is_not_retryable() -> None:
    limit, _, _ = layer(requests=None, tpm=100)
    with pytest.raises(RateLimitError) as caught:
        await limit(call(text="x" * 4000), ok)
    assert caught.value.headers["x-should-retry"] == "false"


async def test_ratelimit_layer_failed_call_gives_its_tokens_back() -> None:
    limit, store, _ = layer(requests=None, tpm=1000)

    async def failing(c: ChatCall) -> Reply:
        raise UpstreamError("boom", provider="mock", retryable=True)

    with pytest.raises(UpstreamError):
        await limit(call(), failing)
    assert tokens_left(store, 1000) == 1000


async def test_ratelimit_layer_cache_hit_costs_no_tokens() -> None:
    limit, store, _ = layer(requests=None, tpm=1000)

    async def cached(c: ChatCall) -> Reply:
        reply = answer(500)
        reply.headers["x-gateway-cache"] = "hit"
        return reply

    await limit(call(), cached)
    assert tokens_left(store, 1000) == 1000


class Chunks:
    def __init__(self, chunks: list[Chunk]) -> None:
        self.chunks = chunks
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Chunk]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def test_ratelimit_layer_stream_is_settled_when_it_ends() -> None:
    limit, store, _ = layer(requests=None, tpm=1000)
    content = Chunk({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
    usage = Chunk({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300}})
    inner = Chunks([content, usage])

    async def streaming(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=inner)

    reply = await limit(call(stream=True), streaming)
    assert reply.stream is not None
    seen = [chunk async for chunk in reply.stream]
    assert seen == [content, usage]  # passed through, unchanged
    await limit.meter.drain()
    assert tokens_left(store, 1000) == 700
    await reply.stream.aclose()
    assert inner.closed


async def test_ratelimit_layer_cut_stream_keeps_its_estimate() -> None:
    limit, store, _ = layer(requests=None, tpm=1000)
    inner = Chunks([Chunk({"choices": [{"index": 0, "delta": {"content": "hi"}}]})])

    async def streaming(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=inner)

    reply = await limit(call(stream=True), streaming)
    assert reply.stream is not None
    await reply.stream.aclose()  # the client left before the usage chunk
    await limit.meter.drain()
    assert tokens_left(store, 1000) == 896


async def test_ratelimit_layer_off_when_no_limits_apply() -> None:
    limit, store, _ = layer(requests=None)
    reply = await limit(call(), ok)
    assert "x-ratelimit-limit-requests" not in reply.headers and len(store) == 0
