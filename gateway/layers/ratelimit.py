"""RateLimit: the per-user LLM limits (CONTRACT §2, §6): LLM_RATE_LIMIT_MAX_REQUESTS calls per
LLM_RATE_LIMIT_WINDOW_MS for each user (`sub`), and the user's tokens per minute when GATEWAY_CONFIG gives one
(`[users."<sub>"] tpm`). Every call through the pipeline counts once, so a batch counts one per item.

Tokens are taken as an estimate of the prompt before the call and settled with the reported usage after it
(a cache hit or a failed call gives its estimate back). Both limits are checked together: a call takes from
both or from neither. The x-ratelimit-* headers go on the reply, or on the error raised, whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import GatewayError, RateLimitError
from gateway.ratelimit.estimate import prompt_tokens
from gateway.ratelimit.gcra import Check, Rate, Verdict
from gateway.ratelimit.headers import add_limit_headers, openai_duration, retry_headers
from gateway.ratelimit.limiter import Limiter
from gateway.ratelimit.metering import Meter
from gateway.types import ChatCall, Handler, Reply

MINUTE_MS = 60_000
CACHE_HIT = ("x-gateway-cache", "hit")


class RateLimit:
    def __init__(
        self, limiter: Limiter, *, requests: Rate | None, users: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        """`requests=None` turns the request limit off; `users` is GATEWAY_CONFIG's [users] table."""
        self._limiter = limiter
        self._requests = requests
        self._tpm = {user: Rate(t["tpm"], MINUTE_MS) for user, t in (users or {}).items() if t.get("tpm")}
        self.meter = Meter(limiter)

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        user = call.principal.user
        checks: list[Check] = []
        if self._requests is not None:
            checks.append(Check(f"{{u:{user}}}:llm", self._requests))
        tpm = self._tpm.get(user)
        tokens = Check(f"{{u:{user}}}:tpm", tpm, prompt_tokens(call)) if tpm is not None else None
        if tokens is not None:
            checks.append(tokens)
        if not checks:
            return await next(call)

        verdict = await self._limiter.check(checks)
        headers: dict[str, str] = {}
        for check, status in zip(checks, verdict.statuses, strict=True):
            add_limit_headers(headers, status, "tokens" if check is tokens else "requests")
        if not verdict.allowed:
            raise RateLimitError(
                _message(checks, verdict),
                retry_after_s=verdict.retry_after_ms / 1000,
                headers={**headers, **retry_headers(verdict)},
            )
        try:
            reply = await next(call)
        except GatewayError as exc:
            for name, value in headers.items():
                exc.headers.setdefault(name, value)
            if tokens is not None:
                await self.meter.refund((tokens,))
            raise
        for name, value in headers.items():
            reply.headers.setdefault(name, value)
        if tokens is not None:
            await self.meter.after(reply, (tokens,), free=reply.headers.get(CACHE_HIT[0]) == CACHE_HIT[1])
        return reply


def _message(checks: list[Check], verdict: Verdict) -> str:
    check = checks[verdict.denied or 0]
    wait = openai_duration(verdict.retry_after_ms)
    if check.key.endswith(":tpm"):
        if verdict.too_large:
            return (
                f"Request too large for your tokens per minute (TPM): limit {check.rate.limit}, requested about "
                f"{check.cost}. Send a smaller request."
            )
        return (
            f"Rate limit reached on tokens per minute (TPM): limit {check.rate.limit}, requested about "
            f"{check.cost}. Please try again in {wait}."
        )
    window = openai_duration(check.rate.window_ms)
    return f"Rate limit reached on LLM requests: limit {check.rate.limit} per {window}. Please try again in {wait}."
