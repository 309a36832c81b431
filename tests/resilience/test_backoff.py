"""RetryPolicy: full-jitter exponential backoff, retry-after up to the cap, attempt and deadline bounds."""

from __future__ import annotations

import pytest

from gateway.resilience.backoff import RetryPolicy


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


POLICY = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=1.0, deadline_s=10.0)


@pytest.mark.parametrize(("retry", "ceiling"), [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8)])
def test_backoff_ceiling_doubles_per_retry(retry: int, ceiling: float) -> None:
    assert POLICY.delay(retry, rng=FixedRandom(0.999999)) == pytest.approx(ceiling, rel=1e-3)


def test_backoff_is_full_jitter_from_zero() -> None:
    assert POLICY.delay(3, rng=FixedRandom(0.0)) == 0.0
    assert POLICY.delay(3, rng=FixedRandom(0.5)) == pytest.approx(0.2)


def test_backoff_ceiling_is_capped_by_max_delay() -> None:
    policy = RetryPolicy(max_attempts=20, base_delay_s=0.1, max_delay_s=1.0)
    assert policy.delay(15, rng=FixedRandom(0.999999)) == pytest.approx(1.0, rel=1e-3)


def test_backoff_stops_after_max_attempts() -> None:
    assert POLICY.delay(4, rng=FixedRandom(0.5)) is not None
    assert POLICY.delay(5, rng=FixedRandom(0.5)) is None  # 5 attempts made: no sixth


def test_backoff_single_attempt_never_retries() -> None:
    assert RetryPolicy(max_attempts=1).delay(1, rng=FixedRandom(0.5)) is None


def test_backoff_honours_retry_after_exactly() -> None:
    assert POLICY.delay(1, retry_after_s=0.75, rng=FixedRandom(0.0)) == 0.75


def test_backoff_retry_after_beyond_cap_moves_on() -> None:
    assert POLICY.delay(1, retry_after_s=1.5, rng=FixedRandom(0.0)) is None


def test_backoff_retry_after_zero_retries_at_once() -> None:
    assert POLICY.delay(1, retry_after_s=0.0) == 0.0


def test_backoff_deadline_bounds_the_wait() -> None:
    assert POLICY.fits(0.5, elapsed_s=9.0)
    assert not POLICY.fits(1.0, elapsed_s=9.0)
    assert not POLICY.fits(0.0, elapsed_s=10.0)
