"""Gemini error answers -> VendorError (wire-formats §5.7, §6.10; CONTRACT §6 wins where they differ).

Body: `{"error": {"code", "message", "status", "details": [...]}}`, sometimes wrapped in a one-element array.
Quirks: an invalid API key is a 400 `INVALID_ARGUMENT` with `ErrorInfo.reason = API_KEY_INVALID` (an
authentication failure that keeps its 400, as every vendor 4xx does); a 503 that says "overloaded" is
`overloaded`; a 429's `RetryInfo.retryDelay` ("37s") is the retry delay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from translators.errors import VendorError, VendorErrorKind, kind_for_status, looks_overloaded

AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_TOO_LONG = ("exceeds the maximum number of tokens", "input token count", "context window", "too long")


def _details(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def retry_delay_s(error: Mapping[str, Any], headers: Mapping[str, str]) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` ("37s", "0.5s"), else a `retry-after` header in seconds."""
    for detail in _details(error):
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def parse_error(status: int, body: Any, headers: Mapping[str, str]) -> VendorError:
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        error = {}
    message = str(error.get("message") or f"HTTP {status}")
    vendor_status = error.get("status") if isinstance(error.get("status"), str) else None
    reasons = {str(d.get("reason")) for d in _details(error) if d.get("reason")}
    kind: VendorErrorKind = kind_for_status(status)
    code: str | None = None
    if reasons & AUTH_REASONS or vendor_status == "UNAUTHENTICATED":
        kind, code = "authentication", "invalid_api_key"
    elif status == 400 and vendor_status == "FAILED_PRECONDITION":
        code = "failed_precondition"
    elif status == 400 and any(marker in message.lower() for marker in _TOO_LONG):
        code = "context_length_exceeded"
    elif status == 404:
        code = "model_not_found" if "model" in message.lower() else None
    elif status == 504 or vendor_status == "DEADLINE_EXCEEDED":
        kind = "timeout"
    elif kind in ("server", "rate_limit") and looks_overloaded(message, vendor_status):
        kind = "overloaded"
    elif status == 429:
        code = "rate_limit_exceeded"
    return VendorError(
        kind,
        message,
        status=status,
        code=code,
        retry_after_s=retry_delay_s(error, headers) if kind in ("rate_limit", "overloaded", "server") else None,
    )
