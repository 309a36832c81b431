"""The algorithm with an injected clock: bursts at window edges, refill, exact remaining counts and resets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.ratelimit.gcra import Check, Rate, decide, decide_one, settled, status, take
from gateway.ratelimit.memory import MemoryStore

T0 = 1_700_000_000_000.0  # a realistic epoch in ms, so float precision is exercised


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def admitted(store: MemoryStore, check: Check, n: int) -> int:
    return sum(store.check_now([check]).allowed for _ in range(n))


def test_gcra_burst_admits_exactly_limit() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert admitted(store, Check("k", Rate(10, 60_000)), 25) == 10


def test_gcra_burst_of_limit_fits_for_awkward_intervals() -> None:
    # 60000 / 7 is not a whole number of ms: float error must not refuse the 7th
    for limit in (3, 7, 9, 11, 13, 997):
        store = MemoryStore(clock=Clock())
        assert admitted(store, Check("k", Rate(limit, 60_000)), limit + 5) == limit, limit


def test_gcra_no_double_burst_across_a_fixed_window_boundary() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = Check("k", Rate(10, 1000))
    clock.now = T0 + 999  # the end of a would-be fixed window [T0, T0+1000)
    assert admitted(store, check, 10) == 10
    clock.now = T0 + 1001  # just after the boundary: a fixed window would admit 10 more here
    assert admitted(store, check, 10) == 0
    clock.now = T0 + 999 + 100  # one interval after the burst: exactly one more
    assert admitted(store, check, 10) == 1


def test_gcra_refills_one_unit_per_interval() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = Check("k", Rate(4, 1000))  # one every 250 ms
    assert admitted(store, check, 4) == 4
    clock.now += 249
    assert not store.check_now([check]).allowed
    clock.now += 1
    assert store.check_now([check]).allowed
    clock.now += 1000  # a full window idle: the whole burst is back, and no more
    assert admitted(store, check, 10) == 4


def test_gcra_remaining_counts_down_exactly() -> None:
    store = MemoryStore(clock=Clock())
    check = Check("k", Rate(5, 60_000))
    seen = [store.check_now([check]).statuses[0].remaining for _ in range(6)]
    assert seen == [4, 3, 2, 1, 0, 0]


def test_gcra_reset_is_time_until_full() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = Check("k", Rate(60, 60_000))  # one per second
    assert store.check_now([check]).statuses[0].reset_ms == 1000
    store.check_now([check])
    clock.now += 500
    assert store.check_now([check]).statuses[0].reset_ms == 2500


def test_gcra_refusal_says_when_a_unit_frees() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = Check("k", Rate(2, 1000))
    admitted(store, check, 2)
    clock.now += 100
    verdict = store.check_now([check])
    assert (verdict.allowed, verdict.retry_after_ms, verdict.denied) == (False, 400, 0)
    clock.now += 400
    assert store.check_now([check]).allowed


def test_gcra_refusal_takes_nothing() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    check = Check("k", Rate(2, 1000))
    admitted(store, check, 2)
    for _ in range(50):  # hammering while refused must not push the next slot further out
        store.check_now([check])
    clock.now += 500
    assert store.check_now([check]).allowed


def test_gcra_group_is_all_or_nothing() -> None:
    store = MemoryStore(clock=Clock())
    requests = Check("r", Rate(100, 60_000))
    tokens = Check("t", Rate(1000, 60_000), cost=600)
    assert store.check_now([requests, tokens]).allowed
    verdict = store.check_now([requests, tokens])  # 600 more tokens do not fit
    assert not verdict.allowed and verdict.denied == 1
    assert verdict.statuses[0].remaining == 99  # the refused group took no request
    assert verdict.statuses[1].remaining == 400


def test_gcra_cost_above_limit_is_too_large() -> None:
    store = MemoryStore(clock=Clock())
    verdict = store.check_now([Check("t", Rate(100, 60_000), cost=101)])
    assert not verdict.allowed and verdict.too_large


def test_gcra_settle_refund_and_debt() -> None:
    rate = Rate(1000, 60_000)  # 60 ms per token
    now = T0
    ok, tat = take(None, now, rate, 500)
    assert ok and status(tat, now, rate).remaining == 500
    refunded = settled(tat, now, rate, -300)  # used 200, not 500
    assert status(refunded, now, rate).remaining == 800
    debt = settled(tat, now, rate, 900)  # used 1400 of a 1000 bucket: the next callers wait it out
    assert status(debt, now, rate).remaining == 0
    assert not take(debt, now + 24_059, rate, 1)[0]  # 84 s of debt, less the 60 s window, plus one token
    assert take(debt, now + 24_060, rate, 1)[0]


def test_gcra_settle_refund_never_overfills() -> None:
    rate = Rate(10, 1000)
    assert settled(None, T0, rate, -5) == T0
    assert status(settled(T0 + 100, T0, rate, -50), T0, rate).remaining == 10


def test_gcra_decide_reports_statuses_for_every_check() -> None:
    checks = [Check("a", Rate(3, 1000)), Check("b", Rate(5, 1000))]
    verdict, new_tats = decide([None, None], T0, checks)
    assert verdict.allowed and [s.remaining for s in verdict.statuses] == [2, 4]
    assert [s.limit for s in verdict.statuses] == [3, 5]
    assert new_tats == [T0 + 1000 / 3, T0 + 200]


def test_memory_store_sweeps_full_buckets() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    rate = Rate(10, 1000)
    for i in range(1000):
        store.check_now([Check(f"k{i}", rate)])
    clock.now += 1000  # every bucket is full again
    for i in range(1000, 1100):
        store.check_now([Check(f"k{i}", rate)])
    assert len(store) < 200


def test_memory_store_bounded_under_a_flood_of_keys() -> None:
    store = MemoryStore(clock=Clock(), max_keys=2000)
    rate = Rate(10, 60_000)
    for i in range(10_000):
        store.check_now([Check(f"ip{i}", rate)])
    assert len(store) <= 2000


def test_gcra_saturated_for_long_admits_one_per_interval() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    rate = Rate(7, 60_000)
    check = Check("k", rate)
    total = admitted(store, check, 7)
    for _ in range(5000):  # 2500 intervals, polled twice each: float drift must neither gain nor lose a slot
        clock.now += rate.interval_ms / 2
        total += admitted(store, check, 3)
    assert total == 7 + 2500


@given(
    limit=st.integers(1, 10_000),
    window_ms=st.integers(1, 86_400_000),
    cost=st.integers(1, 20_000),
    ahead_ms=st.none() | st.floats(-1e9, 2e8, allow_nan=False),
)
def test_gcra_decide_one_answers_as_decide_does(limit: int, window_ms: int, cost: int, ahead_ms: float | None) -> None:
    check = Check("k", Rate(limit, window_ms), cost)
    tat = None if ahead_ms is None else T0 + ahead_ms
    verdict, new_tats = decide([tat], T0, [check])
    assert decide_one(tat, T0, check) == (verdict, new_tats[0])
