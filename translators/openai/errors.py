"""OpenAI error answers -> VendorError. The body is `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from translators.errors import VendorError, kind_for_status, looks_overloaded


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """`retry-after-ms`, else `retry-after` as seconds or as an HTTP date (needs `now`, unix seconds)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    if now is None:
        return None
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def parse_error(status: int, body: Any, headers: Mapping[str, str], *, now: float | None = None) -> VendorError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    message = str(error.get("message") or f"HTTP {status}")
    vendor_type = error.get("type")
    kind = kind_for_status(status)
    if kind in ("server", "rate_limit") and looks_overloaded(
        message, vendor_type if isinstance(vendor_type, str) else None
    ):
        kind = "overloaded"
    code = error.get("code")
    param = error.get("param")
    return VendorError(
        kind,
        message,
        status=status,
        param=param if isinstance(param, str) else None,
        code=code if isinstance(code, str) else None,
        retry_after_s=retry_after_seconds(headers, now=now),
    )
