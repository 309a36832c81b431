"""The cache layer with a stub `next`: hits, bypasses, Cache-Control, coalescing, streams, what is never stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

import orjson
import pytest

from gateway.cache.hybrid import TieredCache
from gateway.cache.memory import MemoryLRU
from gateway.cache.replay import ReplayStream
from gateway.errors import UpstreamError
from gateway.layers.cache import Cache
from gateway.types import JSON, ChatCall, Chunk, Principal, Reply, Target
from translators.errors import VendorError

pytestmark = pytest.mark.anyio

TARGET = Target("openai", "gpt-4o")
BODY: JSON = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer(text: str = "Hello", finish: str = "stop") -> JSON:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def stream_chunks(text: str = "Hello") -> list[Chunk]:
    head = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    return [
        Chunk(
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        ),
        Chunk({**head, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}),
        Chunk({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        Chunk({**head, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}),
    ]


class Upstream:
    """A stub `next`: counts calls; answers JSON, a stream, or fails; optionally slowly."""

    def __init__(self, *, delay_s: float = 0.0, fail: bool = False, body: JSON | None = None) -> None:
        self.calls = 0
        self.delay_s = delay_s
        self.fail = fail
        self.body = body or answer()
        self.target = TARGET

    async def __call__(self, call: ChatCall) -> Reply:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise UpstreamError.from_vendor("openai", VendorError("server", "boom", status=500))
        if call.stream:
            return Reply(self.target, stream=ReplayStream(stream_chunks()))
        return Reply(self.target, body=self.body, raw=orjson.dumps(self.body))


def make_cache(clock: Clock | None = None, **options: Any) -> Cache:
    clock = clock or Clock()
    store = TieredCache(memory=MemoryLRU(max_entries=100, max_bytes=1 << 20, clock=clock), redis=None)
    return Cache(store, ttl_s=options.pop("ttl_s", 60.0), clock=clock, **options)


def call(body: JSON = BODY, *, stream: bool = False, cache_control: str | None = None, user: str = "alice") -> ChatCall:
    return ChatCall(
        kind="chat",
        body=body,
        target=TARGET,
        principal=Principal(user),
        request_id="r",
        stream=stream,
        cache_control=cache_control,
    )


async def drain(reply: Reply) -> list[JSON]:
    assert reply.stream is not None
    out = [chunk.data async for chunk in reply.stream]
    await reply.stream.aclose()
    return out


async def test_cache_layer_second_identical_call_is_a_hit() -> None:
    cache, upstream = make_cache(), Upstream()
    first = await cache(call(), upstream)
    second = await cache(call(), upstream)
    assert upstream.calls == 1
    assert first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "hit"
    assert second.body == answer() and second.raw == first.raw
    assert (cache.stats.hits, cache.stats.misses, cache.stats.hit_ratio) == (1, 1, 0.5)


async def test_cache_layer_bypasses_non_deterministic_calls() -> None:
    cache, upstream = make_cache(), Upstream()
    body = {**BODY, "temperature": 0.7}
    replies = [await cache(call(body), upstream) for _ in range(2)]
    assert upstream.calls == 2
    assert [r.headers["x-gateway-cache"] for r in replies] == ["bypass", "bypass"]
    assert cache.stats.bypasses == 2 and len(cache.store.memory or ()) == 0


async def test_cache_layer_policy_all_caches_any_temperature() -> None:
    cache, upstream = make_cache(cache_all=True), Upstream()
    body = {**BODY, "temperature": 0.7}
    await cache(call(body), upstream)
    assert (await cache(call(body), upstream)).headers["x-gateway-cache"] == "hit"
    assert upstream.calls == 1


async def test_cache_layer_no_cache_skips_the_read_but_refreshes_the_entry() -> None:
    cache, upstream = make_cache(), Upstream()
    await cache(call(), upstream)
    upstream.body = answer("Fresh")
    refreshed = await cache(call(cache_control="no-cache"), upstream)
    assert refreshed.headers["x-gateway-cache"] == "bypass" and upstream.calls == 2
    hit = await cache(call(), upstream)
    assert hit.headers["x-gateway-cache"] == "hit" and hit.body == answer("Fresh")


async def test_cache_layer_no_store_does_not_write() -> None:
    cache, upstream = make_cache(), Upstream()
    first = await cache(call(cache_control="no-store"), upstream)
    second = await cache(call(), upstream)
    assert first.headers["x-gateway-cache"] == "miss" and second.headers["x-gateway-cache"] == "miss"
    assert upstream.calls == 2


async def test_cache_layer_max_age_shortens_the_ttl_and_refuses_older_entries() -> None:
    clock = Clock()
    cache, upstream = make_cache(clock), Upstream()
    await cache(call(cache_control="max-age=10"), upstream)
    clock.now += 11
    assert (await cache(call(), upstream)).headers["x-gateway-cache"] == "miss"  # expired after 10 s, not 60
    clock.now += 5  # the new entry is 5 s old
    assert (await cache(call(cache_control="max-age=3"), upstream)).headers["x-gateway-cache"] == "miss"
    assert (await cache(call(cache_control="max-age=30"), upstream)).headers["x-gateway-cache"] == "hit"
    assert upstream.calls == 3  # the first call, the one after expiry, the max-age=3 refresh


async def test_cache_layer_does_not_store_truncated_answers() -> None:
    cache, upstream = make_cache(), Upstream(body=answer(finish="length"))
    await cache(call(), upstream)
    assert (await cache(call(), upstream)).headers["x-gateway-cache"] == "miss"
    assert upstream.calls == 2


async def test_cache_layer_does_not_store_an_answer_served_by_a_fallback() -> None:
    cache, upstream = make_cache(), Upstream()
    upstream.target = Target("anthropic", "claude-sonnet-4-5")
    await cache(call(), upstream)
    await cache(call(), upstream)
    assert upstream.calls == 2


async def test_cache_layer_does_not_store_failures() -> None:
    cache, upstream = make_cache(), Upstream(fail=True)
    for _ in range(2):
        with pytest.raises(UpstreamError):
            await cache(call(), upstream)
    assert upstream.calls == 2 and len(cache.store.memory or ()) == 0


async def test_cache_layer_users_do_not_share_entries_unless_global() -> None:
    scoped, upstream = make_cache(), Upstream()
    await scoped(call(user="alice"), upstream)
    assert (await scoped(call(user="bob"), upstream)).headers["x-gateway-cache"] == "miss"
    shared = make_cache(per_user=False)
    await shared(call(user="alice"), upstream)
    assert (await shared(call(user="bob"), upstream)).headers["x-gateway-cache"] == "hit"


async def test_cache_layer_coalesces_concurrent_identical_misses() -> None:
    cache, upstream = make_cache(), Upstream(delay_s=0.05)
    replies = await asyncio.gather(*(cache(call(), upstream) for _ in range(5)))
    assert upstream.calls == 1
    assert sorted(r.headers["x-gateway-cache"] for r in replies) == ["hit", "hit", "hit", "hit", "miss"]
    assert all(r.body == answer() for r in replies)
    assert cache.stats.coalesced == 4


async def test_cache_layer_waiters_do_not_receive_a_failure() -> None:
    cache, upstream = make_cache(), Upstream(delay_s=0.05, fail=True)
    results = await asyncio.gather(*(cache(call(), upstream) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, UpstreamError) for r in results)
    assert upstream.calls == 3  # each waiter tried for itself once the first call failed
    assert cache._inflight == {}


async def test_cache_layer_waiters_stop_waiting_after_the_bound() -> None:
    cache, upstream = make_cache(wait_s=0.01), Upstream(delay_s=0.1)
    replies = await asyncio.gather(cache(call(), upstream), cache(call(), upstream))
    assert upstream.calls == 2
    assert [r.headers["x-gateway-cache"] for r in replies] == ["miss", "miss"]


async def test_cache_layer_stores_a_completed_stream_and_serves_it_as_json() -> None:
    cache, upstream = make_cache(), Upstream()
    streamed = await cache(call(stream=True), upstream)
    chunks = await drain(streamed)
    assert len(chunks) == 4 and streamed.headers["x-gateway-cache"] == "miss"
    hit = await cache(call(), upstream)
    assert hit.headers["x-gateway-cache"] == "hit" and upstream.calls == 1
    assert hit.body is not None and hit.body["id"] == "chatcmpl-s"
    assert hit.body["choices"][0]["message"]["content"] == "Hello"
    assert hit.body["usage"]["total_tokens"] == 4


async def test_cache_layer_replays_a_json_answer_as_a_stream() -> None:
    cache, upstream = make_cache(), Upstream()
    await cache(call(), upstream)
    replay = await cache(call(stream=True), upstream)
    chunks = await drain(replay)
    assert replay.headers["x-gateway-cache"] == "hit" and upstream.calls == 1
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] == 4


async def test_cache_layer_does_not_store_an_abandoned_stream() -> None:
    cache, upstream = make_cache(), Upstream()
    reply = await cache(call(stream=True), upstream)
    assert reply.stream is not None
    iterator = reply.stream.__aiter__()
    await iterator.__anext__()
    await reply.stream.aclose()  # the client left after one chunk
    assert (await cache(call(), upstream)).headers["x-gateway-cache"] == "miss"


async def test_cache_layer_does_not_store_a_stream_that_failed() -> None:
    class Broken:
        async def __call__(self, call: ChatCall) -> Reply:
            async def chunks() -> AsyncGenerator[Chunk]:
                yield stream_chunks()[0]
                raise UpstreamError.from_vendor("openai", VendorError("server", "mid-stream", status=500))

            gen = chunks()

            class Stream:
                def __aiter__(self) -> AsyncIterator[Chunk]:
                    return gen

                async def aclose(self) -> None:
                    await gen.aclose()

            return Reply(TARGET, stream=Stream())

    cache = make_cache()
    reply = await cache(call(stream=True), Broken())
    with pytest.raises(UpstreamError):
        await drain(reply)
    assert len(cache.store.memory or ()) == 0 and cache._inflight == {}


async def test_cache_layer_coalesced_waiter_gets_a_streamed_leaders_answer() -> None:
    cache, upstream = make_cache(), Upstream()
    leader = await cache(call(stream=True), upstream)
    waiter = asyncio.ensure_future(cache(call(), upstream))
    await asyncio.sleep(0)
    assert not waiter.done()
    await drain(leader)
    reply = await waiter
    assert upstream.calls == 1 and reply.headers["x-gateway-cache"] == "hit"


async def test_cache_layer_hit_bodies_are_independent_copies() -> None:
    cache, upstream = make_cache(), Upstream()
    await cache(call(), upstream)
    first = await cache(call(), upstream)
    assert first.body is not None
    first.body["choices"] = []  # a layer outside the cache edits its reply
    second = await cache(call(), upstream)
    assert second.body is not None and second.body["choices"][0]["message"]["content"] == "Hello"


async def test_cache_layer_keeps_the_callers_target_on_a_hit() -> None:
    cache, upstream = make_cache(), Upstream()
    await cache(call(), upstream)
    hit = await cache(replace(call(), request_id="other"), upstream)
    assert hit.target == TARGET
