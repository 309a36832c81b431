"""ProviderQuota: keep the whole gateway under each vendor's quota instead of collecting the vendor's 429s.

GATEWAY_CONFIG's `[providers.<name>] rpm / tpm` cap requests and tokens per minute for a provider, and
`[providers.<name>.models."<model>"] rpm / tpm` for one of its models; all that apply are checked together.
It sits inside failover, last before Dispatch, so each attempt is counted against the provider it goes to.
At a cap it raises a retryable `UpstreamError` 429 (`rate_limit_exceeded`, with retry-after), which failover
treats like the vendor's own 429: wait or route elsewhere; without another route the caller gets the 429.
Tokens are estimated before the call and settled with the reported usage, as in `layers/ratelimit.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import UpstreamError
from gateway.ratelimit.estimate import prompt_tokens
from gateway.ratelimit.gcra import Check, Rate, Verdict
from gateway.ratelimit.headers import Unit, add_limit_headers, openai_duration, retry_headers
from gateway.ratelimit.limiter import Limiter
from gateway.ratelimit.metering import Meter
from gateway.types import ChatCall, Handler, Reply
from translators.errors import VendorError

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class _Caps:
    """The caps of one provider or model, with their bucket keys made once."""

    rpm: Rate | None
    tpm: Rate | None
    rpm_key: str
    tpm_key: str

    @classmethod
    def of(cls, table: Mapping[str, Any], key: str) -> _Caps | None:
        rpm, tpm = table.get("rpm"), table.get("tpm")
        if not rpm and not tpm:
            return None
        return cls(
            Rate(rpm, MINUTE_MS) if rpm else None, Rate(tpm, MINUTE_MS) if tpm else None, f"{key}:rpm", f"{key}:tpm"
        )


class ProviderQuota:
    def __init__(self, limiter: Limiter, providers: Mapping[str, Mapping[str, Any]]) -> None:
        """`providers` is GATEWAY_CONFIG's [providers] table (validated by Settings)."""
        self._limiter = limiter
        self._caps: dict[str, tuple[_Caps | None, dict[str, _Caps]]] = {}
        for name, table in providers.items():
            models = {
                model: caps
                for model, t in (table.get("models") or {}).items()
                if (caps := _Caps.of(t, f"{{p:{name}}}:m:{model}")) is not None
            }
            own = _Caps.of(table, f"{{p:{name}}}")
            if own is not None or models:
                self._caps[name] = (own, models)
        self.meter = Meter(limiter)

    async def __call__(self, call: ChatCall, next: Handler) -> Reply:
        entry = self._caps.get(call.target.provider)
        if entry is None:
            return await next(call)
        own, models = entry
        checks: list[Check] = []
        tokens: list[Check] = []
        estimate = -1
        for caps in (own, models.get(call.target.model)):
            if caps is None:
                continue
            if caps.rpm is not None:
                checks.append(Check(caps.rpm_key, caps.rpm))
            if caps.tpm is not None:
                if estimate < 0:
                    estimate = prompt_tokens(call)
                tokens.append(Check(caps.tpm_key, caps.tpm, estimate))
        checks += tokens
        if not checks:
            return await next(call)

        verdict = await self._limiter.check(checks)
        if not verdict.allowed:
            raise _quota_error(call, checks, verdict, n_requests=len(checks) - len(tokens))
        if not tokens:
            return await next(call)
        try:
            reply = await next(call)
        except Exception:
            await self.meter.refund(tokens)
            raise
        await self.meter.after(reply, tokens)
        return reply


def _quota_error(call: ChatCall, checks: list[Check], verdict: Verdict, *, n_requests: int) -> UpstreamError:
    index = verdict.denied or 0
    check = checks[index]
    unit: Unit = "requests" if index < n_requests else "tokens"
    scope = call.target.provider if ":m:" not in check.key else f"{call.target.provider}/{call.target.model}"
    what = "requests per minute (RPM)" if unit == "requests" else "tokens per minute (TPM)"
    message = (
        f"the gateway's {what} limit for {scope} is reached: limit {check.rate.limit}. "
        f"Please try again in {openai_duration(verdict.retry_after_ms)}."
    )
    vendor = VendorError(
        kind="rate_limit",
        message=message,
        status=429,
        code="rate_limit_exceeded",
        retry_after_s=verdict.retry_after_ms / 1000,
    )
    error = UpstreamError.from_vendor(call.target.provider, vendor)
    error.headers["retry-after"] = str(max(1, math.ceil(verdict.retry_after_ms / 1000)))
    error.headers.update(retry_headers(verdict))
    add_limit_headers(error.headers, verdict.statuses[index], unit)
    return error
