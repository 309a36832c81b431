"""The Failover layer: retries, circuit breakers and fallback chains, as one ordered loop (STYLE §1.10).

For each target (the call's own, then its chain from `Chains`), skipped at once if its circuit is open:
call it; on a retryable `UpstreamError` (connection error, timeout, 429, 5xx, 529) wait per `RetryPolicy`
and call it again, up to the attempt limit and the total deadline; then move to the next target. A
non-retryable error of the caller's own model (400, 401, 403, 404, 422) is the answer, never retried. A
stream counts as answered only once its first content arrived (`open_committed`), so a failure before that
is invisible to the client. A reply served by a later target says so in `x-gateway-fallback: <from>`.

When everything failed: 429 if every failure was a rate limit (TensorZero's rule), else the last other
upstream error (502, 503 or 504 per CONTRACT §6); 503 when open circuits left nothing to call.
With `FAILOVER_ENABLED=false` the call goes through once and its errors reach the caller unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace

from gateway.catalog import Catalog
from gateway.errors import GatewayError, ServiceUnavailableError, UpstreamError
from gateway.resilience.backoff import Random, RetryPolicy
from gateway.resilience.breaker import BreakerConfig, BreakerRegistry
from gateway.resilience.chains import Chains
from gateway.resilience.streams import guarded, open_committed
from gateway.settings import Settings
from gateway.types import ChatCall, Handler, Reply, Target

logger = logging.getLogger(__name__)

FALLBACK_HEADER = "x-gateway-fallback"
PROVIDER_WIDE_KINDS = frozenset({"connection", "timeout"})  # the vendor itself is unreachable, not one model


class _Attempts:
    """What one call went through: the retryable failures, and the targets skipped by an open circuit."""

    __slots__ = ("failures", "skipped", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.failures: list[UpstreamError] = []
        self.skipped: list[Target] = []


class Failover:
    def __init__(
        self,
        *,
        chains: Chains,
        breakers: BreakerRegistry,
        policy: RetryPolicy,
        enabled: bool = True,
        stream_idle_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Random = random,
    ) -> None:
        self._chains = chains
        self._breakers = breakers
        self._policy = policy
        self._enabled = enabled
        self._idle_s = stream_idle_timeout_s or None
        self._clock = clock
        self._sleep = sleep
        self._rng = rng

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        if not self._enabled:
            reply = await next(call)
            if reply.stream is not None and self._idle_s is not None:
                reply.stream = guarded(reply.stream, provider=reply.target.provider, idle_s=self._idle_s)
            return reply
        if call.fallbacks:
            self._chains.check(call)
        attempts = _Attempts(self._clock())
        served = await self._serve(call, call.target, next, attempts, primary=True)
        if served is not None:
            return served
        if call.fallbacks != ():
            for target in self._chains.after(call):
                if self._clock() - attempts.started >= self._policy.deadline_s:
                    break
                served = await self._serve(call, target, next, attempts, primary=False)
                if served is not None:
                    served.headers[FALLBACK_HEADER] = call.target.provider
                    logger.info(
                        "served by a fallback",
                        extra={"from": call.target.label, "to": target.label, "failures": len(attempts.failures)},
                    )
                    return served
        raise self._final_error(call, attempts)

    async def _serve(
        self, call: ChatCall, target: Target, next: Handler, attempts: _Attempts, *, primary: bool
    ) -> Reply | None:
        """Call one target with its retries; its reply, or None to move on. A non-retryable error of the
        caller's own model propagates; the same from a fallback only rules that fallback out."""
        breakers = self._breakers
        if not breakers.allow(target):
            attempts.skipped.append(target)
            return None
        this_call = call if primary else replace(call, target=target)
        retry = 0
        while True:
            try:
                reply = await next(this_call)
                if reply.stream is not None:
                    reply.stream = await open_committed(
                        reply.stream,
                        provider=target.provider,
                        idle_s=self._idle_s,
                        on_error=lambda exc: self._after_commit(target, exc),
                    )
                breakers.record_success(target)
                return reply
            except UpstreamError as exc:
                if not exc.retryable:
                    if primary:
                        raise
                    return None
                self._record_failure(target, exc)
                attempts.failures.append(exc)
                retry_after = exc.vendor.retry_after_s if exc.vendor is not None else None
            except GatewayError:
                if primary:
                    raise
                return None  # e.g. a fallback that cannot translate this request
            retry += 1
            delay = self._policy.delay(retry, retry_after_s=retry_after, rng=self._rng)
            if delay is None or not self._policy.fits(delay, elapsed_s=self._clock() - attempts.started):
                return None
            await self._sleep(delay)
            if not breakers.allow(target):
                return None

    def _after_commit(self, target: Target, exc: UpstreamError) -> None:
        if exc.retryable:
            self._record_failure(target, exc)

    def _record_failure(self, target: Target, exc: UpstreamError) -> None:
        if exc.status == 429:  # a rate limit says "slow down", not "broken": it never opens a circuit
            return
        kind = exc.vendor.kind if exc.vendor is not None else None
        self._breakers.record_failure(target, f"{exc.status} {exc.code}", provider_wide=kind in PROVIDER_WIDE_KINDS)

    def _final_error(self, call: ChatCall, attempts: _Attempts) -> GatewayError:
        failures = attempts.failures
        if failures:
            others = [f for f in failures if f.status != 429]
            # TensorZero's rule: a 429 only when every failure was a rate limit, else the last other error
            return others[-1] if others else failures[-1]
        retry_after = max((self._breakers.retry_after_s(t) for t in attempts.skipped), default=0.0)
        names = ", ".join(t.label for t in attempts.skipped) or call.target.label
        return ServiceUnavailableError(
            f"No provider can serve '{call.target.label}' now: the circuit is open for {names}. "
            "Retry later or name other models in `fallbacks`.",
            headers={"retry-after": str(max(1, round(retry_after + 0.5)))},
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, catalog: Catalog, configured: Collection[str], breakers: BreakerRegistry
    ) -> Failover:
        """The layer as the settings describe it; `configured` is the live providers mapping."""
        return cls(
            chains=Chains(catalog, configured=configured, fallbacks=settings.config.fallbacks),
            breakers=breakers,
            policy=RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                base_delay_s=settings.retry_base_delay_ms / 1000,
                max_delay_s=settings.retry_max_delay_ms / 1000,
                deadline_s=settings.retry_deadline_s,
            ),
            enabled=settings.failover_enabled,
            stream_idle_timeout_s=settings.stream_idle_timeout_s,
        )


def breakers_from(settings: Settings) -> BreakerRegistry:
    """The circuit breakers: kept by the failover layer, read by /api/llm/providers, health and metrics."""
    return BreakerRegistry(
        BreakerConfig(failure_threshold=settings.circuit_failure_threshold, cooldown_s=settings.circuit_cooldown_s)
    )
