"""Circuit breakers: stop sending calls to a provider (or one of its models) that keeps failing.

A breaker is `closed` (calls flow), `open` (calls are refused at once, so failover moves on without waiting
for a doomed upstream) or `half_open` (the cool-down passed: one probe call is let through; its success
closes the breaker, its failure opens it again for another cool-down). It opens after `failure_threshold`
consecutive failures, or when at least `min_calls` calls in the last `window_s` seconds failed at a ratio of
`failure_ratio` or more. The failover layer records only failures that say the upstream is broken
(connection errors, timeouts, 5xx, overloaded); a 429 asks to slow down and the caller's own 4xx say nothing.

`BreakerRegistry` keeps one breaker per provider and one per provider+model. Every failure counts against
its model; only "cannot reach the vendor" failures (connection errors, timeouts) count against the provider.
So a vendor that fails one model loses only that model, and a vendor that is unreachable loses every model
at once. The clock is injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway.types import Target

State = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
WINDOW_BUCKETS = 10  # the ratio window is counted in this many time buckets


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_threshold: int = 5  # consecutive failures that open the circuit
    cooldown_s: float = 30.0  # open -> half_open after this long
    window_s: float = 60.0  # the error-ratio window
    min_calls: int = 20  # the ratio rule needs at least this many calls in the window
    failure_ratio: float = 0.5  # ... failing at this ratio or more


class CircuitBreaker:
    """One circuit. Not thread-safe: the gateway runs one event loop per worker."""

    __slots__ = (
        "_buckets",
        "_calls_in_window",
        "_clock",
        "_config",
        "_consecutive",
        "_failures_in_window",
        "_opened_at",
        "_probe_at",
        "_state",
        "last_error",
        "last_outcome_at",
    )

    def __init__(self, config: BreakerConfig, *, clock: Clock = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._state: State = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None  # when the half-open probe was let through
        self._buckets: deque[list[int]] = deque()  # [bucket number, calls, failures], oldest first
        self._calls_in_window = 0
        self._failures_in_window = 0
        self.last_error: str | None = None
        self.last_outcome_at: float | None = None

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self._config.cooldown_s:
            self._state = "half_open"
            self._probe_at = None
        return self._state

    def retry_after_s(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it is not open)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self._config.cooldown_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go through now? In half_open this takes the one probe slot (freed by the outcome, or by
        a cool-down's time if the probe never reports back)."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        now = self._clock()
        if self._probe_at is None or now - self._probe_at >= self._config.cooldown_s:
            self._probe_at = now
            return True
        return False

    def record_success(self) -> None:
        now = self._clock()
        self.last_outcome_at = now
        self._consecutive = 0
        self._push(now, failed=False)
        if self.state != "closed":
            self._close()

    def note_failure(self, error: str | None = None) -> None:
        """Remember a failure for reports without counting it."""
        self.last_outcome_at = self._clock()
        self.last_error = error

    def record_failure(self, error: str | None = None) -> None:
        now = self._clock()
        self.last_outcome_at = now
        self.last_error = error
        self._consecutive += 1
        self._push(now, failed=True)
        state = self.state
        if state == "half_open":
            self._open(now)
        elif state == "closed" and self._should_open():
            self._open(now)

    def _should_open(self) -> bool:
        config = self._config
        if self._consecutive >= config.failure_threshold:
            return True
        calls = self._calls_in_window
        return calls >= config.min_calls and self._failures_in_window >= config.failure_ratio * calls

    def _push(self, now: float, *, failed: bool) -> None:
        """Count the call in its time bucket and drop buckets that left the window (bounded memory at any rate)."""
        bucket_s = self._config.window_s / WINDOW_BUCKETS
        bucket = int(now // bucket_s)
        buckets = self._buckets
        if not buckets or buckets[-1][0] != bucket:
            buckets.append([bucket, 0, 0])
        current = buckets[-1]
        current[1] += 1
        current[2] += failed
        self._calls_in_window += 1
        self._failures_in_window += failed
        oldest = bucket - WINDOW_BUCKETS
        while buckets[0][0] <= oldest:
            _, calls, failures = buckets.popleft()
            self._calls_in_window -= calls
            self._failures_in_window -= failures

    def _open(self, now: float) -> None:
        self._state = "open"
        self._opened_at = now
        self._probe_at = None

    def _close(self) -> None:
        self._state = "closed"
        self._consecutive = 0
        self._probe_at = None
        self._buckets.clear()
        self._calls_in_window = 0
        self._failures_in_window = 0


class BreakerRegistry:
    """Breakers per provider and per provider+model, created on first use."""

    def __init__(self, config: BreakerConfig | None = None, *, clock: Clock = time.monotonic) -> None:
        self._config = config or BreakerConfig()
        self._clock = clock
        self._providers: dict[str, CircuitBreaker] = {}
        self._models: dict[tuple[str, str], CircuitBreaker] = {}

    def provider(self, name: str) -> CircuitBreaker:
        breaker = self._providers.get(name)
        if breaker is None:
            breaker = self._providers[name] = CircuitBreaker(self._config, clock=self._clock)
        return breaker

    def model(self, target: Target) -> CircuitBreaker:
        key = (target.provider, target.model)
        breaker = self._models.get(key)
        if breaker is None:
            breaker = self._models[key] = CircuitBreaker(self._config, clock=self._clock)
        return breaker

    def allow(self, target: Target) -> bool:
        """Both the provider's and the model's circuits must let the call through."""
        model = self.model(target)
        if model.state == "open":  # checked first, so a refused call never takes the provider's probe slot
            return False
        return self.provider(target.provider).allow() and model.allow()

    def retry_after_s(self, target: Target) -> float:
        return max(self.provider(target.provider).retry_after_s(), self.model(target).retry_after_s())

    def record_success(self, target: Target) -> None:
        self.provider(target.provider).record_success()
        self.model(target).record_success()

    def record_failure(self, target: Target, error: str | None = None, *, provider_wide: bool = False) -> None:
        """A failure of this model. `provider_wide` (the vendor could not be reached) also counts against the
        provider; otherwise the provider only notes it, so one failing model never takes its siblings down."""
        provider = self.provider(target.provider)
        if provider_wide:
            provider.record_failure(error)
        else:
            provider.note_failure(error)
        self.model(target).record_failure(error)

    def states(self) -> dict[str, State]:
        """{provider: its circuit state} for every provider that has been called (for metrics and routes)."""
        return {name: self.state(name) for name in self._providers}

    def state(self, provider: str) -> State:
        """The provider's own circuit; when that is closed but every model called on it has its circuit open
        (a vendor answering 5xx to everything), the provider is reported as open too."""
        breaker = self._providers.get(provider)
        own = breaker.state if breaker is not None else "closed"
        if own != "closed":
            return own
        models = [b.state for (name, _), b in self._models.items() if name == provider]
        if models and "closed" not in models:
            return "half_open" if "half_open" in models else "open"
        return "closed"

    def model_states(self, provider: str) -> dict[str, State]:
        """{model: state} of the provider's models whose circuit is not closed."""
        result: dict[str, State] = {}
        for (name, model), breaker in self._models.items():
            if name == provider and (state := breaker.state) != "closed":
                result[model] = state
        return result

    def snapshot(self, provider: str) -> dict[str, object]:
        """The provider's circuit, its open model circuits and its last outcome (health details; no secrets)."""
        breaker = self._providers.get(provider)
        if breaker is None:
            return {"circuit": self.state(provider), "open_models": {}, "last_outcome_s_ago": None, "last_error": None}
        ago = None if breaker.last_outcome_at is None else round(self._clock() - breaker.last_outcome_at, 3)
        return {
            "circuit": self.state(provider),
            "open_models": self.model_states(provider),
            "last_outcome_s_ago": ago,
            "last_error": breaker.last_error,
        }
