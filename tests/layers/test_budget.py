"""The budget layer with a stub `next`: cost headers, ledger records, refusals, streams and disconnects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import anyio
import pytest
from redis.asyncio import Redis

from gateway.errors import BudgetExceededError, UpstreamError
from gateway.layers.budget import Budget
from gateway.ledger import Filters, Record
from gateway.ledger.sqlite import SQLiteLedger
from gateway.pricing import PriceTable
from gateway.spend import Cap, Hold, MemorySpend, Refusal
from gateway.spend.periods import PeriodClock
from gateway.spend.redis import RedisSpend
from gateway.types import JSON, ChatCall, Chunk, Principal, Reply, Target
from translators.errors import VendorError

pytestmark = pytest.mark.anyio

TARGET = Target("mock", "echo")
# $100 / $200 per million tokens: 100 / 200 micro-USD a token, easy to add up by hand
PRICES = PriceTable.bundled({"mock/*": {"input": 100.0, "output": 200.0, "cached_input": 50.0}})
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 3, 22, 0, tzinfo=PARIS).timestamp()  # two hours before the day ends in Paris


def call(user: str = "alice", *, stream: bool = False, max_tokens: int = 10) -> ChatCall:
    return ChatCall(
        kind="chat",
        body={"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens},
        target=TARGET,
        principal=Principal(user),
        request_id=f"req-{uuid.uuid4().hex[:8]}",
        stream=stream,
    )


def answer(prompt: int = 10, completion: int = 5, cached: int = 0) -> JSON:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


@pytest.fixture
async def ledger() -> AsyncIterator[SQLiteLedger]:
    store = SQLiteLedger(":memory:")
    await store.start()
    yield store
    await store.close()


def make_budget(ledger: SQLiteLedger, **options: object) -> Budget:
    return Budget(
        pricing=PRICES,
        ledger=ledger,
        currency="USD",
        clock=PeriodClock("Europe/Paris", now=lambda: NOW),
        spend=MemorySpend(),
        **options,  # type: ignore[arg-type]
    )


async def records(ledger: SQLiteLedger) -> list[Record]:
    await ledger.flush()
    page, _ = await ledger.history(Filters(), limit=500, cursor=None)
    return page


async def test_budget_whole_answer_sets_the_cost_header_and_records_it(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer(prompt=10, completion=5, cached=4))

    reply = await budget(call(), upstream)
    # 6 x $100 + 4 x $50 + 5 x $200 per million = 600 + 200 + 1000 micro = $0.0018
    assert reply.headers["x-gateway-cost"] == "0.0018"
    [record] = await records(ledger)
    assert (record.cost, record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (
        1_800_000,
        10,
        5,
        4,
    )
    assert record.status == "ok" and record.user == "alice" and not record.cache_hit


async def test_budget_cache_hit_is_recorded_at_zero_with_the_tokens_saved(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)

    async def cached(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer(prompt=10, completion=5), headers={"x-gateway-cache": "hit"})

    reply = await budget(call(), cached)
    assert reply.headers["x-gateway-cost"] == "0"
    [record] = await records(ledger)
    assert record.cost == 0 and record.cache_hit and record.prompt_tokens == 10 and record.completion_tokens == 5


async def test_budget_records_the_fallback_and_the_target_that_served(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)
    served = Target("openai", "gpt-4o")

    async def failed_over(c: ChatCall) -> Reply:
        return Reply(served, body=answer(prompt=1000, completion=500), headers={"x-gateway-fallback": "anthropic"})

    reply = await budget(call(), failed_over)
    assert reply.headers["x-gateway-cost"] == "0.0075"  # gpt-4o's own price: 1000 x $2.50 + 500 x $10 per million
    [record] = await records(ledger)
    assert (record.provider, record.model, record.fallback_from) == ("openai", "gpt-4o", "anthropic")


async def test_budget_unpriced_model_is_served_and_flagged(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)
    unknown = Target("openai", "gpt-unknown")

    async def upstream(c: ChatCall) -> Reply:
        return Reply(unknown, body=answer())

    reply = await budget(call(), upstream)
    assert "x-gateway-cost" not in reply.headers
    [record] = await records(ledger)
    assert record.cost is None and record.prompt_tokens == 10 and record.as_json()["unpriced"] is True


async def test_budget_used_up_refuses_with_retry_after_until_the_day_ends(ledger: SQLiteLedger) -> None:
    # one call costs 10 x $100 + 5 x $200 per million = $0.002; the budget holds exactly one
    budget = make_budget(ledger, daily=2_000_000)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer())

    await budget(call(), upstream)
    await budget.drain()
    with pytest.raises(BudgetExceededError) as refused:
        await budget(call(), upstream)
    assert refused.value.status == 429 and refused.value.code == "budget_exceeded"
    assert refused.value.headers["retry-after"] == "7200"  # midnight in Paris is two hours away
    assert "daily budget of this gateway" in refused.value.message and "used up" in refused.value.message


async def test_budget_per_user_budget_does_not_touch_other_users(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger, users={"alice": (None, 2_000_000)})

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer())

    await budget(call("alice"), upstream)
    await budget.drain()
    with pytest.raises(BudgetExceededError, match="monthly budget of user 'alice'"):
        await budget(call("alice"), upstream)
    await budget(call("bob"), upstream)  # no budget of his own, no global one


async def test_budget_in_flight_reservations_block_until_they_settle(ledger: SQLiteLedger) -> None:
    # worst case of a call with max_tokens=10: prompt estimate (8 tokens) x $100 + 10 x $200 = $0.0028
    budget = make_budget(ledger, daily=2_500_000)
    release = anyio.Event()

    async def slow(c: ChatCall) -> Reply:
        await release.wait()
        return Reply(TARGET, body=answer(prompt=1, completion=1))

    async with anyio.create_task_group() as tg:
        tg.start_soon(budget, call(), slow)
        await anyio.sleep(0.01)
        with pytest.raises(BudgetExceededError, match="committed to calls in flight") as refused:
            await budget(call(), slow)  # the first call's hold takes all that remains
        assert refused.value.headers["retry-after"] == "1"
        release.set()
    await budget.drain()
    reply = await budget(call(), slow)  # settled at $0.0003: money is free again
    assert reply.headers["x-gateway-cost"] == "0.0003"


async def test_budget_upstream_failure_releases_the_hold(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger, daily=3_000_000)

    async def failing(c: ChatCall) -> Reply:
        raise UpstreamError.from_vendor("mock", VendorError("server", "down", status=503))

    with pytest.raises(UpstreamError):
        await budget(call(), failing)
    await budget.drain()

    async def fine(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer(prompt=1, completion=1))

    assert (await budget(call(), fine)).headers["x-gateway-cost"] == "0.0003"
    assert len(await records(ledger)) == 1  # nothing was billed for the failure


class FakeStream:
    """A chunk stream that yields its chunks, optionally failing after them."""

    def __init__(self, chunks: list[JSON], *, fail: bool = False) -> None:
        self._chunks = chunks
        self._fail = fail
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[Chunk]:
        for data in self._chunks:
            yield Chunk(data)
        if self._fail:
            raise UpstreamError.from_vendor("mock", VendorError("server", "broke", status=500))

    async def aclose(self) -> None:
        self.closed = True


def delta(text: str) -> JSON:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


USAGE_CHUNK: JSON = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


async def test_budget_stream_is_costed_from_its_usage_chunk_when_it_ends(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=FakeStream([delta("Hello"), delta(" world"), USAGE_CHUNK]))

    reply = await budget(call(stream=True), upstream)
    assert "x-gateway-cost" not in reply.headers  # the headers leave before the cost is known
    assert reply.stream is not None
    seen = [chunk.data async for chunk in reply.stream]
    assert seen[-1] == USAGE_CHUNK  # chunks pass unchanged
    [record] = await records(ledger)
    assert record.cost == 2_000_000 and record.status == "ok"  # 10 x $100 + 5 x $200 per million


async def test_budget_stream_closed_early_bills_the_streamed_text(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=FakeStream([delta("x" * 40), delta("y" * 40), delta("z" * 40), USAGE_CHUNK]))

    reply = await budget(call(stream=True), upstream)
    assert reply.stream is not None
    iterator = aiter(reply.stream)
    await anext(iterator)
    await anext(iterator)
    await reply.stream.aclose()  # the client left after 80 characters
    [record] = await records(ledger)
    assert record.status == "client_closed"
    assert record.completion_tokens == 20  # 80 characters / 4
    prompt = record.prompt_tokens
    assert prompt > 0
    assert record.cost == prompt * 100_000 + 20 * 200_000


async def test_budget_stream_failure_is_recorded_as_error_with_what_was_generated(ledger: SQLiteLedger) -> None:
    budget = make_budget(ledger)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, stream=FakeStream([delta("abcd" * 3)], fail=True))

    reply = await budget(call(stream=True), upstream)
    assert reply.stream is not None
    with pytest.raises(UpstreamError):
        async for _ in reply.stream:
            pass
    [record] = await records(ledger)
    assert record.status == "error" and record.completion_tokens == 3


async def test_budget_seed_restores_the_period_spend_from_the_ledger(ledger: SQLiteLedger) -> None:
    first = make_budget(ledger, daily=2_500_000)

    async def upstream(c: ChatCall) -> Reply:
        return Reply(TARGET, body=answer())

    await first(call(), upstream)  # $0.002 of $0.0025
    await first.drain()
    await ledger.flush()
    # records carry real time stamps; seed the restarted process's clock at the same real moment
    restarted = Budget(
        pricing=PRICES, ledger=ledger, currency="USD", clock=PeriodClock("UTC"), spend=MemorySpend(), daily=2_500_000
    )
    await restarted.seed()
    await restarted(call(max_tokens=1), upstream)  # $0.0005 left: admitted, and it crosses the budget
    await restarted.drain()
    with pytest.raises(BudgetExceededError):
        await restarted(call(), upstream)
    assert restarted.used_ratios()[("global", "day")] == pytest.approx(1.6)


# ---- the spend stores ---------------------------------------------------------------------------------


def cap(limit: int, owner: str = "global") -> Cap:
    return Cap(owner, "day", "2026-11-03", limit, NOW + 3600)


async def test_memory_spend_caps_a_reservation_at_what_remains() -> None:
    spend = MemorySpend()
    hold = await spend.reserve("a", [cap(1000)], 5000)
    assert isinstance(hold, Hold) and hold.amount == 1000  # admitted: money remained, the hold takes it all
    assert isinstance(await spend.reserve("b", [cap(1000)], 1), Refusal)
    assert await spend.settle(hold, 1200) == [1200]  # spend may pass the budget by this one call
    refusal = await spend.reserve("c", [cap(1000)], 1)
    assert isinstance(refusal, Refusal) and refusal.spent == 1200 and refusal.reserved == 0


@pytest.fixture
async def redis_spend_pair(redis_url: str) -> AsyncIterator[tuple[RedisSpend, RedisSpend]]:
    """Two replicas' stores on one Redis (the second one's holds expire after 0.2 s)."""
    prefix = f"test:{uuid.uuid4().hex}:"
    client = Redis.from_url(redis_url)
    other = Redis.from_url(redis_url)
    yield RedisSpend(client, prefix=prefix), RedisSpend(other, prefix=prefix, hold_ttl_s=0.2)
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await other.aclose()


@pytest.mark.redis
async def test_redis_spend_two_replicas_share_one_budget(redis_spend_pair: tuple[RedisSpend, RedisSpend]) -> None:
    one, two = redis_spend_pair
    caps = [cap(1000), cap(5000, "user:alice")]
    first = await one.reserve("h1", caps, 600)
    assert isinstance(first, Hold) and first.amount == 600
    second = await two.reserve("h2", caps, 600)
    assert isinstance(second, Hold) and second.amount == 400  # capped at what the global budget has left
    refused = await one.reserve("h3", caps, 1)
    assert isinstance(refused, Refusal) and refused.cap.owner == "global" and refused.reserved == 1000
    assert await one.settle(first, 100) == [100, 100]
    assert await two.settle(second, 50) == [150, 150]
    assert await one.spent(caps[0]) == 150 and await two.spent(caps[1]) == 150


@pytest.mark.redis
async def test_redis_spend_expired_hold_frees_its_money(redis_spend_pair: tuple[RedisSpend, RedisSpend]) -> None:
    one, dying = redis_spend_pair
    held = await dying.reserve("lost", [cap(1000)], 1000)  # a replica that dies before settling
    assert isinstance(held, Hold)
    assert isinstance(await one.reserve("x", [cap(1000)], 10), Refusal)
    await anyio.sleep(0.3)  # its hold expires
    assert isinstance(await one.reserve("y", [cap(1000)], 10), Hold)


@pytest.mark.redis
async def test_redis_spend_concurrent_reservations_never_overcommit(redis_url: str) -> None:
    # holds that outlive the test: the pair fixture's 0.2 s holds could expire mid-test on a slow machine and
    # free budget for more holds (seen once under a loaded full-suite run: 18 holds of 1,000 for a 10,000 cap)
    prefix = f"test:{uuid.uuid4().hex}:"
    client, other = Redis.from_url(redis_url), Redis.from_url(redis_url)
    one, two = RedisSpend(client, prefix=prefix), RedisSpend(other, prefix=prefix)
    results: list[Hold | Refusal] = []

    async def take(store: RedisSpend, n: int) -> None:
        results.append(await store.reserve(f"c{n}", [cap(10_000)], 1000))

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(take, one if n % 2 else two, n)
    holds = [r for r in results if isinstance(r, Hold)]
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await other.aclose()
    assert sum(h.amount for h in holds) == 10_000 and len(holds) == 10
