"""Anthropic error answers -> VendorError (wire-formats §4.6, §6.10; CONTRACT §6).

The body is `{"type": "error", "error": {"type", "message"}, "request_id"}`. The HTTP status decides the kind;
the vendor's error type refines it (a 529, an `overloaded_error` or a message saying "overloaded" is
`overloaded`, whatever the status). The same classification serves `error` events that arrive mid-stream,
where the status is implied by the error type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from translators.errors import VendorError, VendorErrorKind, kind_for_status, looks_overloaded
from translators.openai.errors import retry_after_seconds

# Anthropic error type -> the HTTP status it comes with (used for errors inside a stream).
TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# OpenAI-style codes for the errors an OpenAI client may branch on.
CODES: dict[VendorErrorKind, str] = {
    "authentication": "invalid_api_key",
    "too_large": "request_too_large",
    "rate_limit": "rate_limit_exceeded",
}
CONTEXT_LENGTH_HINTS = ("prompt is too long", "context window", "context length", "too many tokens")


def parse_error(status: int, body: Any, headers: Mapping[str, str]) -> VendorError:
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail = {}
    message = detail.get("message")
    vendor_type = detail.get("type")
    return classify(
        status,
        message if isinstance(message, str) and message else f"HTTP {status}",
        vendor_type if isinstance(vendor_type, str) else None,
        retry_after_s=retry_after_seconds(headers),
    )


def stream_error(detail: Any) -> VendorError:
    """The `error` object of a mid-stream `error` event."""
    if not isinstance(detail, dict):
        detail = {}
    vendor_type = detail.get("type") if isinstance(detail.get("type"), str) else None
    message = detail.get("message") if isinstance(detail.get("message"), str) else None
    status = TYPE_STATUS.get(vendor_type or "", 500)
    return classify(status, message or "the upstream stream failed", vendor_type)


def classify(status: int, message: str, vendor_type: str | None, *, retry_after_s: float | None = None) -> VendorError:
    kind: VendorErrorKind = kind_for_status(status)
    if vendor_type == "overloaded_error" or looks_overloaded(message, vendor_type):
        kind = "overloaded"
    elif vendor_type == "timeout_error" or status == 504:
        kind = "timeout"
    code = CODES.get(kind)
    if kind == "bad_request":
        if vendor_type == "billing_error":
            code = "insufficient_quota"
        elif any(hint in message.lower() for hint in CONTEXT_LENGTH_HINTS):
            code = "context_length_exceeded"
    elif kind == "not_found" and "model" not in message.lower():
        code = "not_found"
    return VendorError(kind, message, status=status, code=code, retry_after_s=retry_after_s)
