"""The x-ratelimit-* response headers (CONTRACT §7), with durations in OpenAI's style, which is Go's
`time.Duration` format: `0s`, `20ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`."""

from __future__ import annotations

from typing import Literal

from gateway.ratelimit.gcra import Status, Verdict

Unit = Literal["requests", "tokens"]
_NAMES: dict[str, tuple[str, str, str]] = {
    unit: (f"x-ratelimit-limit-{unit}", f"x-ratelimit-remaining-{unit}", f"x-ratelimit-reset-{unit}")
    for unit in ("requests", "tokens")
}


def openai_duration(ms: int) -> str:
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def add_limit_headers(headers: dict[str, str], status: Status, unit: Unit) -> None:
    """Set the limit/remaining/reset trio for `unit`, unless an inner, more specific limit already set it."""
    limit, remaining, reset = _NAMES[unit]
    if limit in headers:
        return
    headers[limit] = str(status.limit)
    headers[remaining] = str(status.remaining)
    headers[reset] = openai_duration(status.reset_ms)


def retry_headers(verdict: Verdict) -> dict[str, str]:
    """`retry-after-ms` (the openai SDKs prefer it) and `x-should-retry: false` when waiting cannot help;
    `RateLimitError` adds `retry-after` in whole seconds."""
    headers = {"retry-after-ms": str(verdict.retry_after_ms)}
    if verdict.too_large:
        headers["x-should-retry"] = "false"
    return headers
