"""The Failover layer with a stub `next`: retries, circuits, chains, final errors and stream commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.catalog import Catalog
from gateway.errors import GatewayError, InvalidRequestError, ModelNotFoundError, UpstreamError
from gateway.layers.failover import Failover
from gateway.resilience.backoff import RetryPolicy
from gateway.resilience.breaker import BreakerConfig, BreakerRegistry
from gateway.resilience.chains import Chains
from gateway.types import ChatCall, Chunk, Principal, Reply, Target
from translators.errors import VendorError

pytestmark = pytest.mark.anyio

PRIMARY = Target("openai", "gpt-4o")
BACKUP = Target("anthropic", "claude-sonnet-4-5")
CATALOG = Catalog.bundled()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Half:
    def random(self) -> float:
        return 0.5


def error(kind: str = "server", status: int = 500, retry_after_s: float | None = None) -> UpstreamError:
    return UpstreamError.from_vendor(
        "openai",
        VendorError(kind, f"simulated {status}", status=status, retry_after_s=retry_after_s),  # type: ignore[arg-type]
    )


def make_call(**overrides: Any) -> ChatCall:
    fields: dict[str, Any] = {
        "kind": "chat",
        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        "target": PRIMARY,
        "principal": Principal("alice"),
        "request_id": "req_1",
    }
    fields.update(overrides)
    return ChatCall(**fields)


def make_layer(
    clock: Clock,
    *,
    fallbacks: dict[str, tuple[str, ...]] | None = None,
    configured: tuple[str, ...] = ("openai", "anthropic", "google", "mock"),
    breakers: BreakerRegistry | None = None,
    idle_s: float | None = None,
    enabled: bool = True,
    policy: RetryPolicy | None = None,
) -> Failover:
    return Failover(
        chains=Chains(CATALOG, configured=configured, fallbacks=fallbacks or {}),
        breakers=breakers or BreakerRegistry(BreakerConfig(failure_threshold=100), clock=clock),
        policy=policy or RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=2.0, deadline_s=30.0),
        enabled=enabled,
        stream_idle_timeout_s=idle_s,
        clock=clock,
        sleep=clock.sleep,
        rng=Half(),
    )


Script = dict[Target, list[Any]]


def scripted(script: Script, seen: list[Target]) -> Callable[[ChatCall], Any]:
    """A stub `next`: per target, a list of outcomes (an exception to raise or a Reply to return)."""

    async def next_(call: ChatCall) -> Reply:
        seen.append(call.target)
        outcome = script[call.target].pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome(call)  # type: ignore[no-any-return]
        return outcome  # type: ignore[no-any-return]

    return next_


def new_seen() -> list[Target]:
    return []


def ok(target: Target = PRIMARY) -> Reply:
    return Reply(target, body={"id": "x", "choices": []})


async def test_failover_retries_a_retryable_error_then_succeeds() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock)
    reply = await layer(make_call(), scripted({PRIMARY: [error(), ok()]}, seen))
    assert reply.body is not None
    assert seen == [PRIMARY, PRIMARY]
    assert clock.slept == [0.05]  # full jitter: half of the 0.1 s ceiling
    assert "x-gateway-fallback" not in reply.headers


async def test_failover_backoff_doubles_between_retries() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock)
    await layer(make_call(), scripted({PRIMARY: [error(), error(), ok()]}, seen))
    assert clock.slept == [0.05, 0.1]


async def test_failover_waits_retry_after_of_a_429() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock)
    await layer(make_call(), scripted({PRIMARY: [error("rate_limit", 429, retry_after_s=1.5), ok()]}, seen))
    assert clock.slept == [1.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_failover_never_retries_caller_errors(status: int) -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    kind = {400: "bad_request", 401: "authentication", 403: "permission", 404: "not_found", 422: "bad_request"}
    with pytest.raises(UpstreamError) as caught:
        await layer(make_call(), scripted({PRIMARY: [error(kind[status], status)]}, seen))
    assert caught.value.status == status
    assert seen == [PRIMARY]
    assert clock.slept == []


async def test_failover_moves_to_the_chain_after_retries() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    reply = await layer(make_call(), scripted({PRIMARY: [error()] * 3, BACKUP: [ok(BACKUP)]}, seen))
    assert seen == [PRIMARY, PRIMARY, PRIMARY, BACKUP]
    assert reply.headers["x-gateway-fallback"] == "openai"
    assert reply.target == BACKUP


async def test_failover_request_fallbacks_override_config() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    google = Target("google", "gemini-2.5-pro")
    call = make_call(fallbacks=("gemini-2.5-pro",))
    reply = await layer(call, scripted({PRIMARY: [error()] * 3, google: [ok(google)]}, seen))
    assert reply.target == google


async def test_failover_empty_request_fallbacks_disable_the_chain() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    with pytest.raises(UpstreamError):
        await layer(make_call(fallbacks=()), scripted({PRIMARY: [error()] * 3}, seen))
    assert seen == [PRIMARY] * 3


async def test_failover_unknown_request_fallback_is_404_naming_fallbacks() -> None:
    layer = make_layer(Clock())
    with pytest.raises(ModelNotFoundError) as caught:
        await layer(make_call(fallbacks=("no-such-model",)), scripted({}, []))
    assert caught.value.param == "fallbacks"


async def test_failover_default_chain_uses_the_tier_across_configured_providers() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, configured=("openai", "google"))  # anthropic not configured: skipped
    google = Target("google", "gemini-2.5-pro")
    flagship = Target("openai", "gpt-5")
    script: Script = {PRIMARY: [error()] * 3, flagship: [error()] * 3, google: [ok(google)]}
    reply = await layer(make_call(), scripted(script, seen))
    assert reply.target == google
    assert seen[-1] == google and BACKUP not in seen


async def test_failover_all_rate_limited_is_429() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    limited = error("rate_limit", 429, retry_after_s=0.1)
    with pytest.raises(UpstreamError) as caught:
        await layer(make_call(), scripted({PRIMARY: [limited] * 3, BACKUP: [limited] * 3}, seen))
    assert caught.value.status == 429


async def test_failover_mixed_failures_answer_the_last_non_429() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    limited = error("rate_limit", 429, retry_after_s=0.1)
    overloaded = error("overloaded", 529)
    with pytest.raises(UpstreamError) as caught:
        await layer(make_call(), scripted({PRIMARY: [overloaded] * 3, BACKUP: [limited] * 3}, seen))
    assert (caught.value.status, caught.value.code) == (503, "overloaded")


async def test_failover_timeout_everywhere_is_504() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock)
    with pytest.raises(UpstreamError) as caught:
        await layer(make_call(fallbacks=()), scripted({PRIMARY: [error("timeout", 0)] * 3}, seen))
    assert caught.value.status == 504


async def test_failover_fallback_that_rejects_the_request_is_skipped() -> None:
    clock, seen = Clock(), new_seen()
    google = Target("google", "gemini-2.5-pro")
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5", "gemini-2.5-pro")})
    untranslatable = InvalidRequestError("anthropic cannot do this", param="logit_bias")
    script: Script = {PRIMARY: [error()] * 3, BACKUP: [untranslatable], google: [ok(google)]}
    reply = await layer(make_call(), scripted(script, seen))
    assert reply.target == google


async def test_failover_open_circuit_skips_straight_to_the_fallback() -> None:
    clock, seen = Clock(), new_seen()
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=2, cooldown_s=30), clock=clock)
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)}, breakers=breakers)
    script: Script = {PRIMARY: [error()] * 2, BACKUP: [ok(BACKUP), ok(BACKUP)]}
    await layer(make_call(), scripted(script, seen))
    assert seen == [PRIMARY, PRIMARY, BACKUP]  # the circuit opened after the 2nd failure: no 3rd attempt
    seen.clear()
    reply = await layer(make_call(), scripted(script, seen))
    assert seen == [BACKUP]
    assert reply.headers["x-gateway-fallback"] == "openai"


async def test_failover_open_circuit_without_chain_is_503_with_retry_after() -> None:
    clock = Clock()
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, cooldown_s=30), clock=clock)
    breakers.record_failure(PRIMARY)
    layer = make_layer(clock, breakers=breakers)
    with pytest.raises(GatewayError) as caught:
        await layer(make_call(fallbacks=()), scripted({}, []))
    assert caught.value.status == 503
    assert caught.value.headers["retry-after"] == "30"


async def test_failover_half_open_probe_success_closes_the_circuit() -> None:
    clock, seen = Clock(), new_seen()
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=1, cooldown_s=30), clock=clock)
    breakers.record_failure(PRIMARY)
    clock.now += 30
    layer = make_layer(clock, breakers=breakers)
    await layer(make_call(), scripted({PRIMARY: [ok()]}, seen))
    assert breakers.model(PRIMARY).state == "closed"


async def test_failover_deadline_stops_retries() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, policy=RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=2, deadline_s=1.0))

    def slow_failure(call: ChatCall) -> Reply:
        clock.now += 0.6  # each attempt takes 0.6 s
        raise error()

    with pytest.raises(UpstreamError):
        await layer(make_call(fallbacks=()), scripted({PRIMARY: [slow_failure] * 5}, seen))
    assert len(seen) == 2  # 0.6 + 0.05 + 0.6 > 1.0: no third attempt


async def test_failover_disabled_passes_errors_unchanged() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)}, enabled=False)
    failure = error()
    with pytest.raises(UpstreamError) as caught:
        await layer(make_call(), scripted({PRIMARY: [failure]}, seen))
    assert caught.value is failure
    assert seen == [PRIMARY]


# ---- streams -------------------------------------------------------------------------------------------


class ListStream:
    """A scripted chunk stream: items are chunk dicts, exceptions to raise, or floats to sleep."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._run()

    async def _run(self) -> AsyncIterator[Chunk]:
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            yield Chunk(item)

    async def aclose(self) -> None:
        self.closed = True


def delta(**fields: Any) -> dict[str, Any]:
    finish = fields.pop("finish", None)
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": fields, "finish_reason": finish}]}


ROLE = delta(role="assistant", content="")


def streaming(stream: ListStream, target: Target = PRIMARY) -> Callable[[ChatCall], Reply]:
    return lambda call: Reply(target, stream=stream)


async def collect(reply: Reply) -> list[dict[str, Any]]:
    assert reply.stream is not None
    return [chunk.data async for chunk in reply.stream]


async def test_failover_stream_failing_before_content_is_retried_invisibly() -> None:
    clock, seen = Clock(), new_seen()
    broken = ListStream([ROLE, error("connection", 0)])
    good = ListStream([ROLE, delta(content="Hello"), delta(finish="stop")])
    layer = make_layer(clock)
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(broken), streaming(good)]}, seen))
    chunks = await collect(reply)
    assert chunks == [ROLE, delta(content="Hello"), delta(finish="stop")]  # one role chunk: the first was held
    assert broken.closed
    assert seen == [PRIMARY, PRIMARY]


async def test_failover_stream_failing_before_content_moves_to_the_fallback() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    broken = [streaming(ListStream([ROLE, error()])) for _ in range(3)]
    good = ListStream([ROLE, delta(content="Hi"), delta(finish="stop")])
    reply = await layer(make_call(stream=True), scripted({PRIMARY: broken, BACKUP: [streaming(good, BACKUP)]}, seen))
    assert reply.headers["x-gateway-fallback"] == "openai"
    assert [c["choices"][0]["delta"].get("content") for c in await collect(reply)] == ["", "Hi", None]


async def test_failover_stream_failing_after_content_propagates_and_counts() -> None:
    clock, seen = Clock(), new_seen()
    breakers = BreakerRegistry(BreakerConfig(failure_threshold=100), clock=clock)
    layer = make_layer(clock, breakers=breakers)
    failure = error()
    stream = ListStream([ROLE, delta(content="Hel"), failure])
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(stream)]}, seen))
    received: list[dict[str, Any]] = []
    with pytest.raises(UpstreamError) as caught:
        assert reply.stream is not None
        async for chunk in reply.stream:
            received.append(chunk.data)
    assert caught.value is failure
    assert received == [ROLE, delta(content="Hel")]
    assert seen == [PRIMARY]  # committed: never retried
    assert breakers.snapshot("openai")["last_error"] == "502 upstream_error"


async def test_failover_stream_tool_call_counts_as_content() -> None:
    clock, seen = Clock(), new_seen()
    tool = delta(tool_calls=[{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}])
    stream = ListStream([ROLE, tool, error()])
    layer = make_layer(clock)
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(stream)]}, seen))
    assert reply.stream is not None
    iterator = reply.stream.__aiter__()
    assert (await iterator.__anext__()).data == ROLE
    assert (await iterator.__anext__()).data == tool


async def test_failover_stream_stalled_before_content_fails_over() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, idle_s=0.05, fallbacks={"gpt-4o": ("claude-sonnet-4-5",)})
    stalled = [streaming(ListStream([ROLE, 5.0, delta(content="late")])) for _ in range(3)]
    good = ListStream([ROLE, delta(content="Hi"), delta(finish="stop")])
    reply = await layer(make_call(stream=True), scripted({PRIMARY: stalled, BACKUP: [streaming(good, BACKUP)]}, seen))
    assert reply.target == BACKUP
    assert len(await collect(reply)) == 3


async def test_failover_stream_stalled_after_content_is_a_504_error() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, idle_s=0.05)
    stream = ListStream([ROLE, delta(content="Hi"), 5.0, delta(content="late")])
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(stream)]}, seen))
    with pytest.raises(UpstreamError) as caught:
        await collect(reply)
    assert (caught.value.status, caught.value.code) == (504, "upstream_timeout")


async def test_failover_disabled_still_fails_a_stalled_stream() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, idle_s=0.05, enabled=False)
    stream = ListStream([ROLE, 5.0])
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(stream)]}, seen))
    with pytest.raises(UpstreamError) as caught:
        await collect(reply)
    assert caught.value.status == 504


async def test_failover_empty_stream_is_committed_as_is() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock)
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(ListStream([ROLE]))]}, seen))
    assert await collect(reply) == [ROLE]


async def test_failover_stream_slow_client_is_not_a_stall() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, idle_s=0.05)
    words = [delta(content=str(i)) for i in range(4)]
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(ListStream([ROLE, *words]))]}, seen))
    assert reply.stream is not None
    received = []
    async for chunk in reply.stream:
        received.append(chunk.data)
        await asyncio.sleep(0.03)  # the client is slow; the upstream is not: 4 x 0.03 s > the 0.05 s idle limit
    assert len(received) == 5


async def test_failover_stream_upstream_pauses_within_idle_limit_are_fine() -> None:
    clock, seen = Clock(), new_seen()
    layer = make_layer(clock, idle_s=0.2)
    items = [ROLE, delta(content="a"), 0.05, delta(content="b"), 0.05, delta(content="c"), 0.05, delta(finish="stop")]
    reply = await layer(make_call(stream=True), scripted({PRIMARY: [streaming(ListStream(items))]}, seen))
    assert len(await collect(reply)) == 5
