"""Circuit breaker state machine with an injected clock: closed -> open -> half_open -> closed/open."""

from __future__ import annotations

from gateway.resilience.breaker import BreakerConfig, BreakerRegistry, CircuitBreaker
from gateway.types import Target


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CONFIG = BreakerConfig(failure_threshold=3, cooldown_s=10.0, window_s=60.0, min_calls=10, failure_ratio=0.5)


def state(breaker: CircuitBreaker) -> str:
    """The state, read through a function so that mypy does not narrow it between calls."""
    return breaker.state


def make() -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(CONFIG, clock=clock), clock


def test_breaker_starts_closed_and_allows() -> None:
    breaker, _ = make()
    assert state(breaker) == "closed"
    assert breaker.allow()


def test_breaker_opens_after_consecutive_failures() -> None:
    breaker, _ = make()
    breaker.record_failure()
    breaker.record_failure()
    assert state(breaker) == "closed"
    breaker.record_failure()
    assert state(breaker) == "open"
    assert not breaker.allow()


def test_breaker_success_resets_the_consecutive_count() -> None:
    breaker, _ = make()
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert state(breaker) == "closed"


def test_breaker_opens_on_error_ratio_over_window() -> None:
    breaker, clock = make()
    for _ in range(5):  # alternate: never 3 in a row, but half of 10 calls fail
        breaker.record_success()
        clock.now += 1
        breaker.record_failure()
        clock.now += 1
    assert state(breaker) == "open"


def test_breaker_ratio_needs_minimum_volume() -> None:
    breaker, _ = make()
    for _ in range(4):
        breaker.record_success()
        breaker.record_failure()
    assert state(breaker) == "closed"  # 8 calls < min_calls


def test_breaker_ratio_forgets_calls_outside_the_window() -> None:
    breaker, clock = make()
    for _ in range(4):
        breaker.record_failure()
        breaker.record_success()
    clock.now += 120  # those 8 calls leave the window
    for _ in range(2):
        breaker.record_failure()
        breaker.record_success()
    assert state(breaker) == "closed"  # only 4 calls in the window


def test_breaker_half_opens_after_cooldown_with_one_probe() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 9.9
    assert state(breaker) == "open"
    assert breaker.retry_after_s() > 0
    clock.now += 0.1
    assert state(breaker) == "half_open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time


def test_breaker_probe_success_closes() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) == "closed"
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) == "closed"  # counting starts afresh


def test_breaker_probe_failure_reopens_for_another_cooldown() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) == "open"
    clock.now += 9
    assert state(breaker) == "open"
    clock.now += 1
    assert state(breaker) == "half_open"


def test_breaker_lost_probe_frees_its_slot_after_a_cooldown() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()  # a probe that never reports back (its client left)
    clock.now += 10
    assert breaker.allow()


def test_registry_model_failures_do_not_open_the_provider() -> None:
    clock = Clock()
    registry = BreakerRegistry(CONFIG, clock=clock)
    bad, good = Target("openai", "gpt-4o"), Target("openai", "gpt-4o-mini")
    for _ in range(3):
        registry.record_failure(bad, "502 upstream_error")
    assert not registry.allow(bad)
    assert registry.allow(good)
    assert registry.state("openai") == "closed"
    assert registry.model_states("openai") == {"gpt-4o": "open"}


def test_registry_unreachable_vendor_opens_the_provider_for_every_model() -> None:
    registry = BreakerRegistry(CONFIG, clock=Clock())
    for _ in range(3):
        registry.record_failure(Target("openai", "gpt-4o"), "502 upstream_error", provider_wide=True)
    assert not registry.allow(Target("openai", "gpt-4o-mini"))
    assert registry.states() == {"openai": "open"}


def test_registry_reports_provider_open_when_every_called_model_is_open() -> None:
    registry = BreakerRegistry(CONFIG, clock=Clock())
    for model in ("gpt-4o", "gpt-5"):
        for _ in range(3):
            registry.record_failure(Target("openai", model))
    assert registry.state("openai") == "open"
    registry.record_success(Target("openai", "gpt-4o-mini"))
    assert registry.state("openai") == "closed"


def test_registry_snapshot_has_last_outcome_and_no_state_for_unknown() -> None:
    clock = Clock()
    registry = BreakerRegistry(CONFIG, clock=clock)
    assert registry.snapshot("google")["circuit"] == "closed"
    registry.record_failure(Target("google", "gemini-2.5-pro"), "504 upstream_timeout")
    clock.now += 2
    snap = registry.snapshot("google")
    assert snap["last_error"] == "504 upstream_timeout"
    assert snap["last_outcome_s_ago"] == 2.0
